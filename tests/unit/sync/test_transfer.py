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
