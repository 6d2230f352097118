"""A transport in pure Python to a local directory, for tests of the flows.

Like httpx's MockTransport: no external tool and no network, so a unit test can drive a
push or pull through the real flows and transfer queue, count calls, and inject faults
(`fail_upload_after`, `truncate`). It keeps the transport rules: listed paths only, an
object is published under its final name only once whole, and nothing is replaced.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Optional

from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.safety import check_object_path
from dvc_synced_plugin.settings import Settings
from dvc_synced_plugin.transports.base import Capabilities, missing_central


def parse_url(url: str, root: Path) -> str:
    if url.startswith("file://"):
        url = url[len("file://"):]
    return os.path.abspath(root / os.path.expanduser(url))


def tools(settings: Settings) -> list[str]:
    return []


class FakeTransport:
    capabilities = Capabilities(confirms_on_exit=True, lanes=2)
    retries = 0  # nothing here is transient

    def __init__(self, settings: Settings) -> None:
        self.path = Path(parse_url(settings.central, settings.root))
        self.description = f"fake transport to {self.path}"
        self.calls: list[tuple[str, int]] = []  # (verb, number of paths)
        self.fail_upload_after: Optional[int] = None  # objects, then a SyncError
        self.truncate: set[str] = set()  # relpaths whose upload arrives cut short
        self.report_existing = False  # upload returns what central had, as rsync 3 does
        self.not_files: dict[str, str] = {}

    def _central(self) -> Path:
        if not self.path.is_dir():
            raise missing_central(str(self.path), str(self.path))
        return self.path

    def probe(self, relpaths: list[str]) -> dict[str, int]:
        self.calls.append(("probe", len(relpaths)))
        central = self._central()
        sizes = {}
        for rel in relpaths:
            check_object_path(rel)
            path = central / rel
            if path.is_file() and not path.is_symlink():
                sizes[rel] = path.stat().st_size
            elif os.path.lexists(path):
                self.not_files[rel] = "a directory" if path.is_dir() else "a symlink"
        return sizes

    def reports_existing(self) -> bool:
        return self.report_existing

    def _copy(self, src: Path, dest: Path, cut: bool) -> bool:
        """False when `dest` was there already, whatever it is (never replaced)."""
        if os.path.lexists(dest):
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.tmp"
        shutil.copyfile(src, tmp)
        if cut:
            with open(tmp, "r+b") as fobj:
                fobj.truncate(max(0, tmp.stat().st_size - 1))
        os.chmod(tmp, 0o444)
        os.replace(tmp, dest)
        return True

    def upload(self, src_root: Path, relpaths: list[str]) -> Optional[set[str]]:
        existing: set[str] = set()
        if not relpaths:
            return existing if self.report_existing else None
        self.calls.append(("upload", len(relpaths)))
        central = self._central()
        for i, rel in enumerate(relpaths):
            check_object_path(rel)
            if self.fail_upload_after is not None and i >= self.fail_upload_after:
                raise SyncError("uploading to central failed (fake): run the command again")
            if not self._copy(src_root / rel, central / rel, rel in self.truncate):
                existing.add(rel)
        return existing if self.report_existing else None

    def download(self, relpaths: list[str], dest_root: Path) -> None:
        if not relpaths:
            return
        self.calls.append(("download", len(relpaths)))
        central = self._central()
        for rel in relpaths:
            check_object_path(rel)
            if (central / rel).is_file():
                self._copy(central / rel, dest_root / rel, False)

    def check_central(self) -> str:
        self._central()
        return f"{self.description}: exists"

    def create_central(self) -> str:
        self.path.mkdir(exist_ok=True)
        return f"created {self.path}"

    def close(self) -> None:
        pass


TRANSPORT = FakeTransport
