"""`dvc-synced fetch`: central -> local storage for revisions not checked out yet.

The data of recent branches is then on this machine before anyone asks for it: a later
`git pull` or `git switch` copies from the local storage into the cache and never
contacts central (flows.pull_objects fetches only what the local storage lacks).

Which revisions (`--recent`, the meaning of `git lfs fetch --recent`): the tips of the
git remote's remote-tracking branches whose last commit is at most DAYS old, HEAD's
upstream, and the commits on those branches within DAYS (so switching back to an
earlier state of a branch finds its data too).

Only deltas are computed: one revision (the base) is expanded in full, every other tip
by its diff against the base, and the recent commits by their diffs against their
first parents. What the local storage has already costs no network: its manifests are
read from disk and its objects are never asked for.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from dvc_synced_plugin import output
from dvc_synced_plugin.dvcfiles.objects import ObjectSet, entry_oids
from dvc_synced_plugin.errors import ConfigError, MissingObjectsError, SyncError
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.git.gitinfo import PointerChange
from dvc_synced_plugin.git.remotes import DAY, recent_tips, remote_revisions, require_remote
from dvc_synced_plugin.oids import ObjectRef
from dvc_synced_plugin.output import human_bytes
from dvc_synced_plugin.settings import Settings, positive_int
from dvc_synced_plugin.storage.lock import storage_lock
from dvc_synced_plugin.storage.memo import CommitMemo
from dvc_synced_plugin.storage.stores import ObjectStore, copy_objects, generation, remove_tree
from dvc_synced_plugin.sync import flows
from dvc_synced_plugin.sync.flows import Session, fetch_into_local

DEFAULT_DAYS = 7


class StorageBusy(SyncError):
    """Another dvc-synced holds the local storage longer than this fetch would wait."""


@dataclass
class FetchReport:
    """What one fetch did: the summary line and --json."""

    revisions: int = 0  # commits whose data was wanted
    needed: int = 0  # objects those revisions need
    fetched: int = 0  # objects that came from central
    fetched_bytes: int = 0
    copied: int = 0  # objects the DVC cache had: copied into the local storage, no network
    present: int = 0  # objects the local storage had already
    known: int = 0  # revisions an earlier fetch completed: nothing computed for them
    missing: int = 0  # objects central lacks (or that depend on one it lacks): not fetched
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)  # what could not be fetched, and why
    excluded: set[str] = field(default_factory=set)  # outputs the fetch patterns leave out

    def line(self) -> str:
        extra = f", {self.copied} copied from the DVC cache" if self.copied else ""
        if self.missing or self.problems:
            extra += f", {self.missing or 'some'} not on central"
        return (
            f"fetched {self.fetched} object(s) ({human_bytes(self.fetched_bytes)}) from central "
            f"for {self.revisions} revision(s) ({self.known} fetched before), "
            f"{self.present} already here{extra}, "
            + (f"{len(self.excluded)} output(s) excluded by the fetch patterns, "
               if self.excluded else "") +
            f"{self.seconds:.1f}s"
        )

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "excluded": sorted(self.excluded)}


def parse_days(value: Optional[str]) -> Optional[int]:
    """A whole number of days above zero; None stays None (no --recent)."""
    if value is None:
        return None
    try:
        return positive_int(value)
    except ValueError:
        raise ConfigError(
            f"--recent {value!r} is not a positive whole number of days: use e.g. --recent 7"
        ) from None


class Fetched(CommitMemo):
    """Commits whose data a fetch (or this memo's earlier runs) put in the local storage.

    A timer fetches every few minutes: without this, each run would expand the base
    revision in full again (100,000 entries: seconds). With it, a run with nothing new
    does git calls only, and a new commit is computed as its diff against the last fetched
    tip. The memo vouches for one state of one local storage: its path and its
    generation (`stores.generation`), which `gc` renews before removing objects and which
    a deleted and re-created storage lacks: then the memo starts afresh and the next fetch
    checks the disk again. It keeps the newest KEEP commits.
    """

    def __init__(self, root: Path, local: Path, patterns: str = "") -> None:
        try:
            token = generation(local) if local.is_dir() else "none"
        except OSError:
            token = "none"
        # Under other fetch patterns a commit's fetch brought other outputs: start afresh.
        super().__init__(gitinfo.state_dir(root) / "fetched",
                         f"local {local} {token}" + (f" {patterns}" if patterns else ""))

    @property
    def anchor(self) -> Optional[str]:
        """The newest tip recorded: the base the next fetch diffs against."""
        return self.commits[-1] if self.commits else None


def plan_changes(
    root: Path, tips: list[str], days: Optional[int], now: Optional[float] = None,
    done: frozenset[str] | set[str] = frozenset(), anchor: Optional[str] = None,
    covered: Optional[list[str]] = None,
) -> list[tuple[str, list[PointerChange]]]:
    """(revision, pointer changes) per tip, then the recent history's: the new sides are
    every version they hold. Tips and recent commits in `done` are left out.

    The base counts in full unless it is `anchor`, a commit whose data is in the local
    storage already; each other tip by what differs from the base. Each recent commit
    counts by its change over its first parent, and the version it replaced by what that
    version has beyond the one replacing it: every such newer version is a tip's or
    replaced in turn, so the chain ends at data counted already. A delta whose base
    manifest is not on this machine falls back to the full manifest.
    `covered` gets every recent commit whose versions the groups hold (or the base does).
    """
    todo = [t for t in tips if t not in done]
    groups: list[tuple[str, list[PointerChange]]] = []
    if anchor is not None and gitinfo.known_commits(root, [anchor]):
        base = anchor
        changes = gitinfo.changes_between(root, None, base)  # present: counted, not fetched
    elif todo:
        base, todo = todo[0], todo[1:]
        changes = gitinfo.changes_between(root, None, base)
        groups.append((base, changes))
    else:
        return []
    base_blobs = {c.path: c.new_blob for c in changes}
    seen = {(c.path, c.new_blob) for c in changes}

    def want(into: list[PointerChange], path: str, since: Optional[str], blob: Optional[str],
             commit: str, since_at: str) -> None:
        if blob and (path, blob) not in seen:
            seen.add((path, blob))
            into.append(PointerChange(path, since, blob, commit, since_at if since else ""))

    for tip in todo:
        groups.append((tip, []))
        for ch in gitinfo.changes_between(root, base, tip):
            want(groups[-1][1], ch.path, base_blobs.get(ch.path), ch.new_blob, tip, base)
    history: list[PointerChange] = []
    if days is not None:
        cutoff = int((time.time() if now is None else now) - days * DAY)
        for ch in gitinfo.changes_in_commits(root, tips, since=f"@{cutoff}"):
            if ch.commit in done:
                continue
            # Remembered even when another commit's entry took its versions: a root
            # commit whose version a later one replaced was otherwise planned whole
            # again by every later fetch (10^6 entries read each time).
            if covered is not None:
                covered.append(ch.commit)
            want(history, ch.path, ch.old_blob, ch.new_blob, ch.commit, ch.base)
            # The version this commit replaced: a checkout of its parent needs it.
            want(history, ch.path, ch.new_blob, ch.old_blob, f"{ch.commit}^", ch.commit)
    groups.append(("recent commits", history))
    return [(name, group) for name, group in groups if group]


def fetch(
    settings: Settings,
    revs: list[str],
    days: Optional[int],
    everything: bool = False,
    remote: str = "origin",
    lock_timeout: Optional[float] = None,
) -> FetchReport:
    """Bring every object of the revisions into the local storage; never the workspace."""
    start = time.monotonic()
    root = settings.root
    tips = [gitinfo.rev_parse(root, r) for r in revs]
    if days is not None or everything:
        require_remote(root, remote)
    if everything:
        tips += remote_revisions(root, remote)
    if days is not None:
        tips += recent_tips(root, remote, days)
    tips = list(dict.fromkeys(tips))
    report = FetchReport(revisions=len(tips))
    if not tips:
        report.seconds = time.monotonic() - start
        return report

    timeout = max(300, settings.timeout) if lock_timeout is None else lock_timeout
    with flows.Session(settings) as session, contextlib.ExitStack() as held:
        memo = Fetched(root, session.local.root, settings.selection.fingerprint)
        report.known = sum(t in memo.known for t in tips)
        covered: list[str] = []
        phases = plan_changes(root, tips, days, done=memo.known, anchor=memo.anchor,
                              covered=covered)
        # HEAD's upstream (the first tip) last: the anchor the next fetch diffs against.
        order = [*tips[1:], tips[0]]
        known = [*[c for c in covered if c not in tips], *order]  # the memo dedups
        if not phases:  # every revision's data was fetched before: no storage work
            memo.add(known)
            report.seconds = time.monotonic() - start
            return report
        try:
            held.enter_context(storage_lock(session.local.root, timeout))
        except SyncError as exc:
            raise StorageBusy(str(exc)) from None
        counted: set[bytes] = set()
        # The tips first: their manifests are then on disk as the history's delta bases.
        # Data a teammate never pushed is not a reason to leave the rest behind.
        for name, changes in phases:
            try:
                # Manifests without a version here to diff against are streamed (`_fill`).
                objs = session.plan(changes, select=settings.selection, stream_whole=True)
                _fill(session, objs, counted, report, len(tips))
                report.excluded.update(objs.excluded)
            except MissingObjectsError as exc:
                report.problems.append(f"{name[:10] if len(name) == 40 else name}: {exc}")
        if not report.problems:  # a partial run is simply computed again next time
            memo.add(known)
        with contextlib.suppress(OSError):
            remove_tree(session.staging())
    report.seconds = time.monotonic() - start
    return report


# Objects checked for presence per round, in whole store directories: a round of many
# is read from directory listings (`ObjectStore.present`), each directory listed once.
ROUND = 50_000


def _key(oid: str, legacy: bool) -> bytes:
    """An object as 16-18 bytes (md5, then `d` for a manifest, `l` for the 2.x layout):
    what was counted is kept for a whole revision, and 10^6 relpath strings are ~130 MB."""
    return (bytes.fromhex(oid[:32]) + (b"d" if oid.endswith(".dir") else b"")
            + (b"l" if legacy else b""))


def _ref(key: bytes, owner: str) -> ObjectRef:
    mark = key[16:]
    return ObjectRef(key[:16].hex() + (".dir" if b"d" in mark else ""), b"l" in mark, owner)


def _absent(store: ObjectStore, keys: list[bytes], owner: str) -> list[ObjectRef]:
    """Those of `keys` (objects of `owner`) the store lacks, asked in rounds of whole
    store directories: an md5's first byte names its directory."""
    by_dir: list[list[bytes]] = [[] for _ in range(256)]
    for key in keys:
        by_dir[key[0]].append(key)
    lacking: list[ObjectRef] = []
    batch: list[ObjectRef] = []
    for group in by_dir:
        batch += (_ref(k, owner) for k in group)
        if len(batch) >= ROUND:
            lacking += store.missing(batch)
            batch = []
    return lacking + store.missing(batch)


def _fill(session: Session, objs: ObjectSet, counted: set[bytes], report: FetchReport,
          revisions: int) -> None:
    """Put the objects of `objs` into the local storage: from the DVC cache when it has
    them, else central. Manifests in `objs.whole` are read entry by entry, so memory
    follows the objects not counted yet, as keys, not a whole revision's refs."""
    named: list[ObjectRef] = []
    for ref in objs.all():
        key = _key(ref.oid, ref.legacy)
        if key not in counted:
            counted.add(key)
            named.append(ref)
    report.needed += len(named)
    lacking = session.local.missing(named)
    report.present += len(named) - len(lacking)
    for whole in objs.whole:
        data = session.manifests.read(whole)
        if data is None:  # the plan read it: only a store changing under us gets here
            raise SyncError(f"the manifest of {whole.owner} ({whole.oid}) vanished meanwhile")
        keys: list[bytes] = []
        for oid in entry_oids(data, whole.legacy, whole.owner):
            key = _key(oid, whole.legacy)
            if key not in counted:
                counted.add(key)
                keys.append(key)
        del data  # 80 MB at 10^6 entries: not held while the store is listed
        report.needed += len(keys)
        absent = _absent(session.local, keys, whole.owner)
        report.present += len(keys) - len(absent)
        lacking += absent
    # The cache has what was pulled or added here: no reason to ask central for it.
    in_cache = [r for r in lacking if session.cache.has(r)]
    if in_cache:
        report.copied += copy_objects(session.cache, session.local, in_cache,
                                      session.settings.jobs, verify=True)[0]
    todo = [r for r in lacking if not session.cache.has(r)]
    if todo and output.terminal() is not None:
        output.say(f"fetching {len(todo)} object(s) of {revisions} revision(s)...",
                   output.terminal())
    try:
        moved, size = fetch_into_local(session, todo)
    except MissingObjectsError:
        # Take what central has; a manifest only with all its files (a .dir in a DVC
        # remote tells DVC the directory is complete there).
        on_central = session.transport.probe([r.relpath for r in todo])
        absent = [r for r in todo if r.relpath not in on_central]
        have = [r for r in todo if r.relpath in on_central and not (
            r.is_dir and _lists_any(session, r, absent))]
        moved, size = fetch_into_local(session, have)
        report.fetched += moved
        report.fetched_bytes += size
        report.missing += len(todo) - len(have)
        raise
    report.fetched += moved
    report.fetched_bytes += size


def _lists_any(session: Session, manifest: ObjectRef, absent: list[ObjectRef]) -> bool:
    """Whether the manifest lists one of `absent` (or cannot be read to tell)."""
    gone = {r.oid for r in absent if not r.is_dir and r.legacy == manifest.legacy}
    if not gone:
        return False
    data = session.manifests.read(manifest)
    return data is None or any(oid in gone for oid in entry_oids(
        data, manifest.legacy, manifest.owner))
