"""The transfer queue: objects to and from central through one transport.

Uploads overlap the copy into the local storage and may run in parallel lanes;
downloads land in a staging directory and get their names only once verified (by the
caller). What the queue may do comes from the transport's `capabilities`.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Optional

from dvc_synced_plugin import output
from dvc_synced_plugin.errors import MissingObjectsError, SyncError
from dvc_synced_plugin.oids import ObjectRef
from dvc_synced_plugin.transports.base import Transport


def upload_manifests(transport: Transport, src_root: Path, manifests: list[ObjectRef],
                     bases: dict[str, str]) -> Optional[set[str]]:
    """`transport.upload` of manifests, as deltas against older versions (`bases`:
    relpath -> relpath) where the transport can. A delta that fails in any way (a server
    without md5sum, a shell that is not sh, a result that did not hash right: nothing of
    it got a name) is followed by the plain upload, which settles it."""
    rels = [r.relpath for r in manifests]
    wanted = {r: b for r, b in bases.items() if r in rels}
    if wanted and transport.capabilities.delta:
        try:
            had = transport.upload_delta(src_root, rels, wanted)  # type: ignore[attr-defined]
        except SyncError:
            had = None
        if had is not None:
            return had
    return transport.upload(src_root, rels)


def describe_missing(refs: list[ObjectRef], where: str) -> str:
    owners = sorted({r.owner or r.oid for r in refs})
    shown = ", ".join(owners[:3]) + (f" and {len(owners) - 3} more" if len(owners) > 3 else "")
    return f"{len(refs)} object(s) of {shown} {where}"


def download_staged(transport: Transport, staging: Path, refs: list[ObjectRef], absent: str,
                    fix: str, lacking_ok: bool = False,
                    bases: Optional[dict[str, Path]] = None) -> list[ObjectRef]:
    """Stage `refs` from central; those staged already (manifests fetched earlier, whole
    files of a cut pull) are not asked for again. Returns the refs central lacks, which
    is an error (`absent` + `fix`) unless `lacking_ok`.

    `bases`: relpath -> an older version here (manifests): sent as a delta against it
    where the transport can (`Capabilities.delta`); the caller hashes what arrives.

    No probe first: one round trip when all is there; a shortfall costs a probe, to
    tell objects central lacks from a broken transfer.
    """
    need = [r for r in refs if not (staging / r.relpath).is_file()]
    if not need:
        return []
    failure: Optional[SyncError] = None
    rels = [r.relpath for r in need]
    try:
        if not (bases and transport.capabilities.delta and transport.download_delta(  # type: ignore[attr-defined]
                rels, staging, {r: p for r, p in bases.items() if r in rels})):
            transport.download(rels, staging)
    except SyncError as exc:
        failure = exc
    short = [r for r in need if not (staging / r.relpath).is_file()]
    lacking: list[ObjectRef] = []
    if short:
        on_central = transport.probe([r.relpath for r in short])
        lacking = [r for r in short if r.relpath not in on_central]
        if lacking and not lacking_ok:
            raise MissingObjectsError(describe_missing(lacking, absent) + fix)
    undelivered = [r for r in short if r not in lacking]
    # A failure that only says "listed files are missing" (rsync's exit 23) is explained
    # by what central lacks; any other is raised as it is.
    if failure is not None and (undelivered or not short):
        raise failure
    if undelivered:
        ref = undelivered[0]
        raise MissingObjectsError(
            f"central did not deliver {ref.relpath} ({ref.owner}): "
            "run `dvc-synced verify` to see what central lacks"
        )
    return lacking


class UploadQueue:
    """File uploads that run while later objects are still being copied in.

    Copying 1 GiB into the local storage (read and hash, link or write) done first would
    add half the transfer time. And one stream is limited by the tool itself, not by ssh:
    up to `lanes` sessions run at once over the shared connection. While objects still
    arrive, a session starts when none runs or the waiting bytes reach a threshold that
    grows fourfold (a handful of sessions: each costs a remote shell's start); what waits
    at the end goes in two halves. Small pushes send once, at the end: a session costs
    more than they gain.
    """

    PIPELINE_FROM = 64 << 20

    def __init__(self, transport: Transport, src_root: Path, total: int) -> None:
        self.transport = transport
        self.src_root = src_root
        self.lock = threading.RLock()
        self.waiting: list[tuple[ObjectRef, int]] = []
        self.threshold = max(total // 16, 8 << 20)
        self.cap = total  # at the end: half of what is left, to even out the lanes
        caps = transport.capabilities
        self.lanes = max(1, caps.lanes)
        # Live progress on a terminal would be garbled by parallel runs.
        showing = caps.progress and output.progress_on_terminal()
        self.pipelined = total >= self.PIPELINE_FROM and self.lanes > 1 and not showing
        self.pool: Optional[ThreadPoolExecutor] = None
        self.running: list[Future[None]] = []
        self.errors: list[BaseException] = []
        # Listed objects the uploads found on central already; None once one upload
        # could not tell (see Transport.reports_existing).
        self.existing: Optional[set[str]] = set()
        self.arriving = True
        self.stopped = False

    def ready(self, ref: ObjectRef, size: int) -> None:
        """`ref` is in the source store and may be sent; raises a failed upload's error."""
        with self.lock:
            self.waiting.append((ref, size))
            if self.pipelined:
                self._launch()
            if self.errors:
                raise self.errors[0]

    def _launch(self) -> None:
        """Start what the policy allows (lock held)."""
        self.running = [f for f in self.running if not f.done()]
        while len(self.running) < self.lanes and not (self.errors or self.stopped):
            batch = self._next_batch()
            if not batch:
                return
            if self.pool is None:
                self.pool = ThreadPoolExecutor(max_workers=self.lanes)
            future = self.pool.submit(self._upload, [r.relpath for r, _ in batch])
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

    def _upload(self, relpaths: list[str]) -> None:
        found = self.transport.upload(self.src_root, relpaths)
        with self.lock:
            if found is None:
                self.existing = None
            elif self.existing is not None:
                self.existing |= found

    def _done(self, future: Future[None]) -> None:
        with self.lock:
            error = future.exception()
            if error is not None:
                self.errors.append(error)
            self._launch()

    def finish(self) -> Optional[set[str]]:
        """Send what is waiting and wait for every upload; raise the first failure.
        Returns the objects central had already, when the transport could tell."""
        if not self.pipelined:
            batch = [r.relpath for r, _ in self.waiting]
            self.waiting = []
            if batch:
                self._upload(batch)
            return self.existing
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
        return self.existing

    def abort(self) -> None:
        """Start nothing more; wait for the uploads under way."""
        with self.lock:
            self.stopped = True
        if self.pool is not None:
            self.pool.shutdown(wait=True)
