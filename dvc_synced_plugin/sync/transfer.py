"""The transfer queue: objects to and from central through one transport.

Uploads overlap the copy into the local storage and may run in parallel lanes;
downloads land in a staging directory and get their names only once verified (by the
caller). What the queue may do comes from the transport's `capabilities`.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
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
    """File uploads that run while later objects are still being hashed and copied in.

    Hashing 1 GiB (the check every byte gets before it leaves) done first would add a
    third of the transfer time; here it overlaps the sending. Each upload is a session
    (over ssh: a remote shell's start, 0.16 s of CPU as root on the benchmark's server),
    so a lane forms its batch only when it is ready to send: the first after the
    handshake, with everything verified meanwhile, and each later one with all that was
    verified while its previous batch went. Hashing outruns the wire, so one lane sends
    a bulk in two sessions. Up to `lanes` run at once: another starts only once the
    waiting pile reaches a threshold that grows fourfold (a handful of sessions); at the
    end a free lane takes half of what waits while another lane runs, so they end
    together. Small pushes send once, at the end: a session costs more than they gain.
    Only objects handed to `ready` (verified) are ever sent.
    """

    PIPELINE_FROM = 64 << 20
    SPLIT_FROM = 16 << 20  # a smaller rest at the end goes in one batch

    def __init__(self, transport: Transport, src_root: Path, total: int) -> None:
        self.transport = transport
        self.src_root = src_root
        self.lock = threading.Condition()
        self.waiting: list[tuple[ObjectRef, int]] = []
        # Bytes in `waiting`, kept as it changes: summed at each `ready`, a first push of
        # 100,000 small objects re-added the whole pile per object until a lane started.
        self.pile = 0
        self.threshold = max(total // 16, 8 << 20)
        caps = transport.capabilities
        # Live progress on a terminal would be garbled by parallel runs: there, sessions
        # follow each other (still overlapping the hashing).
        showing = caps.progress and output.progress_on_terminal()
        self.lanes = 1 if showing else max(1, caps.lanes)
        self.pipelined = total >= self.PIPELINE_FROM
        self.pool: Optional[ThreadPoolExecutor] = None
        self.connecting: Optional[Future[None]] = None
        self.active = 0  # lanes running (connecting, sending, or taking their next batch)
        self.errors: list[BaseException] = []
        # Listed objects the uploads found on central already; None once one upload
        # could not tell (see Transport.reports_existing).
        self.existing: Optional[set[str]] = set()
        self.arriving = True
        self.stopped = False

    def ready(self, ref: ObjectRef, size: int) -> None:
        """`ref` is verified in the source store and may be sent; raises a failed
        upload's error."""
        with self.lock:
            self.waiting.append((ref, size))
            self.pile += size
            if self.pipelined:
                self._launch()
            if self.errors:
                raise self.errors[0]

    def _pile(self) -> int:
        return self.pile

    def _launch(self) -> None:
        """Start a lane where the policy allows (lock held); the connection is opened at
        the first object, while the pile grows."""
        if self.pool is None and not (self.errors or self.stopped):
            self.pool = ThreadPoolExecutor(max_workers=self.lanes + 1)
            connect = getattr(self.transport, "connect", None)
            if connect is not None:
                self.connecting = self.pool.submit(connect)
        while (self.waiting and self.active < self.lanes and self.pool is not None
               and not (self.errors or self.stopped)):
            if self.arriving and self._pile() < self.threshold:
                return
            self.active += 1
            self.pool.submit(self._lane)

    def _take(self) -> list[tuple[ObjectRef, int]]:
        """A lane's next batch (lock held): none while more arrive and the pile is under
        the threshold (another lane runs) or nothing waits; at the end, half while
        another lane runs."""
        if self.errors or self.stopped or not self.waiting:
            return []
        others = self.active > 1
        pile = self._pile()
        if others and self.arriving:
            if pile < self.threshold:
                return []
            self.threshold *= 4
        if not others or self.arriving or pile < self.SPLIT_FROM:
            batch, self.waiting = self.waiting, []
            self.pile = 0
            return batch
        taken, size = 0, 0
        while taken < len(self.waiting) and (
                not taken or size + self.waiting[taken][1] <= (pile + 1) // 2):
            size += self.waiting[taken][1]
            taken += 1
        batch, self.waiting = self.waiting[:taken], self.waiting[taken:]
        self.pile -= size
        return batch

    def _lane(self) -> None:
        """One lane: connect (if the transport can ahead of a transfer), then send batches
        until there is none to take."""
        try:
            if self.connecting is not None:
                self.connecting.result()
            while True:
                with self.lock:
                    batch = self._take()
                    if not batch:
                        return
                self._upload([r.relpath for r, _ in batch])
        except BaseException as exc:  # handed to the thread that waits on the queue
            with self.lock:
                self.errors.append(exc)
        finally:
            with self.lock:
                self.active -= 1
                self._launch()
                self.lock.notify_all()

    def _upload(self, relpaths: list[str]) -> None:
        found = self.transport.upload(self.src_root, relpaths)
        with self.lock:
            if found is None:
                self.existing = None
            elif self.existing is not None:
                self.existing |= found

    def finish(self) -> Optional[set[str]]:
        """Send what is waiting and wait for every upload; raise the first failure.
        Returns the objects central had already, when the transport could tell."""
        if not self.pipelined:
            batch = [r.relpath for r, _ in self.waiting]
            self.waiting = []
            self.pile = 0
            if batch:
                self._upload(batch)
            return self.existing
        with self.lock:
            self.arriving = False
            self._launch()
            while not self.errors and (self.active or self.waiting):
                self.lock.wait()
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
