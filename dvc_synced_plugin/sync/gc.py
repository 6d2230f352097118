"""`dvc-synced gc`: remove objects from the local storage that this clone can fetch again.

Only the local storage: never central, never the DVC cache. Like `git lfs prune
--verify-remote`, an object goes only when central is confirmed, by a probe made in this
run, to hold it at the same size; every other reason to keep one is checked first:

  workspace  HEAD and the index need it
  unpushed   a commit on a local branch that no remote-tracking branch has needs it
  recent     a local or remote-tracking branch tip, or a commit on a local branch, made
             within the last DAYS days needs it (the refs `fetch --recent` fetches)
  central    central does not hold it (or not at this size): it may be the only copy

The local storage is shared by every clone of this user's project: another clone's
unpushed work is safe through the last rule, since gc removes nothing central lacks.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from dvc_synced_plugin.dvcfiles.objects import manifest_map
from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.oids import HEX32, ObjectRef, object_ref
from dvc_synced_plugin.output import human_bytes
from dvc_synced_plugin.settings import Settings
from dvc_synced_plugin.storage.stores import WORK_DIR, ObjectStore, generation, remove_tree
from dvc_synced_plugin.sync.flows import Session

REASONS = {
    "workspace": "needed by HEAD or the index",
    "unpushed": "in local commits no remote-tracking branch has",
    "recent": "in branch tips and commits of the last {days} day(s)",
    "central": "not confirmed on central by this run's probe",
}


@dataclass
class Tally:
    objects: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.objects += 1
        self.bytes += size


@dataclass
class Result:
    dry_run: bool
    days: int
    storage: str
    removed: Tally = field(default_factory=Tally)
    freed: int = 0  # bytes whose last link went (the rest stays linked from the cache)
    kept: dict[str, Tally] = field(default_factory=lambda: {k: Tally() for k in REASONS})
    error: str = ""

    def as_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "keep_recent_days": self.days,
            "local_storage": self.storage,
            "removed": {"objects": self.removed.objects, "bytes": self.removed.bytes,
                        "freed_bytes": self.freed},
            "kept": {k: {"objects": t.objects, "bytes": t.bytes, "why": self.why(k)}
                     for k, t in self.kept.items()},
            "error": self.error or None,
        }

    def why(self, reason: str) -> str:
        return REASONS[reason].format(days=self.days)

    def lines(self) -> list[str]:
        verb = "would remove" if self.dry_run else "removed"
        linked = self.removed.bytes - self.freed
        lines = [
            f"dvc-synced gc: {verb} {self.removed.objects} object(s) "
            f"({human_bytes(self.removed.bytes)}) from the local storage {self.storage}; "
            f"{human_bytes(self.freed)} {'would be ' if self.dry_run else ''}freed on disk"
            + (f", {human_bytes(linked)} stays linked from the DVC cache" if linked else "")
        ]
        for reason, tally in self.kept.items():
            if tally.objects:
                lines.append(f"  kept {tally.objects} object(s) ({human_bytes(tally.bytes)}): "
                             f"{self.why(reason)}")
        return lines


def local_objects(root: Path) -> list[ObjectRef]:
    """Every object in a DVC-layout store; our scratch dir and temporary names are not."""
    found = []
    for top, dirs, files in os.walk(root):
        if top == str(root):
            dirs[:] = [d for d in dirs if d != WORK_DIR]
        rel_top = os.path.relpath(top, root)
        for name in files:
            ref = object_ref(f"{rel_top}/{name}".replace(os.sep, "/"))
            if ref is not None:
                found.append(ref)
    return found


def _objects_of(session: Session, changes: list[gitinfo.PointerChange]) -> set[str]:
    """relpaths of every object `changes` need, manifests resolved (from central if must)."""
    if not changes:
        return set()
    return {r.relpath for r in session.plan(changes).all()}


def _whole_trees(root: Path, shas: list[str]) -> list[gitinfo.PointerChange]:
    """Every pointer of each commit, one entry per distinct (path, blob)."""
    seen: dict[tuple[str, str], gitinfo.PointerChange] = {}
    for sha in shas:
        for change in gitinfo.changes_between(root, None, sha):
            seen.setdefault((change.path, change.new_blob or ""), change)
    return list(seen.values())


def unpushed_commits(root: Path) -> list[str]:
    """Commits on local branches that no remote-tracking branch reaches."""
    out = gitinfo.git(root, "rev-list", "--branches", "--not", "--remotes").decode()
    return out.split()


def recent_commits(root: Path, days: int, now: float) -> list[str]:
    """Branch tips (local and remote-tracking) and local-branch commits within `days`."""
    if days <= 0:
        return []
    cutoff = int(now - days * 86400)
    refs = gitinfo.git(root, "for-each-ref", "--format=%(objectname) %(committerdate:unix)",
                       "refs/heads", "refs/remotes").decode().split("\n")
    tips = []
    for line in refs:
        sha, _, stamp = line.partition(" ")
        if sha and stamp.strip().isdigit() and int(stamp) >= cutoff:
            tips.append(sha)
    # An ISO date: git's approxidate misreads a bare number (`--since=1000` is not 1970).
    since = time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(cutoff))
    commits = gitinfo.git(root, "rev-list", f"--since={since}", "--branches").decode().split()
    return sorted(set(tips) | set(commits))


def collect(session: Session, days: int, now: float) -> dict[str, set[str]]:
    """relpaths to keep per reason (before asking central)."""
    root = session.root
    head = gitinfo.rev_parse(root, "HEAD")
    workspace = _objects_of(session, gitinfo.changes_between(root, None, head))
    # The index's pointers over HEAD's: what the index adds (HEAD's are all kept already).
    index = gitinfo.changes_to_index(root)
    workspace |= _objects_of(session, [c for c in index if c.new_blob])
    unpushed = _objects_of(session, _whole_trees(root, unpushed_commits(root)))
    recent = _objects_of(session, _whole_trees(root, recent_commits(root, days, now)))
    return {"workspace": workspace, "unpushed": unpushed, "recent": recent}


def plan(session: Session, result: Result, keep: dict[str, set[str]]) -> list[ObjectRef]:
    """What may go; fills the kept tallies. Raises SyncError when central cannot answer."""
    store: ObjectStore = session.local
    kept: dict[ObjectRef, tuple[str, int]] = {}
    candidates: list[tuple[ObjectRef, int]] = []
    for ref in local_objects(store.root):
        try:
            size = store.size(ref)
        except OSError:
            continue
        reason = next((k for k, paths in keep.items() if ref.relpath in paths), None)
        if reason:
            kept[ref] = (reason, size)
        else:
            candidates.append((ref, size))
    central = session.transport.probe([r.relpath for r, _ in candidates]) if candidates else {}
    removable: dict[ObjectRef, int] = {}
    for ref, size in candidates:
        if central.get(ref.relpath) == size:
            removable[ref] = size
        else:
            kept[ref] = ("central", size)
    # A kept `.dir` keeps its files: DVC, reading the local storage as a remote, assumes a
    # directory's files are all there when its manifest is.
    for ref, (reason, _size) in list(kept.items()):
        if ref.is_dir and removable:
            for member in _members(store, ref):
                if member in removable:
                    kept[member] = (reason, removable.pop(member))
    for reason, size in kept.values():
        result.kept[reason].add(size)
    for size in removable.values():
        result.removed.add(size)
    # Manifests first, for the same reason.
    return sorted(removable, key=lambda r: not r.is_dir)


def _members(store: ObjectStore, ref: ObjectRef) -> list[ObjectRef]:
    data = store.read(ref)
    if data is None:
        return []
    try:
        entries = manifest_map(data, ref.legacy, ref.oid)
    except SyncError:
        return []
    return [ObjectRef(md5, ref.legacy) for md5 in entries.values()
            if isinstance(md5, str) and HEX32.fullmatch(md5)]


def remove(store: ObjectStore, refs: list[ObjectRef]) -> int:
    """Unlink the objects' names in the local storage; returns the bytes freed on disk."""
    freed = 0
    for ref in refs:
        path = store.path(ref)
        try:
            st = path.lstat()
            path.unlink()
        except FileNotFoundError:
            continue
        if st.st_nlink == 1:
            freed += st.st_size
    return freed


def gc(settings: Settings, dry_run: bool = False, keep_days: int = 7,
       now: float | None = None) -> Result:
    """Plan and (unless `dry_run`) remove, holding the storage lock throughout."""

    if keep_days < 0:
        raise SyncError(f"--keep-recent {keep_days}: give a number of days, 0 or more")
    now = time.time() if now is None else now
    with Session(settings) as session, session.lock():
        result = Result(dry_run, keep_days, str(session.local.root))
        try:
            keep = collect(session, keep_days, now)  # may fetch manifests: errors say why
        finally:
            with contextlib.suppress(OSError):
                remove_tree(session.staging())
        try:
            refs = plan(session, result, keep)
        except SyncError as exc:
            result = Result(dry_run, keep_days, str(session.local.root))
            result.error = (
                f"central could not confirm which objects it holds ({exc}); nothing was "
                "removed: gc removes only objects central is confirmed to have, run it "
                "again when central is reachable"
            )
            return result
        if dry_run:
            result.freed = _would_free(session.local, refs)
        else:
            if refs:  # first: a memo of what a fetch brought no longer vouches for it
                generation(session.local.root, renew=True)
            result.freed = remove(session.local, refs)
    return result


def _would_free(store: ObjectStore, refs: list[ObjectRef]) -> int:
    total = 0
    for ref in refs:
        with contextlib.suppress(OSError):
            st = store.path(ref).lstat()
            total += st.st_size if st.st_nlink == 1 else 0
    return total
