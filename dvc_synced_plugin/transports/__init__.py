"""Transports move object files between a local store and the central storage.

Each transport gets explicit lists of object paths (relative to a store root) and never
lists or scans a whole store, never deletes, and never replaces an object that exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from dvc_synced_plugin.config import Settings


class Transport(Protocol):
    """The small interface every transport implements."""

    description: str  # for messages: "rsync over ssh to host:/srv/x"

    def probe(self, relpaths: list[str]) -> dict[str, int]:
        """Sizes of those of `relpaths` that central holds (absent ones are left out)."""

    def upload(self, src_root: Path, relpaths: list[str]) -> None:
        """Copy these objects from `src_root` to central, skipping ones central has."""

    def download(self, relpaths: list[str], dest_root: Path) -> None:
        """Copy these objects from central into `dest_root` (a staging directory)."""

    def check_writable(self) -> None:
        """Reach central and write a marker file there; raise SyncError naming the fix."""

    def close(self) -> None:
        """Release connections."""


def open_transport(settings: Settings) -> Transport:
    if settings.transport == "rclone":
        from dvc_synced_plugin.transports.rclone import RcloneTransport

        return RcloneTransport(settings)
    from dvc_synced_plugin.transports.rsync import RsyncTransport

    return RsyncTransport(settings)
