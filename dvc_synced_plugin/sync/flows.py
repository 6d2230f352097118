"""The flows: push (cache -> local storage -> central) and pull (central -> local storage
-> cache -> workspace), as straight-line code over a plan.

A flow opens a `Session` (the stores, the transport, the manifest source), plans the
pointer changes (`plan.plan_changes`), then moves the objects through the transfer
queue. Nothing here knows which transport it talks to: it asks its capabilities.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Optional

from dvc_synced_plugin import faults, output
from dvc_synced_plugin.dvcfiles import dvcrepo, reading
from dvc_synced_plugin.dvcfiles.objects import ObjectSet
from dvc_synced_plugin.dvcfiles.pointers import Out
from dvc_synced_plugin.errors import CorruptObjectError, MissingObjectsError, SyncError
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.oids import ObjectRef, object_path
from dvc_synced_plugin.selection import EVERYTHING, Selection
from dvc_synced_plugin.settings import Settings
from dvc_synced_plugin.storage.lock import storage_lock, workspace_lock
from dvc_synced_plugin.storage.state import read_state, write_selection
from dvc_synced_plugin.storage.stores import (
    ObjectStore,
    copy_objects,
    iter_copies,
    iter_verified,
    remove_tree,
)
from dvc_synced_plugin.sync.plan import (
    ManifestSource,
    plan_changes,
    refuse_escaping_outputs,
)
from dvc_synced_plugin.sync.transfer import (
    UploadQueue,
    describe_missing,
    download_staged,
    upload_manifests,
)
from dvc_synced_plugin.transports import Transport, open_transport
from dvc_synced_plugin.workspace import checkout as workspace

Checkout = Literal["none", "changes", "all"]


@dataclass
class Report:
    """What one push or pull did, for the one-line summary and for --json."""

    needed: int = 0  # objects the change involves
    moved: int = 0  # objects that crossed to or from central
    moved_bytes: int = 0
    skipped: int = 0  # objects the receiving side had already
    seconds: float = 0.0
    retries: int = 0  # connection attempts repeated after a transient failure
    checkout_failed: list[str] = field(default_factory=list)
    # Outputs left as they were because central lacks their data: one line each, naming
    # the commit and who must push (`blame`).
    incomplete: list[str] = field(default_factory=list)
    unsaved: list[str] = field(default_factory=list)  # files with changes DVC does not have
    excluded: list[str] = field(default_factory=list)  # changed outputs the patterns leave out
    kept: list[str] = field(default_factory=list)  # outputs HEAD dropped, kept: unsaved edits

    def line(self, verb: str, where: str) -> str:
        return output.summary(verb, where, self.moved, self.moved_bytes, self.skipped,
                              self.seconds, self.retries)

    def add(self, other: Report) -> None:
        self.needed += other.needed
        self.moved += other.moved
        self.moved_bytes += other.moved_bytes
        self.skipped += other.skipped
        self.seconds += other.seconds
        self.retries += other.retries


class Session:
    """The stores, transport and manifest source of one command, each opened once.

    `writes`: the command may set up the local storage (a push or pull does; status and
    verify only read, so they never write `.dvc/config.local`). `staging`: where objects
    from central wait for verification; by default the local storage's own, which only a
    holder of the storage lock may use.
    """

    def __init__(self, settings: Settings, writes: bool = True,
                 staging: Optional[Path] = None) -> None:
        self.settings = settings
        self.root = settings.root
        dvcrepo.require_dvc_repo(self.root)
        self.cache = ObjectStore(dvcrepo.cache_dir(self.root), "DVC cache")
        local = dvcrepo.local_storage(settings) if writes else dvcrepo.local_storage_path(
            settings)
        self.local = ObjectStore(local, "local storage", record_proofs=writes)
        self._staging = staging
        self._transport: Optional[Transport] = None
        self.manifests = ManifestSource([self.cache, self.local], lambda: self.transport,
                                        self.staging)

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = open_transport(self.settings)
        return self._transport

    @property
    def retries(self) -> int:
        """Connection retries so far (none when central was never contacted)."""
        return self._transport.retries if self._transport is not None else 0

    def staging(self) -> Path:
        if self._staging is None:
            self._staging = self.local.work_dir("incoming")
        return self._staging

    @contextlib.contextmanager
    def lock(self):  # type: ignore[no-untyped-def]
        """The storage lock; what a killed run left half-written in either store goes
        first (every writer of objects holds this lock, so nothing there is live)."""
        with storage_lock(self.local.root, max(300, self.settings.timeout)):
            self.local.sweep()
            self.cache.sweep()
            yield

    def plan(self, changes: list[gitinfo.PointerChange], strict: bool = True,
             select: Selection = EVERYTHING, stream_whole: bool = False) -> ObjectSet:
        return plan_changes(self.root, changes, self.manifests, strict, select, stream_whole)

    def close(self) -> None:
        self.manifests.close()
        if self._transport is not None:
            self._transport.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------- push


def push_objects(session: Session, objs: ObjectSet, report: Report) -> None:
    """Make central hold every object in `objs`, complete; raise when it cannot.

    Two ways, same rules (no .dir before its files, nothing replaced on central, no
    truncated copy there taken for the object):
    - probe first: ask central what it has, refuse, then send what it lacks. Taken when
      the transport cannot say what an upload skipped, or when central likely holds
      some of the objects: ones this clone lacks (a push must refuse before anything
      moves) or ones already in the local storage (pulled, or pushed by a cut run).
    - upload first (a new change, all objects only in the cache): the files go up with
      nothing replaced, the transport names those central had, and only those are
      size-checked, with the manifests, before the manifests go up. Over ssh that is
      one session less: files then manifests, plus a probe only when something was
      there. A truncated copy is then refused after the other files went up; no
      manifest is sent, so central claims nothing it does not hold.
    """
    refs = objs.all()
    report.needed = len(refs)
    if not refs:
        return
    cache, local = session.cache, session.local
    local_missing = local.missing(refs)
    in_cache = [r for r in local_missing if cache.has(r)]
    nowhere = [r for r in local_missing if not cache.has(r)]
    in_local = set(refs).difference(local_missing)
    transport = session.transport
    if nowhere or in_local or not transport.reports_existing():
        central = transport.probe([r.relpath for r in refs])
        _refuse_non_files(transport, refs)
    else:
        central = None  # not asked yet: the upload tells
    lost = [r for r in nowhere if central is not None and r.relpath not in central]
    if lost:
        raise MissingObjectsError(
            describe_missing(lost, "are missing from the DVC cache and from central") +
            ": run `dvc commit` (or `dvc add`) for them, or push from the clone that made them"
        )
    # Only now that central answered and nothing is lost: a refused push changes nothing.
    unstored = set(nowhere)

    def size(ref: ObjectRef) -> int:
        return (local if ref in in_local else cache).size(ref)

    if central is not None:
        _refuse_bad_copies(transport, refs, central, unstored, size)
    todo = [r for r in refs if central is None or r.relpath not in central]
    send = {r for r in todo if not r.is_dir}
    # What central lacks is copied first, small files first: uploads start meanwhile.
    order = sorted(in_cache, key=lambda r: (r not in send, cache.size(r)))
    uploads = UploadQueue(transport, local.root, sum(size(r) for r in send))
    try:
        # Read out of a shared store: hashed before central gets them (cache.type hardlink).
        # Each goes to the queue once hashed, while later ones are hashed: the second push
        # of a bulk (another central, a retry) no longer hashes it all before sending any.
        for ref in iter_verified(local, [r for r in todo if r in in_local],
                                 session.settings.jobs):
            if ref in send:
                uploads.ready(ref, local.size(ref))
        for ref, _ in iter_copies(cache, local, order, session.settings.jobs,
                                  verify=True, share=True):
            if ref in send:
                uploads.ready(ref, local.size(ref))
    except BaseException:
        uploads.abort()
        raise
    manifests = [r for r in todo if r.is_dir]
    stage = getattr(transport, "stage_ahead", None)
    if stage is not None and manifests:
        stage([r.relpath for r in manifests])  # every one is in the local storage now
    had = uploads.finish()
    bases = manifest_bases(objs)
    if central is None:
        # Upload first: what central had is checked before any manifest goes up.
        if had is None:  # an upload could not tell after all: any file may have been there
            had = {r.relpath for r in send}
        found = [r for r in refs if r.relpath in had]
        if found:
            central = transport.probe([r.relpath for r in found + manifests])
            _refuse_bad_copies(transport, refs, central, unstored, size, expected=found)
            manifests = [r for r in manifests if r.relpath not in central]
        # File objects first: a .dir on a DVC remote makes DVC assume its files are there.
        late = upload_manifests(transport, local.root, manifests, bases)
        if late is None:
            late = {r.relpath for r in manifests}
        if late:  # a teammate pushed the same manifest meanwhile: check it
            late_refs = [r for r in manifests if r.relpath in late]
            _refuse_bad_copies(transport, refs, transport.probe(sorted(late)), unstored, size,
                               expected=late_refs)
        skipped = {r.relpath for r in found} | late
        skipped |= {r.relpath for r in todo if r.is_dir and r not in manifests}
        todo = [r for r in todo if r.relpath not in skipped]
    else:
        # The probe saw no regular file at these paths, yet `--ignore-existing` skips a
        # name that holds anything (a directory, a dangling symlink) without a word, and
        # a transport's exit status vouches only for what it sent. So what an upload did
        # not send is checked, before any manifest goes up: none in the usual case (no
        # round trip), a probe when something was in the way or arrived meanwhile. Where
        # the upload cannot tell (old rsyncs), every file is checked: one round trip more.
        skipped: set[str] = set()
        if transport.capabilities.confirms_on_exit:
            files = [r for r in todo if not r.is_dir]
            unsure = files if had is None else [r for r in files if r.relpath in had]
            if unsure:
                seen = transport.probe([r.relpath for r in unsure + manifests])
                _refuse_non_files(transport, manifests)
                _refuse_bad_copies(transport, refs, seen, unstored, size, expected=unsure)
                skipped |= {r.relpath for r in unsure} & (had or set())
        # File objects first: a .dir on a DVC remote makes DVC assume its files are there.
        late = upload_manifests(transport, local.root, manifests, bases)
        if late and transport.capabilities.confirms_on_exit:
            late_refs = [r for r in manifests if r.relpath in late]
            _refuse_bad_copies(transport, refs, transport.probe(sorted(late)), unstored, size,
                               expected=late_refs)
            skipped |= late
        todo = [r for r in todo if r.relpath not in skipped]
    report.skipped = len(refs) - len(todo)
    short: list[ObjectRef] = []
    if not transport.capabilities.confirms_on_exit:
        after = transport.probe([r.relpath for r in todo])
        _refuse_non_files(transport, todo)
        short = [r for r in todo if after.get(r.relpath) != local.size(r)]
    if short:
        raise MissingObjectsError(
            describe_missing(short, "did not arrive complete on central") +
            ": run the push again"
        )
    report.moved = len(todo)
    report.moved_bytes = sum(local.size(r) for r in todo)


def manifest_bases(objs: ObjectSet) -> dict[str, str]:
    """New manifest relpath -> its output's previous manifest, which central likely holds
    (the parent commit was pushed): the basis a delta upload sends against."""
    bases: dict[str, str] = {}
    for old, new in objs.changed:
        if (old is not None and old.is_dir and new.is_dir and old.oid != new.oid
                and not (old.legacy or new.legacy)):
            bases[object_path(new.oid, False)] = object_path(old.oid, False)
    return bases


def _refuse_non_files(transport: Transport, refs: list[ObjectRef]) -> None:
    """Refuse a push onto a directory or symlink where an object belongs on central: it is
    no object (DVC would read no data there), and nothing on central is ever replaced."""
    odd = [r for r in refs if r.relpath in transport.not_files]
    if odd:
        raise CorruptObjectError(_non_file_line(transport, odd))


def _non_file_line(transport: Transport, odd: list[ObjectRef]) -> str:
    ref = odd[0]
    what = transport.not_files.get(ref.relpath, "no regular file")
    more = f" (and {len(odd) - 1} more object path(s))" if len(odd) > 1 else ""
    return (f"central holds {what} at {ref.relpath}{more}, where the object of {ref.owner} "
            f"belongs ({transport.description}): dvc-synced never removes anything on "
            "central; ask the storage's admin to remove it, then push again")


def _refuse_bad_copies(transport: Transport, refs: list[ObjectRef], central: dict[str, int],
                       unstored: set[ObjectRef], size: Callable[[ObjectRef], int],
                       expected: Optional[list[ObjectRef]] = None) -> None:
    """Refuse a push onto copies on central of the wrong size (a cut seed upload), or
    onto something that is no regular file.

    `expected`: objects an upload skipped because central had something under their
    name; one the listing does not show as a regular file is no object.
    """
    odd = [r for r in expected or [] if r.relpath not in central]
    if odd:
        raise CorruptObjectError(_non_file_line(transport, odd))
    bad = [r for r in refs
           if r.relpath in central and r not in unstored and central[r.relpath] != size(r)]
    if bad:
        raise CorruptObjectError(
            describe_missing(bad, "have the wrong size on central") +
            ": run `dvc-synced verify` and ask the storage's admin to remove the bad copies"
        )


def push_changes(settings: Settings, changes: list[gitinfo.PointerChange]) -> Report:
    start = time.monotonic()
    report = Report()
    with Session(settings) as session, session.lock():
        objs = session.plan(changes)
        push_objects(session, objs, report)
        report.retries = session.retries
    if objs.routed:  # outputs with their own `remote:`: DVC sends them there, confirmed
        report.moved += dvcrepo.push_routed(settings.root, [o for _, o in objs.routed],
                                            settings.jobs)
    report.seconds = time.monotonic() - start
    return report


def push_revisions(settings: Settings, revs: Iterable[str]) -> Report:
    """Everything the revisions need, on central (the manual `dvc-synced push`)."""
    changes: list[gitinfo.PointerChange] = []
    for sha in [gitinfo.rev_parse(settings.root, r) for r in revs]:
        changes += gitinfo.changes_between(settings.root, None, sha)
    return push_changes(settings, changes)


# ---------------------------------------------------------------------------- pull


def fetch_into_local(session: Session, refs: list[ObjectRef]) -> tuple[int, int]:
    """Download objects the local storage lacks; verify each before it gets its name."""
    moved, size, _ = fetch_available(session, refs, lacking_ok=False)
    return moved, size


def fetch_available(session: Session, refs: list[ObjectRef], lacking_ok: bool = True,
                    objs: Optional[ObjectSet] = None
                    ) -> tuple[int, int, list[ObjectRef]]:
    """`fetch_into_local` of what central holds: returns (count, bytes, refs central
    lacks). The manifest of an output with a file central lacks is not taken in: a
    `.dir` in a DVC remote makes DVC take all of its files for present."""
    if not refs:
        return 0, 0, []
    staging = session.staging()
    moved = size = 0
    lacking: list[ObjectRef] = []
    for batch in ([r for r in refs if not r.is_dir], [r for r in refs if r.is_dir]):
        if batch and batch[0].is_dir and lacking and objs is not None:
            held = {out.oid for out in incomplete_outputs(objs, lacking)}
            batch = [r for r in batch if r.oid not in held]
        if not batch:
            continue
        lacking += download_staged(
            session.transport, staging, batch, "are not on central",
            ": whoever committed them must push again (`dvc-synced push`)",
            lacking_ok=lacking_ok,
        )
        faults.point("download")
        for ref in batch:
            staged = staging / ref.relpath
            if not staged.is_file():
                continue  # central lacks it (`lacking`)
            size += staged.stat().st_size
            moved += session.local.adopt(staged, ref, session.manifests.checks.get(ref.oid))
    return moved, size, lacking


def incomplete_outputs(objs: ObjectSet, lacking: Iterable[ObjectRef]) -> list[Out]:
    """The changed outputs that need one of `lacking`, or whose manifest is nowhere."""
    gone = {r.relpath for r in lacking}
    if not gone and not objs.unknown:
        return []  # the usual pull: no manifest entries gathered (10^6 at the huge tier)
    found: list[Out] = []
    for _, out in objs.changed:
        ref = ObjectRef(out.oid, out.legacy, out.path)
        needs = {ref.relpath}
        prefix = "" if out.legacy else "files/md5/"
        for (_, new), delta in objs.deltas.items():
            if new == out.oid:
                needs.update(f"{prefix}{md5[:2]}/{md5[2:]}" for md5 in delta.after.values())
        if out.path in objs.unknown or needs & gone:
            found.append(out)
    return found


def _revision(commit: Optional[str]) -> str:
    """A change's commit as a revision `git log` takes (the index's changes: HEAD)."""
    return commit if commit and commit != gitinfo.INDEX else "HEAD"


def blame(root: Path, rev: str, out: Out) -> str:
    """Who must push an output's data: the commit that recorded this version of it (the
    newest that changed its hash in the pointer file) and its author."""
    oid = out.oid.removesuffix(".dir")
    line = gitinfo.git(root, "log", "-1", "--format=%h %an <%ae>", f"-S{oid}", rev, "--",
                       out.pointer, check=False).decode(errors="replace").strip()
    if not line:
        return f"{out.path} is not on central: whoever committed it must push its data"
    commit, _, author = line.partition(" ")
    return (f"{out.path} is not on central: committed in {commit} by {author}, who must "
            "push its data (`dvc-synced push`, or `git push` with the hooks installed)")


def pull_objects(session: Session, objs: ObjectSet, report: Report,
                 partial: bool = False) -> list[ObjectRef]:
    """Bring every object in `objs` into the DVC cache, via the local storage.

    `partial`: what central lacks is returned instead of refused (as `dvc pull` checks
    out what it can); those objects and the manifests of their outputs stay out."""
    refs = objs.all()
    report.needed = len(refs)
    cache_missing = session.cache.missing(refs)
    to_fetch = session.local.missing(cache_missing)
    lacking: list[ObjectRef] = []
    if to_fetch:
        report.moved, report.moved_bytes, lacking = fetch_available(
            session, to_fetch, lacking_ok=partial, objs=objs)
    report.skipped = len(refs) - len(to_fetch)
    if lacking or objs.unknown:
        held = {o.oid for o in incomplete_outputs(objs, lacking)}
        gone = {r.relpath for r in lacking}
        cache_missing = [r for r in cache_missing if r.relpath not in gone
                         and not (r.is_dir and r.oid in held)]
    # Shared where that is safe (a reflink; a hard link of an inode no other clone's cache
    # has), copied otherwise, and verified: the local storage is filled by every clone of
    # this user, and one with a link cache type may have written an object in place. An
    # inode shared by two clones' caches would carry one clone's in-place write into the
    # other's checkouts; hashing on the way in catches what is already written.
    copy_objects(session.local, session.cache, cache_missing, session.settings.jobs,
                 verify=True, share=True, link_shared=False)
    return lacking


def hold_back(objs: ObjectSet, incomplete: list[Out]) -> set[str]:
    """Take the targets of incomplete outputs out of the checkout; returns them. A
    target (a .dvc file, a stage) is checked out whole or not at all."""
    held = {out.target for out in incomplete}
    objs.changed = [(old, new) for old, new in objs.changed if new.target not in held]
    objs.targets -= held
    return held


def pull_changes(settings: Settings, changes: list[gitinfo.PointerChange],
                 checkout: Checkout = "changes", select: Optional[Selection] = None) -> Report:
    """Fetch what `changes` add, then check out the outputs involved (`checkout`
    "changes"), every output (`"all"`, for a workspace in no known state), or none.

    `select`: the outputs to bring (default: the fetch patterns). The others stay as
    `dvc pull` of the selected targets leaves them: absent, or whatever version is there.
    """
    start = time.monotonic()
    report = Report()
    held: set[str] = set()
    select = settings.selection if select is None else select
    with Session(settings) as session, session.lock():
        # Not strict: a manifest on no storage makes its output incomplete, not the pull.
        objs = session.plan(changes, strict=False, select=select)
        report.excluded = sorted(set(objs.excluded))
        lacking = pull_objects(session, objs, report, partial=True)
        report.retries = session.retries
        incomplete = incomplete_outputs(objs, lacking)
        if incomplete:
            commits = {c.path: c.commit for c in changes if c.new_blob}
            report.incomplete = [blame(settings.root, _revision(commits.get(out.pointer)), out)
                                 for out in incomplete]
            held = hold_back(objs, incomplete)
        with contextlib.suppress(OSError):
            remove_tree(session.staging())
    # Outputs DVC routes itself (own remote, imports) come through DVC, into the cache.
    routed = dvcrepo.fetch_routed(settings.root, [o for _, o in objs.routed],
                                  workspace=checkout != "none",
                                  jobs=settings.jobs) if objs.routed else []
    stale = stale_outputs(settings.root, changes) if checkout != "none" else []
    if checkout == "all" or (checkout == "changes" and (objs.targets or stale)):
        refuse_escaping_outputs(settings.root, changes)
        timeout = max(300, settings.timeout)
        git_dir = gitinfo.git_dir(settings.root)
        with workspace_lock(git_dir, timeout):
            workspace.recover(settings.root, git_dir)  # what a killed update left
            faults.point("workspace")
            record = workspace.record_file(git_dir)
            report.kept = remove_stale_outputs(settings.root, session, stale, record)
            if checkout == "all":
                # Held back and excluded outputs keep what they have: every other output
                # of the revision is a target of the plan (its changes start from nothing).
                targets = sorted(objs.targets) if held or select.active else None
            else:
                targets = sorted(update_workspace(settings.root, session.cache, objs, record,
                                                  report) | set(routed))
            if targets is None or targets:
                # DVC's own temporaries (`.<22 chars>.tmp` beside each file it writes)
                # survive a SIGKILL too, and make its next checkout refuse: name where.
                with workspace.dvc_journal(git_dir, [
                        new.path for _, new in objs.changed
                        if targets is None or new.target in targets]):
                    report.checkout_failed = dvcrepo.checkout(settings.root, targets)
                if not report.checkout_failed:
                    workspace.record_checked_out(settings.root, record, [
                        new for _, new in objs.changed
                        if targets is None or new.target in targets])
            settle_exec_bits(settings.root, session.cache, changes, objs)
    if checkout == "all" and not select.only and not report.checkout_failed:
        # The workspace now follows these patterns: a sync under others starts afresh.
        write_selection(settings.root, select.fingerprint)
    report.seconds = time.monotonic() - start
    return report


def pull_outputs(settings: Settings, paths: list[str]) -> Report:
    """`dvc-synced pull PATH...`: the named outputs of HEAD, whatever the patterns say."""
    root = settings.root
    changes = gitinfo.changes_between(root, None, gitinfo.rev_parse(root, "HEAD"))
    outs = [o for _, new in reading.read_pointers(root, changes) for o in new]
    return pull_changes(settings, changes, checkout="all",
                        select=Selection.of_paths(named_outputs(outs, paths)))


def named_outputs(outs: list[Out], paths: list[str]) -> set[str]:
    """The output paths `paths` name: an output, its pointer file, or a directory holding
    outputs (relative to the root). A path inside an output or naming none is an error."""
    chosen: set[str] = set()
    for path in paths:
        path = path.rstrip("/") or "."
        found = {o.path for o in outs if o.pointer == path or _within_or_eq(o.path, path)}
        if not found:
            inside = next((o.path for o in outs if _within_or_eq(path, o.path)), None)
            if inside:
                raise SyncError(f"{path} is inside the output {inside}: dvc-synced pulls "
                                f"whole outputs: run `dvc-synced pull {inside}`")
            raise SyncError(f"{path} is no DVC output of HEAD: name an output, its .dvc "
                            "file or a directory holding outputs (`dvc list . --dvc-only`)")
        chosen |= found
    return chosen


def _within_or_eq(path: str, base: str) -> bool:
    return base in ("", ".") or path == base or path.startswith(base.rstrip("/") + "/")


def stale_outputs(root: Path, changes: list[gitinfo.PointerChange]) -> list[Out]:
    """Outputs the changes move away or untrack; never a path git tracks (an output that
    became `cache: false` and was committed) or one the new pointers still record."""
    # reading imports yaml (and maybe DVC): kept off the fast path of a no-op
    from dvc_synced_plugin.dvcfiles.reading import read_changes

    readings = read_changes(root, changes)
    # `push: false` outputs too: bob has one only from running the stage himself, and a
    # fresh clone has none once HEAD drops it.
    pairs = [([*old.outs, *old.unpushed], list(new.outs)) for old, new in readings]
    if not any(old for old, _ in pairs):
        return []
    # Every output the new sides declare, cached or not, where DVC puts it (wdir).
    recorded = {p for _, new in readings for p in new.paths}
    stale = workspace.removed_outputs(pairs, recorded)
    if stale:
        listed = gitinfo.git(root, "--literal-pathspecs", "ls-files", "-z", "--",
                             *[o.path for o in stale])
        tracked = {p.decode(errors="surrogateescape") for p in listed.split(b"\0") if p}
        # A directory git tracks files in stays a candidate: DVC's files in it leave
        # (a fresh clone has only git's), git's are never touched (remove_stale_outputs).
        stale = [o for o in stale if o.path not in tracked
                 and (o.is_dir or not any(t.startswith(o.path + "/") for t in tracked))]
    return stale


def remove_stale_outputs(root: Path, session: Session, stale: list[Out],
                         record: workspace.DirRecord) -> list[str]:
    """Plain `dvc pull` removes outputs HEAD no longer has; so do we, unless changed
    (returns those kept: DVC refuses there, so the caller says so in one line)."""
    if not stale:
        return []
    listed = gitinfo.git(root, "--literal-pathspecs", "ls-files", "-z", "--",
                         *[o.path for o in stale if o.is_dir]) if any(
                             o.is_dir for o in stale) else b""
    in_git: dict[str, set[str]] = {}
    for name in (p.decode(errors="surrogateescape") for p in listed.split(b"\0") if p):
        for out in stale:
            if name.startswith(out.path + "/"):
                in_git.setdefault(out.path, set()).add(name[len(out.path) + 1:])
    return workspace.remove_stale(root, session.cache, stale, session.manifests.read, record,
                                  in_git)


def kept_line(kept: list[str]) -> str:
    """One line for outputs HEAD dropped that hold unsaved edits, naming both ways out."""
    shown = " ".join(kept[:5]) + (" ..." if len(kept) > 5 else "")
    return (f"kept {shown}: no longer tracked by DVC, with changes DVC does not have; "
            f"keep it: `dvc add {kept[0]}` and commit; drop it: `rm -r {kept[0]}`")


def settle_exec_bits(root: Path, cache: ObjectStore, changes: list[gitinfo.PointerChange],
                     objs: ObjectSet) -> None:
    """With a link cache type, the objects of the outputs `changes` touched keep the x
    bit only where an `isexec` output of HEAD has them, as a fresh `dvc pull` leaves
    them (`workspace.settle_exec`). Copies carry their own mode: nothing to do."""
    if not {"hardlink", "symlink"} & set(dvcrepo.cache_types(root)):
        return
    # reading imports yaml (and maybe DVC): kept off the fast path of a no-op
    from dvc_synced_plugin.dvcfiles.reading import read_changes

    def file_outs(readings: list) -> list[Out]:
        return [o for pair in readings for side in pair for o in (*side.outs, *side.unpushed)
                if not o.is_dir and not o.legacy]

    readings = read_changes(root, changes)
    candidates = {o.oid for o in file_outs(readings)}
    for delta in objs.deltas.values():  # directory entries this update linked
        candidates.update(md5 for rel, md5 in delta.after.items()
                          if isinstance(md5, str) and delta.before.get(rel) != md5)
    here = {o.oid for _, new in readings for o in (*new.outs, *new.unpushed) if o.isexec}

    def executable() -> set[str]:
        try:
            every = read_changes(root, gitinfo.changes_between(
                root, None, gitinfo.rev_parse(root, "HEAD")))
        except SyncError:
            return candidates  # HEAD unreadable: take nothing off
        return here | {o.oid for _, new in every for o in (*new.outs, *new.unpushed)
                       if o.isexec}

    workspace.settle_exec(cache, sorted(candidates), executable)


def update_workspace(root: Path, cache: ObjectStore, objs: ObjectSet,
                     record: Optional[workspace.DirRecord] = None,
                     report: Optional[Report] = None) -> set[str]:
    """Check out the changed entries ourselves; returns the targets left for `dvc checkout`.

    `dvc checkout` of a target scans every file of its directories; our update touches
    only what the manifests say changed. On an unexpected error DVC gets every target:
    it finishes a partial update as it would any other workspace state.
    """
    journal = workspace.journal_file(gitinfo.git_dir(root))
    try:
        left = workspace.update(root, cache, dvcrepo.cache_types(root), objs.changed,
                                objs.deltas, record, journal)
    except OSError as exc:
        output.warn(f"updating the workspace directly failed ({exc}); running dvc checkout")
        return set(objs.targets)
    if report is not None:
        report.unsaved = [os.path.relpath(p, root) for p in workspace.refused_files]
    return left


def pull_revision(settings: Settings, rev: str = "HEAD") -> Report:
    """Everything the revision needs into the cache; the workspace too when it is HEAD."""
    sha = gitinfo.rev_parse(settings.root, rev)
    head = gitinfo.rev_parse(settings.root, "HEAD")
    changes = gitinfo.changes_between(settings.root, None, sha)
    if sha == head:
        changes += repair_changes(settings.root, head)
    return pull_changes(settings, changes, checkout="all" if sha == head else "none")


def repair_changes(root: Path, head: str, bases: Sequence[str] = ()) -> list[gitinfo.PointerChange]:
    """What a sync from no known state adds to HEAD's own pointers: the outputs of commits
    the workspace may hold (the last sync, HEAD's recent reflog, `bases`) that HEAD
    lacks, so they leave as a fresh clone would not have them."""
    since = [c for b in bases for c in gitinfo.changes_between(root, b, head) if c.old_blob]
    return left_since_sync(root, head) + _readable(
        root, gitinfo.left_by_recent_heads(root, head) + since)


def _readable(root: Path, changes: list[gitinfo.PointerChange]) -> list[gitinfo.PointerChange]:
    """The repair's changes whose pointers read. An old pointer there only says what to
    remove; one that does not read (malformed, hostile) had nothing checked out by DVC
    either, so it is left out instead of failing every later full pull."""
    try:
        reading.read_changes(root, changes)
        return changes
    except SyncError:
        pass
    kept = []
    for change in changes:
        try:
            reading.read_changes(root, [change])
        except SyncError:
            continue
        kept.append(change)
    return kept


def left_since_sync(root: Path, head: str) -> list[gitinfo.PointerChange]:
    """Pointer changes since the commit the workspace was last synced to (a `git reset`
    fires no hook): outputs they drop leave the workspace as plain `dvc pull` removes
    them (HEAD's own pointers are all in the full pull already)."""
    state, synced = read_state(root)
    if state != "ok" or synced == head or not gitinfo.known_commits(root, [synced]):
        return []
    return gitinfo.changes_between(root, synced, head)


# ---------------------------------------------------------------------------- read-only


@contextlib.contextmanager
def read_only_session(settings: Settings):  # type: ignore[no-untyped-def]
    """A session for status and verify: it writes no config, and manifests it fetches go
    to a private scratch dir (the shared staging belongs to holders of the lock)."""
    staging = Path(tempfile.mkdtemp(prefix="dvc-synced-status-"))
    try:
        with Session(settings, writes=False, staging=staging) as session:
            yield session
    finally:
        remove_tree(staging)


# ---------------------------------------------------------------------------- dry runs


@dataclass
class DryRun:
    """What a push or pull would move: counts and bytes, asked of central read-only."""

    verb: str  # "upload" | "download"
    where: str  # "to" | "from"
    needed: int = 0
    moving: int = 0
    moving_bytes: int = 0
    absent: int = 0  # objects neither side has
    problems: list[str] = field(default_factory=list)  # why it would not be complete

    @property
    def complete(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        there = self.needed - self.moving - self.absent
        return [f"dry run: would {self.verb} {self.moving} object(s) "
                f"({output.human_bytes(self.moving_bytes)}) {self.where} central, {there} "
                "already there; nothing was moved", *self.problems]


def push_dry_run(settings: Settings, revs: Iterable[str]) -> DryRun:
    """`push --dry-run`: one probe of central; no store, config or central is written."""
    changes: list[gitinfo.PointerChange] = []
    for sha in [gitinfo.rev_parse(settings.root, r) for r in revs]:
        changes += gitinfo.changes_between(settings.root, None, sha)
    result = DryRun("upload", "to")
    with read_only_session(settings) as session:
        objs = session.plan(changes, strict=False)
        refs = objs.all()
        result.needed = len(refs)
        central = session.transport.probe([r.relpath for r in refs]) if refs else {}
        todo = [r for r in refs if r.relpath not in central]
        nowhere: list[ObjectRef] = []
        for ref in todo:
            store = next((s for s in (session.cache, session.local) if s.has(ref)), None)
            if store is None:
                nowhere.append(ref)
                continue
            result.moving += 1
            result.moving_bytes += store.size(ref)
    result.absent = len(nowhere)
    if nowhere:
        result.problems.append(
            describe_missing(nowhere, "are in no cache here and not on central") +
            ": the push would be refused; run `dvc commit` (or `dvc add`) for them")
    result.problems += [f"the manifest of {path} is on no storage: the push would be "
                        "refused" for path in objs.unknown]
    return result


def pull_dry_run(settings: Settings, rev: str = "HEAD") -> DryRun:
    """`pull --dry-run`: central is probed and missing manifests are read into a private
    scratch dir (needed to know a directory's files); nothing else is written."""
    sha = gitinfo.rev_parse(settings.root, rev)
    changes = gitinfo.changes_between(settings.root, None, sha)
    result = DryRun("download", "from")
    with read_only_session(settings) as session:
        objs = session.plan(changes, strict=False, select=settings.selection)
        refs = objs.all()
        result.needed = len(refs)
        need = session.local.missing(session.cache.missing(refs))
        central = session.transport.probe([r.relpath for r in need]) if need else {}
        lacking = [r for r in need if r.relpath not in central]
        result.moving = len(need) - len(lacking)
        result.absent = len(lacking)
        result.moving_bytes = sum(central.values())
        commits = {c.path: c.commit for c in changes}
        result.problems = [blame(settings.root, _revision(commits.get(out.pointer)), out)
                           for out in incomplete_outputs(objs, lacking)]
    return result
