"""Concurrency: clones pushing the same objects to one central at once, a hook and a manual
pull in one clone at once, and the storage lock when its holder is SIGKILLed.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Team, User
from tests.faults.support import (
    Throttle,
    alive,
    assert_sound,
    commit,
    kill,
    kill_tree,
    md5,
    scan_store,
    synced_cmd,
    track,
    wait_for,
)

ROUNDS = 20


def start(user: User, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=user.repo, env=env or user.env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def finish(proc: subprocess.Popen, what: str) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{out}\n{err}"
    return err


@pytest.mark.slow
def test_two_clones_push_overlapping_data_at_once(team: Team) -> None:
    """20 rounds: alice (rsync) and bob (rclone) publish the same new objects at the same
    moment, each with one of its own, through `git push` to their own branch."""
    rng = random.Random(int(os.environ.get("DVC_SYNCED_FAULT_SEED", "5")))
    alice = team.founder("alice")
    alice.synced("install")
    bob = team.user("bob")
    bob.synced("install")
    bob_env = {**bob.env, "DVC_SYNCED_TRANSPORT": "rclone"}
    expected: dict[str, bytes] = {}
    for r in range(ROUNDS):
        shared = {f"shared/r{r}-{i}.bin": rng.randbytes(rng.randint(1, 300_000))
                  for i in range(3)}
        pushes = []
        for user, env in ((alice, alice.env), (bob, bob_env)):
            own = {f"{user.name}/r{r}.bin": rng.randbytes(rng.randint(0, 50_000))}
            track(user, {**shared, **own})
            commit(user, f"round {r}")
            expected.update(shared)
            expected.update(own)
            pushes.append(start(user, ["git", "push", "-q", "origin",
                                       f"HEAD:refs/heads/{user.name}"], env))
        for user, proc in zip((alice, bob), pushes):
            finish(proc, f"round {r}: {user.name}'s push")
    central = assert_sound(Path(team.central))
    want = {f"files/md5/{md5(d)[:2]}/{md5(d)[2:]}" for d in expected.values()}
    assert want <= set(central), f"lost: {sorted(want - set(central))[:5]}"

    carol = team.user("carol")
    verify = carol.synced("verify", "--all", check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    for branch in ("alice", "bob"):
        carol.git("checkout", "-q", branch)
        carol.synced("pull")
    for path, data in expected.items():
        if path.startswith(("shared/", "bob/")):
            assert (carol.repo / path).read_bytes() == data, path


def test_hook_and_manual_pull_at_once(team: Team, tmp_path: Path) -> None:
    """`git pull` (post-merge hook) and `dvc-synced pull` in one clone at the same moment:
    the storage lock serialises them, both succeed, each object is fetched once."""
    rng = random.Random(11)
    alice = team.founder("alice")
    alice.synced("install")
    bob = team.user("bob")
    bob.synced("install")
    bob.synced("pull")
    files = {f"data/f{i}.bin": rng.randbytes(200_000) for i in range(5)}
    track(alice, files)
    commit(alice, "data")
    alice.git("push", "-q", "origin", "main")
    bob.git("fetch", "-q")

    slow = Throttle(tmp_path, kbps=1000)  # ~1 s of transfer: the two surely overlap
    env = slow.env(bob.env)
    hook = start(bob, ["git", "merge", "-q", "origin/main"], env)
    manual = start(bob, synced_cmd("pull", "--rev", "origin/main"), env)
    errs = finish(hook, "git merge with its hook") + finish(manual, "dvc-synced pull")
    assert "waiting for another dvc-synced" in errs, errs
    for path, data in files.items():
        assert (bob.repo / path).read_bytes() == data
    local = assert_sound(bob.local_storage())
    assert len(local) == len(files)
    again = bob.synced("pull")
    assert "downloaded 0 object(s)" in again.stdout, again.stdout


def test_lock_recovers_from_sigkilled_holder(team: Team, tmp_path: Path) -> None:
    """A pull SIGKILLed while it holds the lock mid-transfer: flock dies with it, the next
    pull starts at once and completes; no object is left half-made."""
    rng = random.Random(12)
    alice = team.founder("alice")
    alice.synced("push")
    files = {f"data/f{i}.bin": rng.randbytes(300_000) for i in range(4)}
    track(alice, files)
    commit(alice, "data")
    alice.synced("push")
    alice.git("push", "-q", "origin", "main")
    bob = team.user("bob")
    slow = Throttle(tmp_path, kbps=500)
    holder = start(bob, synced_cmd("pull"), slow.env(bob.env))
    wait_for(slow.running, 30, "the holder's rsync")
    kill_tree(holder)  # python (the flock holder) and its rsync, at once

    t0 = time.monotonic()
    proc = bob.synced("pull")
    assert time.monotonic() - t0 < 20
    assert "waiting for another" not in proc.stderr, proc.stderr
    for path, data in files.items():
        assert (bob.repo / path).read_bytes() == data
    assert_sound(bob.local_storage())
    assert_sound(bob.repo / ".dvc" / "cache")


def test_waits_for_live_holder_then_proceeds_when_it_dies(team: Team) -> None:
    """A live holder is waited for (not broken into); once it is killed, the waiter runs."""
    alice = team.founder("alice")
    track(alice, {"data/a.bin": b"a" * 1000})
    commit(alice, "data")
    alice.synced("push")
    alice.git("push", "-q", "origin", "main")
    bob = team.user("bob")
    # bob's local storage as the seed sets it up (status only reads: it sets up nothing)
    bob.dvc("remote", "add", "--local", "--default", "synced-storage", str(bob.home / "local"))
    lock = bob.local_storage() / ".dvc-synced" / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('held', flush=True)\n"
         "time.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        waiter = start(bob, synced_cmd("pull"))
        time.sleep(2)
        assert waiter.poll() is None, "the pull ran while another process held the lock"
        assert assert_sound(bob.local_storage()) == {}
    finally:
        kill([holder.pid])
        holder.wait()
    assert not alive(holder.pid)
    err = finish(waiter, "the waiting pull")
    assert "waiting for another dvc-synced" in err, err
    assert (bob.repo / "data/a.bin").read_bytes() == b"a" * 1000
    assert scan_store(bob.local_storage())[1] == []
