"""Read-only checks: `status` (what is missing where) and `verify` (central's bytes are right)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from dvc_synced_plugin import safety
from dvc_synced_plugin.dvcfiles.objects import ObjectSet, entry_oids
from dvc_synced_plugin.dvcfiles.pointers import Out
from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.oids import ObjectRef, object_path, object_ref
from dvc_synced_plugin.settings import Settings
from dvc_synced_plugin.storage.state import read_state
from dvc_synced_plugin.sync.flows import Session, read_only_session
from dvc_synced_plugin.sync.plan import outs_of_changes
from dvc_synced_plugin.transports import Transport


@dataclass
class Where:
    objects: int = 0
    bytes: int = 0


@dataclass
class Status:
    rev: str
    objects: int
    missing: dict[str, Where]
    unknown_dirs: list[str] = field(default_factory=list)
    # Outputs the fetch patterns leave out: not counted above, not missing.
    excluded: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Central holds everything and so does the cache (the workspace can be made).
        The local storage is a copy on the way: what it lacks and central holds (after
        `gc`, or for data the cache had already) is fetched when needed."""
        return not self.unknown_dirs and all(
            self.missing[where].objects == 0 for where in ("cache", "central"))

    def as_dict(self) -> dict:
        return {
            "rev": self.rev,
            "objects": self.objects,
            "complete": self.complete,
            "missing": {k: asdict(v) for k, v in self.missing.items()},
            "unknown_dirs": self.unknown_dirs,
            "excluded": self.excluded,
        }


def _revision_objects(session: Session, sha: str) -> ObjectSet:
    """All objects of a revision; manifests from any store that has one, hash-checked."""
    return session.plan(gitinfo.changes_between(session.root, None, sha), strict=False)


# Objects looked up per round: stores are listed directory by directory, so a round
# takes whole prefix directories (a few at 10^6 objects), each listed once.
STATUS_BATCH = 50_000


def _revision_oids(session: Session, sha: str, excluded: Optional[list[str]] = None
                   ) -> tuple[set[str], list[str]]:
    """Every object of a revision once, by its path in a store (the same md5 in the 2.x
    and 3.x layouts is two objects), and the outputs whose manifest is on no storage.
    Only strings are kept: 10^6 refs would be ~400 MB. `excluded`: given, the outputs
    the fetch patterns leave out are left out and listed there."""
    changes = gitinfo.changes_between(session.root, None, sha)
    # Outputs DVC keeps elsewhere (own remote, imports) are not central's to hold.
    outs = [out for _, new in outs_of_changes(session.root, changes) for out in new
            if not out.route]
    if excluded is not None:
        select = session.settings.selection
        excluded += sorted({o.path for o in outs if not select.selects(o.path)})
        outs = [o for o in outs if select.selects(o.path)]
    found: set[str] = set()
    pending: list[Out] = []

    def add_entries(out: Out, data: bytes) -> None:
        found.update(object_path(oid, out.legacy)
                     for oid in entry_oids(data, out.legacy, out.path))

    for out in outs:
        ref = ObjectRef(out.oid, out.legacy, out.path)
        found.add(ref.relpath)
        if out.is_dir:
            data = session.manifests.read(ref)
            if data is None:
                pending.append(out)
            else:
                add_entries(out, data)
    unknown: list[str] = []
    if pending:
        refs = {out.oid: ObjectRef(out.oid, out.legacy, out.path) for out in pending}
        lacking = session.manifests.fetch(list(refs.values()), required=False)
        for out in pending:
            data = None if refs[out.oid] in lacking else session.manifests.read(refs[out.oid])
            if data is None:
                unknown.append(out.path)
            else:
                add_entries(out, data)
    return found, unknown


def _rounds(relpaths: set[str]) -> Iterator[list[ObjectRef]]:
    """The objects in rounds of whole store directories, about STATUS_BATCH each."""
    batch: list[ObjectRef] = []
    directory = ""
    for rel in sorted(relpaths):
        head = rel.rpartition("/")[0]
        if len(batch) >= STATUS_BATCH and head != directory:
            yield batch
            batch = []
        directory = head
        ref = object_ref(rel)
        if ref is not None:  # always: the paths are object_path's
            batch.append(ref)
    if batch:
        yield batch


def status(settings: Settings, rev: str = "HEAD") -> Status:
    """What of `rev`'s objects each store lacks. Memory follows a round, not the revision:
    at 10^6 objects a whole-revision plan and central's full answer held ~1 GB."""
    sha = gitinfo.rev_parse(settings.root, rev)
    missing = {"cache": Where(), "local": Where(), "central": Where()}
    excluded: list[str] = []
    with read_only_session(settings) as session:
        relpaths, unknown = _revision_oids(session, sha, excluded)
        for refs in _rounds(relpaths):
            central = session.transport.probe([r.relpath for r in refs])
            # Presence read once per store (listings for many objects, not a stat each).
            in_cache = session.cache.present(refs)
            in_local = session.local.present(refs)
            for ref in refs:
                here = {"cache": ref in in_cache, "local": ref in in_local,
                        "central": ref.relpath in central}
                if all(here.values()):
                    continue
                size = (session.cache.size(ref) if here["cache"] else
                        session.local.size(ref) if here["local"] else
                        central.get(ref.relpath, 0))
                for name, present in here.items():
                    if not present:
                        missing[name].objects += 1
                        missing[name].bytes += size
    return Status(rev=sha, objects=len(relpaths), missing=missing, unknown_dirs=unknown,
                  excluded=excluded)


@dataclass
class Verification:
    revisions: int
    objects: int
    missing: list[str]  # "relpath (owner)"
    corrupt: list[str]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.corrupt


def _range(root: Path, rev: str) -> Optional[tuple[str, str]]:
    """(exclude, tip) shas of `A..B` (either side empty: HEAD), None for one revision."""
    if ".." not in rev:
        return None
    if "..." in rev:
        raise SyncError(f"{rev!r}: a symmetric range is not supported: name A..B")
    old, _, new = rev.partition("..")
    return gitinfo.rev_parse(root, old or "HEAD"), gitinfo.rev_parse(root, new or "HEAD")


def verify(settings: Settings, revs: list[str], batch_bytes: int = 256 << 20) -> Verification:
    """Central holds every object of `revs`, each hashing to its name (downloads to check).

    A range `A..B` stands for what its commits add, each against its first parent (what a
    push of them sends): checking a change costs the change, not the whole revision."""
    # Every revision resolved first: a typo fails before anything is downloaded.
    wanted: list[tuple[str, Optional[tuple[str, str]]]] = []
    for rev in revs:
        span = _range(settings.root, rev)
        wanted.append((gitinfo.rev_parse(settings.root, rev) if span is None else "", span))
    with read_only_session(settings) as session:
        objs = ObjectSet()
        missing: list[str] = []
        shas: list[str] = []
        for sha, span in wanted:
            if span is None:
                shas.append(sha)
                rev_objs = _revision_objects(session, sha)
            else:
                commits = gitinfo.git(settings.root, "rev-list", span[1], "--not", span[0])
                shas += commits.decode().split()
                rev_objs = session.plan(
                    gitinfo.changes_in_commits(settings.root, [span[1]], [span[0]]),
                    strict=False)
            for ref in rev_objs.all():
                objs.add(ref)
            missing += [f"manifest of {p}" for p in rev_objs.unknown]
        refs = objs.all()
        central = session.transport.probe([r.relpath for r in refs])
        missing += [f"{r.relpath} ({r.owner})" for r in refs if r.relpath not in central]
        corrupt: list[str] = []
        present = [r for r in refs if r.relpath in central]
        with tempfile.TemporaryDirectory(prefix="dvc-synced-verify-") as tmp:
            batch: list[ObjectRef] = []
            size = 0
            for i, ref in enumerate(present):
                batch.append(ref)
                size += central[ref.relpath]
                if size >= batch_bytes or i == len(present) - 1:
                    corrupt += _check_batch(session.transport, batch, Path(tmp))
                    batch, size = [], 0
    return Verification(len(shas), len(refs), missing, corrupt)


def _check_batch(transport: Transport, batch: list[ObjectRef], tmp: Path) -> list[str]:
    transport.download([r.relpath for r in batch], tmp)
    bad = []
    for ref in batch:
        path = tmp / ref.relpath
        if not path.is_file():
            bad.append(f"{ref.relpath} ({ref.owner}): unreadable")
            continue
        got = safety.verify(path, ref)
        if got is not None:
            bad.append(f"{ref.relpath} ({ref.owner}): hashes to {got}")
        os.chmod(path, 0o644)
        path.unlink()
    return bad


def require_revisions(revs: list[str]) -> list[str]:
    if not revs:
        raise SyncError(
            "the git remote has no branches or tags this clone knows: `git fetch` first"
        )
    return revs


def workspace_lag(root: Path, no_hooks: str = "") -> Optional[str]:
    """One line when the workspace's data is not HEAD's, as the hooks' state file knows it.

    git fires no hook for some commands that move HEAD (`git reset`, `git am` under
    pre-commit): the next hook or `dvc-synced pull` catches up, and until then this says
    so. One case it cannot see: a conflicted revert concluded by `git commit -m`/`-F`
    with a message of the user's leaves no trace of git's doing, so post-commit takes it
    for the user's own commit and the state moves along; a full `dvc-synced pull` repairs.
    `no_hooks`: why the hooks are missing in this clone, when they are: then that is
    the cause named (no hook ever ran), not a git command.
    """
    try:
        head = gitinfo.rev_parse(root, "HEAD")
    except SyncError:
        return None
    state, synced = read_state(root)
    if state == "ok" and synced == head:
        return None
    fix = "run `dvc-synced pull`"
    if no_hooks:
        fix = f"{fix}, and install the hooks so git keeps it in step ({no_hooks})"
    if state == "pending":
        return f"workspace: the last sync of {head[:10]} did not finish: {fix}"
    if state != "ok" or not gitinfo.known_commits(root, [synced]):
        return f"workspace: no sync by dvc-synced recorded for HEAD {head[:10]}: {fix}"
    if not gitinfo.changes_between(root, synced, head):
        return None  # HEAD moved without touching a pointer file: the data is HEAD's
    cause = "the git hooks are not installed" if no_hooks else \
        "a git command that fires no hook moved HEAD"
    return (f"workspace: lags HEAD: it holds the data of {synced[:10]}, HEAD is {head[:10]} "
            f"({cause}): {fix}")
