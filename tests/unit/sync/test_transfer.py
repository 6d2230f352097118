"""Manifests sent as deltas where the transport can, and plainly when a delta fails."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.oids import ObjectRef
from dvc_synced_plugin.sync.transfer import upload_manifests
from dvc_synced_plugin.transports.base import Capabilities

NEW = ObjectRef("ab" * 16 + ".dir", False)
OLD = ObjectRef("cd" * 16 + ".dir", False)


class Stub:
    capabilities = Capabilities(delta=True)

    def __init__(self, delta: Optional[set[str]] | SyncError) -> None:
        self.delta = delta
        self.calls: list[str] = []

    def upload_delta(self, src_root: Path, relpaths: list[str],
                     bases: dict[str, str]) -> Optional[set[str]]:
        self.calls.append("delta")
        assert bases == {NEW.relpath: OLD.relpath}
        if isinstance(self.delta, SyncError):
            raise self.delta
        return self.delta

    def upload(self, src_root: Path, relpaths: list[str]) -> Optional[set[str]]:
        self.calls.append("upload")
        return {"plain"}


def test_delta_first_then_plain_when_it_fails_or_declines(tmp_path: Path) -> None:
    bases = {NEW.relpath: OLD.relpath, "files/md5/ee/other.dir": OLD.relpath}
    done = Stub(set())
    assert upload_manifests(done, tmp_path, [NEW], bases) == set()  # type: ignore[arg-type]
    assert done.calls == ["delta"]
    for delta in (None, SyncError("the staged result did not hash right")):
        stub = Stub(delta)
        assert upload_manifests(stub, tmp_path, [NEW], bases) == {"plain"}  # type: ignore[arg-type]
        assert stub.calls == ["delta", "upload"]
    plain = Stub(set())
    assert upload_manifests(plain, tmp_path, [NEW], {}) == {"plain"}  # type: ignore[arg-type]
    assert plain.calls == ["upload"]


class Lanes:
    """A transport with two lanes whose uploads record their batches."""

    capabilities = Capabilities(lanes=2)

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def upload(self, src_root: Path, relpaths: list[str]) -> Optional[set[str]]:
        self.batches.append(relpaths)
        return set()


def test_upload_queue_keeps_its_pile_as_objects_arrive_and_leave(tmp_path: Path) -> None:
    """The pile (bytes waiting) is kept as objects arrive and batches leave, not summed
    over every waiting object at each arrival (quadratic in a first push of 100,000
    small objects, #23); every object is sent once, batches as the thresholds say."""
    from dvc_synced_plugin.sync.transfer import UploadQueue

    size = 1 << 20
    refs = [ObjectRef(f"{i:032x}", False) for i in range(200)]
    transport = Lanes()
    queue = UploadQueue(transport, tmp_path, len(refs) * size)  # type: ignore[arg-type]
    assert queue.pipelined
    for ref in refs:
        queue.ready(ref, size)
        with queue.lock:
            assert queue.pile == sum(n for _, n in queue.waiting)
    assert queue.finish() == set()
    assert queue.pile == 0 and not queue.waiting
    sent = [rel for batch in transport.batches for rel in batch]
    assert sorted(sent) == sorted(r.relpath for r in refs)
    assert len(transport.batches) >= 2  # a lane started before the last object arrived
