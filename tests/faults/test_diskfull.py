"""Disk full on the receiving side (a real 2 MB tmpfs): central on a push, the local storage
and the DVC cache on a pull. A clear error, no partial object under a final name, no git
ref pushed; once space is freed (the tmpfs grown) the same command completes.
Needs root (mount); skipped where mounting is not permitted.
"""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import Team
from tests.faults.support import assert_sound, commit, server_ref, track

Mount = Callable[[Path, str], Path]


@pytest.fixture
def tmpfs() -> Iterator[Mount]:
    """Mount small tmpfs filesystems; every one is unmounted afterwards."""
    mounted: list[Path] = []

    def mount(path: Path, size: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                               str(path)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'not root'})")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", str(path)], capture_output=True)
        if os.path.ismount(path):
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def grow(path: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


def data(seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {f"data/f{i}.bin": rng.randbytes(600_000) for i in range(5)}  # 3 MB


def test_push_to_full_central(tmp_path: Path, tmpfs: Mount) -> None:
    central = tmpfs(tmp_path / "central", "2m")
    team = Team(tmp_path, str(central))
    alice = team.founder("alice")
    alice.synced("install")
    objs = track(alice, data(1))
    commit(alice, "data")
    before = server_ref(alice)
    proc = alice.git("push", "origin", "main", check=False)
    assert proc.returncode != 0
    assert "push refused" in proc.stderr and "No space left on device" in proc.stderr, \
        proc.stderr
    assert "Traceback" not in proc.stderr
    assert server_ref(alice) == before
    whole = assert_sound(central)
    assert len(whole) < len(objs)

    grow(central, "16m")
    alice.git("push", "-q", "origin", "main")
    after = assert_sound(central)
    assert set(objs.values()) <= set(after)
    assert all(after[rel] == inode for rel, inode in whole.items()), "whole objects re-sent"
    assert server_ref(alice) == alice.git("rev-parse", "HEAD").stdout.strip()


@pytest.mark.parametrize("full", ["local storage", "cache"])
def test_pull_into_full_disk(tmp_path: Path, tmpfs: Mount, full: str) -> None:
    central = tmp_path / "central"
    central.mkdir()
    team = Team(tmp_path, str(central))
    alice = team.founder("alice")
    alice.synced("install")
    files = data(2)
    track(alice, files)
    commit(alice, "data")
    alice.git("push", "-q", "origin", "main")

    bob = team.user("bob")
    small = tmpfs(tmp_path / "small", "2m")
    if full == "local storage":
        bob.env["DVC_SYNCED_LOCAL"] = str(small / "store")
    else:
        bob.dvc("config", "--local", "cache.dir", str(small / "cache"))
    proc = bob.synced("pull", check=False)
    assert proc.returncode != 0, proc.stdout
    assert "No space left on device" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert_sound(bob.local_storage())
    assert_sound(small / "cache")
    assert not any((bob.repo / p).exists() for p in files)

    grow(small, "16m")
    bob.synced("pull")
    for path, content in files.items():
        assert (bob.repo / path).read_bytes() == content
