"""The file locks: a live holder is waited for (then a clear error), a dead one frees it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.storage.lock import file_lock, workspace_lock

HOLD = """
import sys, time
from pathlib import Path
from dvc_synced_plugin.storage.lock import workspace_lock
with workspace_lock(Path(sys.argv[1]), 5):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold(git_dir: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(git_dir), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_waits_for_a_live_holder(tmp_path: Path) -> None:
    proc = hold(tmp_path, 1.0)
    start = time.monotonic()
    with workspace_lock(tmp_path, 10):
        waited = time.monotonic() - start
    proc.wait()
    assert waited >= 0.5


def test_gives_up_with_one_line_naming_the_fix(tmp_path: Path) -> None:
    proc = hold(tmp_path, 10)
    try:
        with pytest.raises(SyncError, match=rf"busy \(pid {proc.pid}\).*dvc-synced.timeout"), \
                workspace_lock(tmp_path, 0.3):
            pass
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_holder_frees_the_lock_at_once(tmp_path: Path) -> None:
    proc = hold(tmp_path, 60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    start = time.monotonic()
    with file_lock(tmp_path / "dvc-synced" / "workspace.lock", 5, "this work tree"):
        assert time.monotonic() - start < 0.5
