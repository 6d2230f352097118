"""Cut-off transfers: real rsync/rclone processes (and whole hooks) SIGKILLed mid-object.

What must hold after every cut: no object under its final name with wrong bytes, on
central and on the local storage; the git remote did not move; the next run finishes the
job and does not send again what arrived whole (same inode on the receiving side).
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Sshd, Team, rclone_env, start_sshd
from tests.faults.support import (
    Throttle,
    assert_sound,
    children,
    commit,
    kill,
    kill_tree,
    reap_ssh_masters,
    scan_store,
    server_ref,
    track,
    wait_for,
)

SEED = int(os.environ.get("DVC_SYNCED_FAULT_SEED", "0")) or random.randrange(1 << 30)
OBJECTS = 6
SIZE = 256 * 1024


def dataset(rng: random.Random) -> dict[str, bytes]:
    return {f"data/part{i}.bin": rng.randbytes(SIZE) for i in range(OBJECTS)}


def landing(central: Path) -> Path:
    """Where whole uploads appear first: central itself (rsync renames each file in when
    whole) or rclone's per-storage scratch dir there (see transports/rclone.py)."""
    scratch = sorted((central / ".dvc-synced" / "upload").glob("*"))
    return scratch[0] if scratch else central


def cut_upload(team: Team, env_for_slow: dict[str, str], kill_what: str,
               rng: random.Random, marker: str = "") -> None:
    """alice's `git push` is cut mid-upload; then a plain `git push` must finish the job."""
    alice = team.founder("alice")
    alice.synced("install")
    objs = track(alice, dataset(rng))
    commit(alice, "data")
    before = server_ref(alice)
    central = Path(team.central.split(":", 1)[-1]) if ":" in team.central else Path(
        team.central)
    want_whole = rng.randint(1, OBJECTS - 2)

    proc = subprocess.Popen(["git", "push", "-q", "origin", "main"], cwd=alice.repo,
                            env=env_for_slow, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    wait_for(lambda: len(scan_store(landing(central))[0]) >= want_whole, 60,
             f"{want_whole} whole objects on central (seed {SEED})")
    if kill_what == "transfer":
        # Only the transfer tool dies (a dropped link, an OOM kill): the hook sees it fail.
        tools = [p for p in children(proc.pid)
                 if Path(f"/proc/{p}/comm").read_text().strip() in ("rsync", "rclone")]
        kill(tools)
    else:
        # The whole `git push` (git, hook, python, rsync/ssh) dies at once: kill -9, power cut.
        kill_tree(proc)
    out, err = proc.communicate(timeout=60)
    if marker:
        reap_ssh_masters(marker)
    assert proc.returncode != 0, (out, err)
    assert server_ref(alice) == before, "git remote moved although the data is incomplete"
    assert_sound(central)
    whole = scan_store(landing(central))[0]
    assert whole, "nothing arrived whole: the cut came too early to test resumption"
    assert len(whole) < len(objs), f"the cut came too late (seed {SEED})"
    if kill_what == "transfer":
        assert "push refused" in err, err

    alice.git("push", "-q", "origin", "main")
    assert server_ref(alice) == alice.git("rev-parse", "HEAD").stdout.strip()
    after = assert_sound(central)
    assert set(objs.values()) <= set(after), "the second push did not complete central"
    for rel, inode in whole.items():
        assert after[rel] == inode, f"{rel} arrived whole but was sent again"


def test_rsync_local_killed_mid_upload(team: Team, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    slow = Throttle(tmp_path, kbps=1024)
    alice_env = team.user("alice").env
    cut_upload(team, slow.env(alice_env), "transfer", rng)


def test_rsync_ssh_push_killed_mid_upload(tmp_path: Path) -> None:
    """The whole `git push` is SIGKILLed while rsync over ssh is mid-object."""
    rng = random.Random(SEED + 1)
    server = start_sshd(tmp_path / "sshd")
    try:
        central = tmp_path / "central"
        central.mkdir()
        team = Team(tmp_path, f"dvc-server:{central}",
                    extra_env={"DVC_SYNCED_SSH_COMMAND": server.ssh_command()})
        slow = Throttle(tmp_path, kbps=1024)
        cut_upload(team, slow.env(team.user("alice").env), "all", rng,
                   marker=str(server.ssh_config))
    finally:
        reap_ssh_masters(str(tmp_path / "sshd"))
        server.stop()


def rclone_team(tmp_path: Path, backend: str, server: Sshd | None) -> Team:
    central = tmp_path / "central"
    central.mkdir()
    if backend == "local":
        return Team(tmp_path, str(central), transport="rclone")
    assert server is not None
    env = rclone_env("central", {
        "type": "sftp", "host": "127.0.0.1", "port": str(server.port), "user": server.user,
        "key_file": str(server.client_key), "shell_type": "unix", "md5sum_command": "md5sum",
        "sha1sum_command": "sha1sum",
    })
    return Team(tmp_path, f"central:{central}", transport="rclone", extra_env=env)


@pytest.mark.parametrize("backend", ["local", "sftp"])
def test_rclone_killed_mid_upload(tmp_path: Path, backend: str) -> None:
    """rclone 1.60 writes in place on local and sftp: a cut must still leave no bad object."""
    rng = random.Random(SEED + 2)
    server = start_sshd(tmp_path / "sshd") if backend == "sftp" else None
    try:
        team = rclone_team(tmp_path, backend, server)
        # One transfer at a time, so the cut finds some objects whole and one half-sent.
        env = {**team.user("alice").env, "RCLONE_BWLIMIT": "1M", "DVC_SYNCED_JOBS": "1"}
        cut_upload(team, env, "transfer", rng)
    finally:
        if server:
            server.stop()


@pytest.mark.parametrize("transport,kill_what", [
    ("rsync", "transfer"), ("rsync", "all"), ("rclone", "transfer")])
def test_killed_mid_download(tmp_path: Path, transport: str, kill_what: str) -> None:
    """bob's `git pull` is cut mid-download (the tool, or git and its hook with it):
    nothing unverified in his stores, the workspace as it was, the fix printed. Whole
    objects stay staged, so `dvc-synced pull` later does not fetch them again."""
    rng = random.Random(SEED + 3)
    central = tmp_path / "central"
    central.mkdir()
    team = Team(tmp_path, str(central), transport=transport)
    alice = team.founder("alice")
    alice.synced("install")
    bob = team.user("bob")
    bob.synced("install")
    bob.synced("pull")
    objs = track(alice, dataset(rng))
    commit(alice, "data")
    alice.git("push", "-q", "origin", "main")

    slow = Throttle(tmp_path, kbps=1024)
    env = {**slow.env(bob.env), "RCLONE_BWLIMIT": "1M", "DVC_SYNCED_JOBS": "1"}
    local = bob.local_storage()
    staging = local / ".dvc-synced" / "incoming"
    # rclone downloads into a partial dir and moves whole files in (transports/rclone.py)
    land = staging / ".rclone-partial" if transport == "rclone" else staging
    want_whole = rng.randint(1, OBJECTS - 2)
    proc = subprocess.Popen(["git", "pull", "-q"], cwd=bob.repo, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    wait_for(lambda: len(scan_store(land)[0]) >= want_whole, 60, "whole staged objects")
    if kill_what == "transfer":
        kill([p for p in children(proc.pid)
              if Path(f"/proc/{p}/comm").read_text().strip() in ("rsync", "rclone")])
    else:
        kill_tree(proc)
    out, err = proc.communicate(timeout=60)
    if kill_what == "transfer":
        assert proc.returncode == 0, err  # git ignores post-merge; git's own work is done
        assert "dvc-synced pull" in err, err
    staged = scan_store(land)[0]
    assert staged and len(staged) < len(objs)
    assert assert_sound(local) == {}, "objects entered the local storage before verification"
    assert assert_sound(bob.repo / ".dvc" / "cache") == {}
    assert not (bob.repo / "data" / "part0.bin").exists(), "workspace changed by a cut pull"

    if kill_what == "all":  # git itself died after its merge, inside the hook
        assert bob.git("rev-parse", "HEAD").stdout == alice.git("rev-parse", "HEAD").stdout
    bob.synced("pull")
    for rel in objs:
        assert (bob.repo / rel).read_bytes() == (alice.repo / rel).read_bytes()
    final = assert_sound(local)
    for rel, inode in staged.items():
        assert final[rel] == inode, f"{rel} was downloaded whole, then fetched again"
    assert not staging.exists() or scan_store(staging)[0] == {}
