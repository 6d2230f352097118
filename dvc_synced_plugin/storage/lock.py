"""Locks: one per local storage (transfers), one per work tree (workspace updates), so a
hook and a manual command never interleave.

flock(2) is released by the kernel when its holder dies, so a crashed run never leaves
a stale lock behind; the pid written inside is only for the waiting message.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.git.gitinfo import STATE_DIR
from dvc_synced_plugin.output import say


def storage_lock(storage: Path, timeout: float) -> AbstractContextManager[None]:
    return file_lock(storage / ".dvc-synced" / "lock", timeout, f"the local storage {storage}")


def workspace_lock(git_dir: Path, timeout: float) -> AbstractContextManager[None]:
    """DVC's own repository lock gives up after ~3 s; a large checkout outlasts that."""
    return file_lock(git_dir / STATE_DIR / "workspace.lock", timeout, "this work tree")


@contextmanager
def file_lock(path: Path, timeout: float, what: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o664)
    try:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    raise SyncError(
                        f"{what} is busy (pid {holder}) for over "
                        f"{timeout:.0f}s: wait for it, or raise dvc-synced.timeout"
                    ) from None
                if not told:
                    say(f"waiting for another dvc-synced on {what}...")
                    told = True
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock
