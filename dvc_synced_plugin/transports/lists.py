"""The --files-from list both rsync and rclone read: one relative path a line."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from dvc_synced_plugin.safety import check_object_path


@contextmanager
def files_from(relpaths: list[str]) -> Iterator[str]:
    for rel in relpaths:
        check_object_path(rel)
    fd, path = tempfile.mkstemp(prefix="dvc-synced-", suffix=".list")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fobj:
            fobj.write("".join(f"{rel}\n" for rel in relpaths))
        yield path
    finally:
        os.unlink(path)
