"""The --files-from list both rsync and rclone read: one relative path a line."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from dvc_synced_plugin.errors import SyncError


@contextmanager
def files_from(relpaths: list[str]) -> Iterator[str]:
    for rel in relpaths:
        # Object paths are built from validated hex names; this guards the invariant.
        if "\n" in rel or "\r" in rel or rel.startswith(("/", "-")) or ".." in rel.split("/"):
            raise SyncError(f"refusing to transfer a malformed object path {rel!r}")
    fd, path = tempfile.mkstemp(prefix="dvc-synced-", suffix=".list")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fobj:
            fobj.write("".join(f"{rel}\n" for rel in relpaths))
        yield path
    finally:
        os.unlink(path)
