"""The push and pull flows: objects -> local storage -> central, and back -> cache -> workspace."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from dvc_synced_plugin import dvcrepo, gitinfo, workspace
from dvc_synced_plugin.config import Settings
from dvc_synced_plugin.errors import CorruptObjectError, MissingObjectsError, SyncError
from dvc_synced_plugin.lock import storage_lock, workspace_lock
from dvc_synced_plugin.objects import (
    ObjectRef,
    ObjectSet,
    expand_dirs,
    needed_for_changes,
    outs_of_changes,
)
from dvc_synced_plugin.pointers import Out
from dvc_synced_plugin.stores import (
    ObjectStore,
    copy_objects,
    iter_copies,
    remove_tree,
    unsafe_manifest,
)
from dvc_synced_plugin.transports import Transport, open_transport


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


@dataclass
class Report:
    """What one push or pull did, for the one-line summary and for --json."""

    needed: int = 0  # objects the change involves
    moved: int = 0  # objects that crossed to or from central
    moved_bytes: int = 0
    skipped: int = 0  # objects the receiving side had already
    seconds: float = 0.0
    checkout_failed: list[str] = field(default_factory=list)

    def line(self, verb: str, where: str) -> str:
        return (
            f"{verb} {self.moved} object(s) ({human_bytes(self.moved_bytes)}) "
            f"{where} central, {self.skipped} already there, {self.seconds:.1f}s"
        )


class Engine:
    """The stores and the transport of one command, each opened once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.root
        dvcrepo.require_dvc_repo(self.root)
        self.cache = ObjectStore(dvcrepo.cache_dir(self.root), "DVC cache")
        self.local = ObjectStore(dvcrepo.local_storage(settings), "local storage")
        self._transport: Optional[Transport] = None
        self._checker: Optional[ThreadPoolExecutor] = None
        self.manifest_checks: dict[str, Future[Optional[str]]] = {}

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = open_transport(self.settings)
        return self._transport

    def close(self) -> None:
        if self._checker is not None:
            self._checker.shutdown(wait=True, cancel_futures=True)
        if self._transport is not None:
            self._transport.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lock(self):  # type: ignore[no-untyped-def]
        return storage_lock(self.local.root, max(300, self.settings.timeout))

    def read_manifest(self, ref: ObjectRef) -> Optional[bytes]:
        return self.cache.read(ref) or self.local.read(ref)

    def staging(self) -> Path:
        return self.local.work_dir("incoming")

    def fetch_into_local(self, refs: list[ObjectRef]) -> tuple[int, int]:
        """Download objects the local storage lacks; verify each before it gets its name."""
        if not refs:
            return 0, 0
        staging = self.staging()
        moved = size = 0
        for batch in ([r for r in refs if not r.is_dir], [r for r in refs if r.is_dir]):
            if not batch:
                continue
            self.download_staged(
                batch, "are not on central",
                ": whoever committed them must push again (`dvc-synced push`)",
            )
            for ref in batch:
                staged = staging / ref.relpath
                size += staged.stat().st_size
                moved += self.local.adopt(staged, ref, self.manifest_checks.get(ref.oid))
        return moved, size

    def check_manifest_soon(self, ref: ObjectRef, data: bytes) -> None:
        """Start the safety check of a verified manifest in the background.

        At 100,000 entries it takes ~50 ms, spent while this thread waits for rsync to
        bring the files; the local storage takes the manifest only with its verdict.
        The content is named by its hash, so the verdict holds for the staged copy.
        """
        if self._checker is None:
            self._checker = ThreadPoolExecutor(max_workers=1)
        self.manifest_checks[ref.oid] = self._checker.submit(unsafe_manifest, data,
                                                             ref.owner)

    def download_staged(self, refs: list[ObjectRef], absent: str, fix: str) -> None:
        """Stage `refs` from central; those staged already (manifests fetched earlier, whole
        files of a cut pull) are not asked for again.

        No probe first: one round trip when all is there; a shortfall costs a probe, to
        tell objects central lacks (`absent` + `fix`) from a broken transfer.
        """
        staging = self.staging()
        need = [r for r in refs if not (staging / r.relpath).is_file()]
        if not need:
            return
        failure: Optional[SyncError] = None
        try:
            self.transport.download([r.relpath for r in need], staging)
        except SyncError as exc:
            failure = exc
        short = [r for r in need if not (staging / r.relpath).is_file()]
        if short:
            on_central = self.transport.probe([r.relpath for r in short])
            lacking = [r for r in short if r.relpath not in on_central]
            if lacking:
                raise MissingObjectsError(_describe_missing(lacking, absent) + fix)
        if failure is not None:
            raise failure
        if short:
            ref = short[0]
            raise MissingObjectsError(
                f"central did not deliver {ref.relpath} ({ref.owner}): "
                "run `dvc-synced verify` to see what central lacks"
            )


def _describe_missing(refs: list[ObjectRef], where: str) -> str:
    owners = sorted({r.owner or r.oid for r in refs})
    shown = ", ".join(owners[:3]) + (f" and {len(owners) - 3} more" if len(owners) > 3 else "")
    return f"{len(refs)} object(s) of {shown} {where}"


def resolve_manifests(engine: Engine, objs: ObjectSet, unresolved: list[Out]) -> None:
    """Directory manifests not on this machine come from central (verified), then expand."""
    if not unresolved:
        return
    refs = [ObjectRef(o.oid, o.legacy, o.path) for o in unresolved]
    # Stage the manifests so the local storage gets them only after their files.
    staging = engine.staging()
    engine.download_staged(
        refs, "are in no cache, local storage nor central",
        ": push them from a clone that has the data (`dvc-synced push`)",
    )
    fetched: dict[str, bytes] = {}
    for ref in refs:
        staged = staging / ref.relpath
        with open(staged, "rb") as fobj:
            from dvc_synced_plugin.stores import content_hash, expected_hash

            if content_hash(fobj, ref.legacy) != expected_hash(ref):
                staged.unlink()
                raise CorruptObjectError(
                    f"central's manifest {ref.relpath} of {ref.owner} is corrupt: "
                    "run `dvc-synced verify` and re-push it from a clone that has it"
                )
        fetched[ref.relpath] = staged.read_bytes()
        engine.check_manifest_soon(ref, fetched[ref.relpath])

    def reader(ref: ObjectRef) -> Optional[bytes]:
        return fetched.get(ref.relpath) or engine.read_manifest(ref)

    expand_dirs(objs, unresolved, reader)


def push_objects(engine: Engine, objs: ObjectSet, report: Report) -> None:
    """Make central hold every object in `objs`, complete; raise when it cannot."""
    refs = objs.all()
    report.needed = len(refs)
    if not refs:
        return
    local_missing = engine.local.missing(refs)
    in_cache = [r for r in local_missing if engine.cache.has(r)]
    nowhere = [r for r in local_missing if not engine.cache.has(r)]

    central = engine.transport.probe([r.relpath for r in refs])
    lost = [r for r in nowhere if r.relpath not in central]
    if lost:
        raise MissingObjectsError(
            _describe_missing(lost, "are missing from the DVC cache and from central") +
            ": run `dvc commit` (or `dvc add`) for them, or push from the clone that made them"
        )
    # Only now that central answered and nothing is lost: a refused push changes nothing.
    in_local = set(refs).difference(local_missing)
    unstored = set(nowhere)
    bad = [
        r for r in refs
        if r.relpath in central and r not in unstored
        and central[r.relpath] != (engine.local if r in in_local else engine.cache).size(r)
    ]
    if bad:
        raise CorruptObjectError(
            _describe_missing(bad, "have the wrong size on central") +
            ": run `dvc-synced verify` and ask the storage's admin to remove the bad copies"
        )
    todo = [r for r in refs if r.relpath not in central]
    report.skipped = len(refs) - len(todo)
    send = {r for r in todo if not r.is_dir}
    # What central lacks is copied first, small files first: uploads start meanwhile.
    order = sorted(in_cache, key=lambda r: (r not in send, engine.cache.size(r)))
    uploads = _Uploads(engine, sum((engine.local if r in in_local else engine.cache).size(r)
                                   for r in send))
    try:
        for ref in send & in_local:
            uploads.ready(ref)
        for ref, _ in iter_copies(engine.cache, engine.local, order, engine.settings.jobs,
                                  verify=True, share=_cache_is_shareable(engine.root)):
            if ref in send:
                uploads.ready(ref)
    except BaseException:
        uploads.abort()
        raise
    uploads.finish()
    # File objects first: a .dir on a DVC remote makes DVC assume its files are there too.
    engine.transport.upload(engine.local.root, [r.relpath for r in todo if r.is_dir])
    if engine.settings.transport == "rsync":
        # rsync exits non-zero unless every listed file arrived whole (checksummed, renamed
        # in only once complete): a second listing of central would be one more round trip
        # (an ssh session) that cannot disagree. rclone exits 0 for some shortfalls.
        short = []
    else:
        after = engine.transport.probe([r.relpath for r in todo])
        short = [r for r in todo if after.get(r.relpath) != engine.local.size(r)]
    if short:
        raise MissingObjectsError(
            _describe_missing(short, "did not arrive complete on central") +
            ": run the push again"
        )
    report.moved = len(todo)
    report.moved_bytes = sum(engine.local.size(r) for r in todo)


class _Uploads:
    """File uploads that run while later objects are still being copied in (rsync).

    Copying 1 GiB into the local storage (read and hash, link or write) done first would
    add half the transfer time. And one rsync stream is limited by rsync itself, not by
    ssh: up to LANES sessions run at once over the shared connection. While objects
    still arrive, a session starts when none runs or the waiting bytes reach a threshold
    that grows fourfold (a handful of sessions: each costs a remote shell's start); what
    waits at the end goes in two halves.
    Small pushes send once, at the end: a session costs more than they gain.
    """

    PIPELINE_FROM = 64 << 20
    LANES = 2

    def __init__(self, engine: Engine, total: int) -> None:
        self.engine = engine
        self.lock = threading.RLock()
        self.waiting: list[tuple[ObjectRef, int]] = []
        self.threshold = max(total // 16, 8 << 20)
        self.cap = total  # at the end: half of what is left, to even out the lanes
        # rclone's uploads share one scratch dir on central: one at a time. A terminal
        # shows rsync's progress, which parallel runs would garble.
        self.pipelined = (total >= self.PIPELINE_FROM and engine.settings.transport == "rsync"
                          and not sys.stderr.isatty())
        self.pool: Optional[ThreadPoolExecutor] = None
        self.running: list[Future[None]] = []
        self.errors: list[BaseException] = []
        self.arriving = True
        self.stopped = False

    def ready(self, ref: ObjectRef) -> None:
        """`ref` is in the local storage and may be sent; raises a failed upload's error."""
        size = self.engine.local.size(ref)
        with self.lock:
            self.waiting.append((ref, size))
            if self.pipelined:
                self._launch()
            if self.errors:
                raise self.errors[0]

    def _launch(self) -> None:
        """Start what the policy allows (lock held)."""
        self.running = [f for f in self.running if not f.done()]
        while len(self.running) < self.LANES and not (self.errors or self.stopped):
            batch = self._next_batch()
            if not batch:
                return
            if self.pool is None:
                self.pool = ThreadPoolExecutor(max_workers=self.LANES)
            future = self.pool.submit(self.engine.transport.upload, self.engine.local.root,
                                      [r.relpath for r, _ in batch])
            self.running.append(future)
            future.add_done_callback(self._done)

    def _next_batch(self) -> list[tuple[ObjectRef, int]]:
        """The oldest waiting objects up to `cap` bytes; none yet while more arrive, a lane
        runs and the pile is under the threshold (fewer, larger sessions)."""
        if not self.waiting:
            return []
        if self.arriving and self.running:
            if sum(n for _, n in self.waiting) < self.threshold:
                return []
            self.threshold *= 4
        taken, size = 0, 0
        while taken < len(self.waiting) and (
                not taken or size + self.waiting[taken][1] <= self.cap):
            size += self.waiting[taken][1]
            taken += 1
        batch, self.waiting = self.waiting[:taken], self.waiting[taken:]
        return batch

    def _done(self, future: Future[None]) -> None:
        with self.lock:
            error = future.exception()
            if error is not None:
                self.errors.append(error)
            self._launch()

    def finish(self) -> None:
        """Send what is waiting and wait for every upload; raise the first failure."""
        if not self.pipelined:
            batch = [r.relpath for r, _ in self.waiting]
            self.waiting = []
            self.engine.transport.upload(self.engine.local.root, batch)
            return
        with self.lock:
            self.arriving = False
            self.cap = (sum(n for _, n in self.waiting) + 1) // 2
            self._launch()
        while True:
            with self.lock:
                running = [f for f in self.running if not f.done()]
                if self.errors or not (running or self.waiting):
                    break
                if not running:
                    self._launch()
                    continue
            wait(running, return_when=FIRST_COMPLETED)
        self.abort()
        if self.errors:
            raise self.errors[0]

    def abort(self) -> None:
        """Start nothing more; wait for the uploads under way."""
        with self.lock:
            self.stopped = True
        if self.pool is not None:
            self.pool.shutdown(wait=True)


def _cache_is_shareable(root: Path) -> bool:
    """Whether the local storage may link the cache's objects instead of copying them.

    Only when no workspace file is a hard link or symlink to a cache object: writing such
    a file in place would change the object, and a linked local storage with it.
    """
    return not {"hardlink", "symlink"} & set(dvcrepo.cache_types(root))


def pull_objects(engine: Engine, objs: ObjectSet, report: Report) -> None:
    """Bring every object in `objs` into the DVC cache, via the local storage."""
    refs = objs.all()
    report.needed = len(refs)
    cache_missing = engine.cache.missing(refs)
    to_fetch = engine.local.missing(cache_missing)
    if to_fetch:
        report.moved, report.moved_bytes = engine.fetch_into_local(to_fetch)
    report.skipped = len(refs) - len(to_fetch)
    copy_objects(engine.local, engine.cache, cache_missing, engine.settings.jobs, verify=False)


def collect(
    engine: Engine, changes: list[gitinfo.PointerChange]
) -> ObjectSet:
    objs, unresolved = needed_for_changes(engine.root, changes, engine.read_manifest)
    resolve_manifests(engine, objs, unresolved)
    return objs


def push_changes(
    settings: Settings, changes: Callable[[], list[gitinfo.PointerChange]]
) -> Report:
    start = time.monotonic()
    report = Report()
    with Engine(settings) as engine, engine.lock():
        push_objects(engine, collect(engine, changes()), report)
    report.seconds = time.monotonic() - start
    return report


def push_revisions(settings: Settings, revs: Iterable[str]) -> Report:
    """Everything the revisions need, on central (the manual `dvc-synced push`)."""
    shas = [gitinfo.rev_parse(settings.root, r) for r in revs]

    def changes() -> list[gitinfo.PointerChange]:
        result: list[gitinfo.PointerChange] = []
        for sha in shas:
            result += gitinfo.changes_between(settings.root, None, sha)
        return result

    return push_changes(settings, changes)


def pull_changes(
    settings: Settings,
    changes: list[gitinfo.PointerChange],
    checkout: bool = True,
    full_checkout: bool = False,
) -> Report:
    """Fetch what `changes` add, then `dvc checkout` the outputs involved."""
    start = time.monotonic()
    report = Report()
    with Engine(settings) as engine, engine.lock():
        objs = collect(engine, changes)
        pull_objects(engine, objs, report)
        with contextlib.suppress(OSError):
            remove_tree(engine.staging())
    stale = stale_outputs(settings.root, changes) if checkout else []
    if checkout and (objs.targets or full_checkout or stale):
        refuse_escaping_outputs(settings.root, changes)
        timeout = max(300, settings.timeout)
        git_dir = gitinfo.git_dir(settings.root)
        with workspace_lock(git_dir, timeout):
            record = workspace.record_file(git_dir)
            remove_stale_outputs(settings.root, engine, stale, record)
            targets = None if full_checkout else sorted(
                update_workspace(settings.root, engine.cache, objs, record))
            if targets is None or targets:
                report.checkout_failed = dvcrepo.checkout(settings.root, targets)
                if not report.checkout_failed:
                    workspace.record_checked_out(settings.root, record, [
                        new for _, new in objs.changed
                        if targets is None or new.target in targets])
    report.seconds = time.monotonic() - start
    return report


def stale_outputs(root: Path, changes: list[gitinfo.PointerChange]) -> list[Out]:
    """Outputs the changes move away or untrack; never a path git tracks (an output that
    became `cache: false` and was committed) or one the new pointers still record."""
    from dvc_synced_plugin.pointers import output_paths

    pairs = outs_of_changes(root, changes)
    if not any(old for old, _ in pairs):
        return []
    blobs = gitinfo.read_blobs(root, [c.new_blob for c in changes if c.new_blob])
    recorded: set[str] = set()
    for change in changes:
        if change.new_blob:
            recorded |= output_paths(change.path, blobs.get(change.new_blob))
    stale = workspace.removed_outputs(pairs, recorded)
    if stale:
        listed = gitinfo.git(root, "--literal-pathspecs", "ls-files", "-z", "--",
                             *[o.path for o in stale])
        tracked = {p.decode(errors="surrogateescape") for p in listed.split(b"\0") if p}
        stale = [o for o in stale if o.path not in tracked
                 and not any(t.startswith(o.path + "/") for t in tracked)]
    return stale


def remove_stale_outputs(root: Path, engine: Engine, stale: list[Out],
                         record: workspace.DirRecord) -> None:
    """Plain `dvc pull` removes outputs HEAD no longer has; so do we, unless changed."""
    if not stale:
        return
    kept = workspace.remove_stale(root, engine.cache, stale, engine.read_manifest, record)
    for path in kept:
        warn(f"{path} is no longer tracked by DVC but differs from its last version: kept")


def update_workspace(root: Path, cache: ObjectStore, objs: ObjectSet,
                     record: Optional[workspace.DirRecord] = None) -> set[str]:
    """Check out the changed entries ourselves; returns the targets left for `dvc checkout`.

    `dvc checkout` of a target scans every file of its directories; our update touches
    only what the manifests say changed. On an unexpected error DVC gets every target:
    it finishes a partial update as it would any other workspace state.
    """
    try:
        return workspace.update(root, cache, dvcrepo.cache_types(root), objs.changed,
                                objs.deltas, record)
    except OSError as exc:
        warn(f"updating the workspace directly failed ({exc}); running dvc checkout")
        return set(objs.targets)


def pull_revision(settings: Settings, rev: str = "HEAD") -> Report:
    """Everything the revision needs into the cache; the workspace too when it is HEAD."""
    sha = gitinfo.rev_parse(settings.root, rev)
    head = gitinfo.rev_parse(settings.root, "HEAD")
    changes = gitinfo.changes_between(settings.root, None, sha)
    if sha == head:
        changes += left_since_sync(settings.root, head)
    return pull_changes(settings, changes, checkout=sha == head, full_checkout=sha == head)


def left_since_sync(root: Path, head: str) -> list[gitinfo.PointerChange]:
    """Pointer changes since the commit the workspace was last synced to (a `git reset`
    fires no hook): outputs they drop leave the workspace as plain `dvc pull` removes
    them (HEAD's own pointers are all in the full pull already)."""
    from dvc_synced_plugin.hooks import read_state

    state, synced = read_state(root)
    if state != "ok" or synced == head or not gitinfo.has_commit(root, synced):
        return []
    return gitinfo.changes_between(root, synced, head)


def warn(message: str) -> None:
    print(f"dvc-synced: {message}", file=sys.stderr)


def _within(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip(os.sep) + os.sep)


def refuse_escaping_outputs(root: Path, changes: list[gitinfo.PointerChange]) -> None:
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
