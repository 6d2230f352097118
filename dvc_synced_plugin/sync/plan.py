"""The plan: which objects pointer changes need, and which checkout applies them.

Sets are computed from pointer *changes* so the cost follows the change: for a changed
directory only the manifest entries that differ from its previous version count. Every
flow (push, pull, status, verify, fetch) reads manifests through one `ManifestSource`.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Optional

from dvc_synced_plugin import safety
from dvc_synced_plugin.dvcfiles.objects import ManifestReader, ObjectSet, manifest_delta
from dvc_synced_plugin.dvcfiles.pointers import Out
from dvc_synced_plugin.errors import CorruptObjectError, SyncError
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.git.gitinfo import PointerChange
from dvc_synced_plugin.oids import ObjectRef
from dvc_synced_plugin.selection import EVERYTHING, Selection
from dvc_synced_plugin.storage.stores import ObjectStore
from dvc_synced_plugin.sync.transfer import download_staged
from dvc_synced_plugin.transports.base import Transport


class ManifestSource:
    """Directory manifests from the cache, then the local storage, then central.

    Local stores hold only objects verified on their way in; a manifest from central is
    staged, hash-checked here once, and its safety check (`safety.unsafe_manifest`)
    starts in the background while the flow goes on to bring the files.
    """

    def __init__(self, stores: list[ObjectStore], transport: Callable[[], Transport],
                 staging: Callable[[], Path]) -> None:
        self.stores = stores
        self.transport = transport  # opened only when a manifest must come from central
        self.staging = staging
        self.fetched: dict[str, bytes] = {}  # relpath -> verified content from central
        self.checks: dict[str, Future[Optional[str]]] = {}  # oid -> unsafe_manifest verdict
        self._checker: Optional[ThreadPoolExecutor] = None

    def read(self, ref: ObjectRef) -> Optional[bytes]:
        """The manifest from this machine (or fetched earlier), None when it is not here."""
        data = self.fetched.get(ref.relpath)
        if data is not None:
            return data
        for store in self.stores:
            data = store.read(ref)
            if data is not None:
                return data
        return None

    def fetch(self, refs: list[ObjectRef], required: bool = True,
              older: Optional[dict[ObjectRef, ObjectRef]] = None) -> list[ObjectRef]:
        """Bring these manifests from central, verified; returns those central lacks
        (an error when `required`). `older`: a previous version of each, which comes as
        a delta against it when it is here."""
        staging = self.staging()
        bases: dict[str, Path] = {}
        for ref, old in (older or {}).items():
            store = next((s for s in self.stores if s.has(old)), None)
            if store is not None and not (ref.legacy or old.legacy):
                bases[ref.relpath] = store.path(old)
        lacking = download_staged(
            self.transport(), staging, refs, "are in no cache, local storage nor central",
            ": push them from a clone that has the data (`dvc-synced push`)",
            lacking_ok=not required, bases=bases,
        )
        for ref in refs:
            if ref in lacking:
                continue
            staged = staging / ref.relpath
            data = staged.read_bytes()  # once: hashed, checked and planned from memory
            if safety.bytes_hash_problem(data, ref) is not None:
                staged.unlink()
                raise CorruptObjectError(
                    f"central's manifest {ref.relpath} of {ref.owner} is corrupt: "
                    "run `dvc-synced verify` and re-push it from a clone that has it"
                )
            self.fetched[ref.relpath] = data
            self._check_soon(ref, data)
        return lacking

    def _check_soon(self, ref: ObjectRef, data: bytes) -> None:
        """At 100,000 entries the safety check takes ~50 ms, spent while the flow waits for
        the files; the local storage takes the manifest only with its verdict. The
        content is named by its hash, so the verdict holds for the staged copy."""
        store = next((s for s in self.stores if s.record_proofs), self.stores[-1])
        if store.has_clean_base(ref):
            # Proven from the delta in ~20 ms: now, so that the older version it reads is
            # not held in memory beside the one the plan reads (80 MB each at 10^6 files).
            done: Future[Optional[str]] = Future()
            done.set_result(store.manifest_problem(ref, data))
            self.checks[ref.oid] = done
            return
        if self._checker is None:
            self._checker = ThreadPoolExecutor(max_workers=1)
        self.checks[ref.oid] = self._checker.submit(store.manifest_problem, ref, data)

    def close(self) -> None:
        if self._checker is not None:
            self._checker.shutdown(wait=True, cancel_futures=True)


def outs_of_changes(
    root: Path, changes: list[PointerChange]
) -> list[tuple[list[Out], list[Out]]]:
    """(old outs, new outs) per changed pointer file, any route (`reading.py`)."""
    # reading imports yaml (and maybe DVC): kept off the fast path of a no-op
    from dvc_synced_plugin.dvcfiles.reading import read_pointers

    return read_pointers(root, changes)


def _ref(out: Out) -> ObjectRef:
    return ObjectRef(out.oid, out.legacy, out.path)


def plan_changes(root: Path, changes: list[PointerChange], manifests: ManifestSource,
                 strict: bool = True, select: Selection = EVERYTHING,
                 stream_whole: bool = False) -> ObjectSet:
    """Objects the new side of `changes` adds over the old side, and the changed outputs
    with their manifest deltas (the checkout of just the change).

    Manifests not on this machine come from central in one batch. A manifest that is on
    no storage is an error, or with `strict` False an entry in `unknown` (for status).
    `select`: the outputs a pull or fetch brings; the others land in `excluded` and
    nothing of theirs is planned (a push plans every output: `select` is not its).
    `stream_whole`: a directory with no older version here to diff against goes to
    `whole`, its entries unread (fetch streams them; it checks nothing out).
    """
    objs = ObjectSet()
    pending: list[tuple[Optional[Out], Out]] = []
    for change, (old_outs, new_outs) in zip(changes, outs_of_changes(root, changes)):
        old_by_key = {o.key: o for o in old_outs}
        # Data the old side had here: not an excluded output's, which never came.
        old_oids = {o.oid for o in old_outs if not select.active or select.selects(o.path)}
        # An output is unchanged when the old side has it at the same path with the same
        # content and mode (a renamed stage keeps its data where it is). One that moved
        # to a new path, or only changed its x bit, needs the workspace updated but no
        # object the old side lacks: it is a change without objects.
        old_at = {(o.path, o.oid, o.isexec) for o in old_outs}
        for out in new_outs:
            if (out.path, out.oid, out.isexec) in old_at:
                continue
            if select.active:
                if not select.selects(out.path):
                    objs.excluded.append(out.path)
                    continue
                # A stage's target checks out all of its outputs, the excluded too: the
                # output's own path checks out just it. Every target a path then: DVC
                # 3.67's shortcut for several targets (index_from_targets) reads pointer
                # files and stages only, and silently drops a path that follows one.
                out = dataclasses.replace(out, target=out.path)
            objs.targets.add(out.target)
            if out.route:  # DVC moves its data (an own remote, an import): not central's
                objs.routed.append((change.commit, out))
                continue
            previous = old_by_key.get(out.key)
            objs.changed.append((previous, out))
            if out.oid in old_oids:
                continue
            objs.add(_ref(out))
            if out.is_dir and not _expand_dir(objs, out, previous, manifests.read,
                                              stream_whole):
                pending.append((previous, out))
    if not pending:
        return objs
    lacking = manifests.fetch([_ref(out) for _, out in pending], required=strict, older={
        _ref(out): _ref(previous) for previous, out in pending
        if previous is not None and previous.is_dir and previous.oid != out.oid})
    for previous, out in pending:
        if _ref(out) in lacking:
            objs.unknown.append(out.path)
        elif not _expand_dir(objs, out, previous, manifests.read, stream_whole):
            raise SyncError(
                f"the manifest of {out.path} ({out.oid}) is on no storage: "
                "whoever committed it must `git push` again with dvc-synced installed"
            )
    return objs


def _expand_dir(objs: ObjectSet, out: Out, previous: Optional[Out],
                read: ManifestReader, stream_whole: bool = False) -> bool:
    """Add the entries of `out`'s manifest that `previous`'s does not have as they are
    (all of them without `previous`, or into `objs.whole` with `stream_whole`).

    A pull of a 10-file change to a 100,000-file directory must not list 100,000 objects.
    """
    ref = _ref(out)
    base = _ref(previous) if previous is not None and previous.is_dir else None
    if base is not None:
        safety.note_base(ref.oid, base.oid)  # its safety check may then look at the delta
    data = read(ref)
    if data is None:
        return False
    old = read(base) if base is not None else None
    if old is None and stream_whole:
        objs.whole.append(ref)
        return True
    delta = manifest_delta(old, data, ref.legacy, ref.owner)
    objs.deltas[(base.oid if old is not None and base is not None else "", ref.oid)] = delta
    for rel, md5 in delta.after.items():
        safety.check_entry(rel, md5, ref.owner)
        objs.add(ObjectRef(md5, ref.legacy, f"{ref.owner}/{rel}"))
    return True


# ---------------------------------------------------------------------------- workspace


def _within(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip(os.sep) + os.sep)


def refuse_escaping_outputs(root: Path, changes: list[PointerChange]) -> None:
    """Check out nothing that resolves outside the workspace or into .git.

    `dvc checkout` writes through symlinks (checked): a committed symlink `out -> ~` and a
    pointer to `out/.bashrc` write into a teammate's home on `git pull`; `h -> .git/hooks`
    plants a git hook. git itself never writes through a symlink, and the hooks run the
    checkout for the user, so they check first. A symlink committed inside a directory
    output is refused as well: DVC would write that directory's files through it.
    """
    top = os.path.realpath(root)
    git_dir = os.path.realpath(gitinfo.git_dir(root))
    dirs: list[str] = []
    for _old, outs in outs_of_changes(root, changes):
        for out in outs:
            real = os.path.realpath(os.path.join(top, out.path))
            if not _within(real, top) or _within(real, git_dir):
                raise SyncError(
                    f"{out.pointer}: the output {out.path!r} resolves to {real}, outside "
                    "the workspace or inside .git: nothing was checked out; fix the "
                    "pointer file or the symlink on its way"
                )
            if out.is_dir:
                dirs.append(out.path)
    if dirs:
        listed = gitinfo.git(root, "--literal-pathspecs", "ls-files", "-s", "-z", "--", *dirs)
        for entry in listed.split(b"\0"):
            if entry.startswith(b"120000 "):
                path = entry.split(b"\t", 1)[-1].decode(errors="replace")
                raise SyncError(
                    f"{path} is a symlink committed inside a directory output: DVC would "
                    "write the directory's files through it, so nothing was checked out; "
                    "remove it from git"
                )
