"""The --files-from list both rsync and rclone read: one relative path a line."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from dvc_synced_plugin.safety import check_object_path


@contextmanager
def files_from(relpaths: list[str]) -> Iterator[str]:
    """Sorted and without repeats: rsync's cost for an unsorted --files-from list (the
    implied directories change from one line to the next) grows far faster than the list:
    30,000 shuffled objects took 26 s to probe over ssh, sorted 1.2 s; neither tool
    depends on the list's order."""
    for rel in relpaths:
        check_object_path(rel)
    fd, path = tempfile.mkstemp(prefix="dvc-synced-", suffix=".list")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fobj:
            fobj.write("".join(f"{rel}\n" for rel in sorted(set(relpaths))))
        yield path
    finally:
        os.unlink(path)
