"""`dvc-synced fetch` end to end over the loopback sshd, and pulls that then need no central.

Each test starts its own sshd so it can stop it. ssh runs through a wrapper that logs every
invocation: "no ssh session" is checked as no new line in that log, not inferred.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Sshd, Team, User, run, start_sshd, store_objects, tree_digest
from tests.faults.support import commit, md5, object_path, track


@dataclass
class Pair:
    team: Team
    sshd: Sshd
    alice: User
    bob: User
    ssh_log: Path

    def ssh_calls(self) -> int:
        return len(self.ssh_log.read_text().splitlines()) if self.ssh_log.exists() else 0


def dvc_add(user: User, files: dict[str, bytes], target: str) -> None:
    for rel, data in files.items():
        user.write(rel, data)
    user.dvc("add", "-q", target)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    sshd = start_sshd(tmp_path / "sshd")
    ssh_log = tmp_path / "ssh-calls.log"
    wrapper = tmp_path / "ssh-logged"
    wrapper.write_text(f"#!/bin/sh\necho \"$*\" >> {ssh_log}\nexec ssh \"$@\"\n")
    os.chmod(wrapper, 0o755)
    central = tmp_path / "central"
    central.mkdir()
    team = Team(tmp_path, f"dvc-server:{central}",
                extra_env={"DVC_SYNCED_SSH_COMMAND": f"{wrapper} -F {sshd.ssh_config}"})
    alice = team.founder("alice")
    alice.synced("install")
    dvc_add(alice, {"data/a.txt": b"alpha 1\n", "data/b.txt": b"beta 1\n"}, "data")
    commit(alice, "data v1")
    alice.git("push", "-q", "origin", "main")
    bob = team.user("bob")
    bob.synced("install")
    bob.synced("pull")
    try:
        yield Pair(team, sshd, alice, bob, ssh_log)
    finally:
        sshd.stop()


def feature_branch(pair: Pair) -> dict[str, str]:
    """alice: a branch that changes the directory and adds a file; returns its digests."""
    alice = pair.alice
    alice.git("switch", "-q", "-c", "feature")
    dvc_add(alice, {"data/a.txt": b"alpha 2\n", "data/c.txt": b"gamma 1\n"}, "data")
    track(alice, {"model.bin": b"model 1\n" * 500})
    commit(alice, "feature data")
    alice.git("push", "-q", "-u", "origin", "feature")
    return {**tree_digest(alice.repo / "data"), **tree_digest(alice.repo / "model.bin")}


def workspace(user: User) -> dict[str, str]:
    return {**tree_digest(user.repo / "data"), **tree_digest(user.repo / "model.bin")}


def test_fetched_branch_switches_offline(pair: Pair) -> None:
    expected = feature_branch(pair)
    bob = pair.bob
    before_ws = tree_digest(bob.repo / "data")
    out = bob.synced("fetch", "--git-fetch").stdout
    assert "fetched 4 object(s)" in out, out  # a.txt v2, c.txt, the new manifest, model.bin
    assert tree_digest(bob.repo / "data") == before_ws  # the workspace is not touched
    assert not (bob.repo / "model.bin").exists()

    calls = pair.ssh_calls()
    assert calls > 0  # the wrapper is what ssh runs as
    again = json.loads(bob.synced("fetch", "--json").stdout)
    assert again["fetched"] == 0 and again["known"] == again["revisions"] > 0
    assert pair.ssh_calls() == calls, "a fetch that moves nothing opened an ssh session"

    pair.sshd.stop()
    switched = bob.git("switch", "feature")
    assert "warning" not in switched.stderr, switched.stderr
    assert workspace(bob) == expected
    # Back and forth, and the manual pull: all from the local storage.
    bob.git("switch", "main")
    assert tree_digest(bob.repo / "data") == before_ws
    bob.git("switch", "feature")
    assert "0 object(s)" in bob.synced("pull").stdout
    assert workspace(bob) == expected
    assert pair.ssh_calls() == calls


def test_fetched_commit_pulls_offline(pair: Pair) -> None:
    alice, bob = pair.alice, pair.bob
    dvc_add(alice, {"data/b.txt": b"beta 2\n", "data/d.txt": b"delta\n"}, "data")
    commit(alice, "data v2")
    alice.git("push", "-q", "origin", "main")
    expected = tree_digest(alice.repo / "data")
    bob.synced("fetch", "--git-fetch", "--recent", "3")
    pair.sshd.stop()
    calls = pair.ssh_calls()
    pulled = bob.git("pull", "-q")
    assert "warning" not in pulled.stderr, pulled.stderr
    assert tree_digest(bob.repo / "data") == expected
    assert pair.ssh_calls() == calls


def test_recent_includes_previous_versions_and_skips_old_branches(pair: Pair) -> None:
    """A branch's earlier commit within DAYS has its data fetched too; an old branch not."""
    alice, bob = pair.alice, pair.bob
    alice.git("switch", "-q", "-c", "steps")
    track(alice, {"model.bin": b"step 1\n"})
    step1 = commit(alice, "step 1")
    track(alice, {"model.bin": b"step 2\n"})
    commit(alice, "step 2")
    alice.git("push", "-q", "origin", "steps")
    alice.git("switch", "-q", "-c", "stale", "main")
    track(alice, {"old.bin": b"old\n"})
    old_date = "2020-01-01T00:00:00Z"
    alice.git("add", "-A")
    run(["git", "commit", "-q", "-m", "old"], alice.repo,
        dict(alice.env, GIT_COMMITTER_DATE=old_date, GIT_AUTHOR_DATE=old_date))
    alice.git("push", "-q", "origin", "stale")

    bob.synced("fetch", "--git-fetch")
    objs = store_objects(bob.local_storage())
    assert object_path(md5(b"step 1\n")) in objs and object_path(md5(b"step 2\n")) in objs
    assert object_path(md5(b"old\n")) not in objs
    pair.sshd.stop()
    bob.git("checkout", "-q", step1)
    assert (bob.repo / "model.bin").read_bytes() == b"step 1\n"
    # --all takes every branch, old ones too (central is down now: it must fail cleanly).
    bob.env["DVC_SYNCED_TIMEOUT"] = "1"  # a refused connection is retried that long
    failed = bob.synced("fetch", "--all", check=False)
    assert failed.returncode != 0
    assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
    assert object_path(md5(b"old\n")) not in store_objects(bob.local_storage())


def test_unreachable_central_writes_nothing(pair: Pair) -> None:
    feature_branch(pair)
    bob = pair.bob
    bob.git("fetch", "-q")
    before = store_objects(bob.local_storage())
    pair.sshd.stop()
    bob.env["DVC_SYNCED_TIMEOUT"] = "1"  # a refused connection is retried that long
    start = time.monotonic()
    failed = bob.synced("fetch", check=False)
    assert failed.returncode != 0
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], failed.stderr
    assert failed.stdout == ""
    assert store_objects(bob.local_storage()) == before
    assert time.monotonic() - start < 60


def test_bad_input(team: Team) -> None:
    team.founder("alice")
    bob = team.user("bob")
    for days in ("0", "-3", "soon"):
        bad = bob.synced("fetch", "--recent", days, check=False)
        assert bad.returncode == 2, bad
        assert len(bad.stderr.strip().splitlines()) == 1 and "positive" in bad.stderr
    bob.git("remote", "rename", "origin", "upstream")
    bad = bob.synced("fetch", check=False)
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "git remote add origin" in lines[0], bad.stderr
    assert "upstream" in lines[0]
    # Named revisions need no git remote at all.
    assert bob.synced("fetch", "HEAD").returncode == 0
    assert "fetched" in bob.synced("fetch", "--remote", "upstream").stdout


def test_rclone_pull_after_fetch_starts_no_rclone(tmp_path: Path) -> None:
    """Through rclone (a local backend): after a fetch, switching and pulling start no
    rclone at all, also with central gone."""
    central = tmp_path / "central"
    central.mkdir()
    calls = tmp_path / "rclone-calls.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real = shutil.which("rclone") or "/usr/bin/rclone"
    (bin_dir / "rclone").write_text(f"#!/bin/sh\necho \"$*\" >> {calls}\nexec {real} \"$@\"\n")
    os.chmod(bin_dir / "rclone", 0o755)
    team = Team(tmp_path, str(central), transport="rclone",
                extra_env={"RCLONE_CONFIG": "/dev/null"})
    alice = team.founder("alice")
    alice.synced("install")
    bob = team.user("bob")
    bob.synced("install")
    bob.env["PATH"] = f"{bin_dir}{os.pathsep}{bob.env['PATH']}"
    alice.git("switch", "-q", "-c", "feature")
    track(alice, {"model.bin": b"rclone model\n", "data/x.txt": b"x\n"})
    commit(alice, "feature data")
    alice.git("push", "-q", "-u", "origin", "feature")
    assert "fetched 2 object(s)" in bob.synced("fetch", "--git-fetch").stdout
    started = len(calls.read_text().splitlines())
    assert started > 0
    central.rename(tmp_path / "central-away")
    bob.git("switch", "feature")
    assert (bob.repo / "model.bin").read_bytes() == b"rclone model\n"
    assert (bob.repo / "data" / "x.txt").read_bytes() == b"x\n"
    bob.synced("pull")
    assert len(calls.read_text().splitlines()) == started


def test_branch_without_data_on_central_does_not_stop_the_rest(team: Team) -> None:
    """A teammate pushed a branch with the hooks skipped: its data is not on central. The
    fetch takes every other branch's data, names what it could not get and exits 1."""
    alice = team.founder("alice")
    alice.synced("install")
    bob = team.user("bob")
    bob.synced("install")
    alice.git("switch", "-q", "-c", "good")
    good = track(alice, {"good.bin": b"good\n"})
    commit(alice, "good data")
    alice.git("push", "-q", "origin", "good")
    alice.git("switch", "-q", "-c", "nodata", "main")
    lost = track(alice, {"lost.bin": b"lost\n"})
    commit(alice, "data never pushed")
    alice.run("env", "DVC_SYNCED_SKIP=1", "git", "push", "-q", "origin", "nodata")
    out = bob.synced("fetch", "--git-fetch", check=False)
    assert out.returncode == 1
    assert "fetched 1 object(s)" in out.stdout and "not on central" in out.stdout, out.stdout
    warnings = out.stderr.strip().splitlines()
    assert len(warnings) == 1 and "lost.bin" in warnings[0], out.stderr
    stored = store_objects(bob.local_storage())
    assert good["good.bin"] in stored and lost["lost.bin"] not in stored
