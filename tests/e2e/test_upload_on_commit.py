"""Upload at commit time (`dvc-synced.upload-on-commit`, issue #24 item 1), end to end:
real git, real hooks (`dvc-synced install`), real rsync to a central directory.

A gate in front of rsync's uploads (a wrapper early on PATH) holds the background job in
the middle of its upload, so a test can close its terminal, kill it, or commit again
while it runs, then let it go on.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import Team, User, store_objects
from tests.e2e.test_hooks import Project

GATE_RSYNC = """#!/bin/sh
# Uploads (--ignore-existing) wait while the gate file exists; everything else runs at once.
for a in "$@"; do [ "$a" = --ignore-existing ] && up=1; done
if [ -n "$up" ] && [ -n "$UPLOAD_GATE" ]; then
    while [ -e "$UPLOAD_GATE" ]; do touch "$UPLOAD_GATE.reached"; sleep 0.05; done
fi
exec {rsync} "$@"
"""


def gated(team: Team, user: User) -> Path:
    """Put the gated rsync on `user`'s PATH; returns the gate (absent: open)."""
    bin_dir = team.base / f"gate-bin-{user.name}"
    bin_dir.mkdir()
    wrapper = bin_dir / "rsync"
    wrapper.write_text(GATE_RSYNC.format(rsync=shutil.which("rsync")))
    wrapper.chmod(0o755)
    gate = team.base / f"gate-{user.name}"
    user.env["PATH"] = f"{bin_dir}{os.pathsep}{user.env['PATH']}"
    user.env["UPLOAD_GATE"] = str(gate)
    return gate


def close(gate: Path) -> None:
    gate.touch()
    Path(f"{gate}.reached").unlink(missing_ok=True)


def wait_reached(gate: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not Path(f"{gate}.reached").exists():
        assert time.monotonic() < deadline, "the background upload never reached rsync"
        time.sleep(0.05)


def state_dir(user: User) -> Path:
    return user.repo / ".git" / "dvc-synced"


def job_state(user: User) -> dict:
    try:
        return json.loads((state_dir(user) / "upload.json").read_text())
    except (OSError, ValueError):
        return {}


def jobs_running(user: User) -> list[int]:
    """Pids of background upload jobs of this clone (from /proc: no process is spared)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"dvc_synced_plugin.hooks.upload" in argv and str(user.repo).encode() in argv:
            pids.append(int(entry.name))
    return pids


def wait_idle(user: User, seconds: float = 90, ended: bool = True) -> dict:
    """Until no job runs and (`ended`) the state says how the last one ended."""
    deadline = time.monotonic() + seconds
    while jobs_running(user) or (ended and job_state(user).get("result") in (None, "running")):
        assert time.monotonic() < deadline, f"the job did not end: {job_state(user)}"
        time.sleep(0.1)
    return job_state(user)


def add_data(user: User, name: str, size: int = 200_000) -> str:
    user.write(name, os.urandom(size))
    user.dvc("add", "-q", name)
    user.git("add", f"{name}.dvc", ".gitignore")
    return name


def cache_objects(user: User) -> set[str]:
    return store_objects(user.repo / ".dvc" / "cache")


def enable(user: User) -> None:
    user.synced("install")
    user.git("config", "dvc-synced.upload-on-commit", "true")


def test_commit_uploads_in_the_background_and_push_moves_nothing(team: Team) -> None:
    """A commit's data reaches central with no push, while its terminal is closed and two
    more commits come in; one job does it all; the push then moves nothing; bob gets it."""
    alice = team.founder()
    enable(alice)
    gate = gated(team, alice)
    central = Path(team.central)
    close(gate)
    add_data(alice, "one.bin")
    # A terminal of its own (a new session, the pty as controlling terminal), closed
    # while the upload runs: what closing the window does to what runs in it.
    master, slave = pty.openpty()
    shell = subprocess.Popen(
        ["bash", "-c", "git commit -q -m one && echo committed && sleep 60"],
        cwd=alice.repo, env=alice.env, stdin=slave, stdout=slave, stderr=slave,
        start_new_session=True)
    os.close(slave)
    try:
        wait_reached(gate)
        shown = os.read(master, 65536).decode(errors="replace")
        assert "committed" in shown  # the hook returned while the upload is held
        [job] = jobs_running(alice)
        assert os.getsid(job) not in (shell.pid, os.getsid(0))  # a session of its own
    finally:
        os.close(master)
        os.killpg(shell.pid, signal.SIGHUP)
        shell.wait(10)
    assert shell.returncode == -signal.SIGHUP
    # Two quick commits while it runs: no second job, the running one takes them.
    add_data(alice, "two.bin")
    alice.git("commit", "-q", "-m", "two")
    add_data(alice, "three.bin")
    alice.git("commit", "-q", "-m", "three")
    assert jobs_running(alice) == [job]
    assert "upload on commit: running" in alice.synced("status", check=False).stdout
    gate.unlink()
    done = wait_idle(alice)
    assert done["result"] == "ok", done
    log = (state_dir(alice) / "upload.log").read_text()
    assert set(re.findall(r"started \(pid (\d+)\)", log)) == {str(job)}, log
    on_central = store_objects(central)
    assert cache_objects(alice) <= on_central  # all three commits' data, with no push
    assert "done at" in alice.synced("status", check=False).stdout
    doctor = alice.synced("doctor", check=False).stdout
    assert "ok    upload on commit: on (git config)" in doctor, doctor

    push = alice.run("git", "push", "origin", "main")
    assert "uploaded 0 object(s)" in push.stderr, push.stderr  # confirmed, nothing moved
    assert store_objects(central) == on_central

    bob = team.user("bob")
    bob.synced("install")
    bob.synced("pull")
    for name in ("one.bin", "two.bin", "three.bin"):
        assert (bob.repo / name).read_bytes() == (alice.repo / name).read_bytes()


def test_killed_failed_amended_and_rebased_uploads(team: Team) -> None:
    """A killed job: the push tells it once and uploads. A failed one: the next commit
    tells it once and retries; nothing repeats it later. Amended and rebased commits send
    only what is new."""
    alice = team.founder()
    enable(alice)
    gate = gated(team, alice)
    central = Path(team.central)

    close(gate)
    add_data(alice, "one.bin")
    alice.git("commit", "-q", "-m", "one")
    wait_reached(gate)
    [job] = jobs_running(alice)
    os.killpg(job, signal.SIGKILL)  # the job and its rsync, as `kill -9 -PGID` would
    gate.unlink()
    assert wait_idle(alice, ended=False)["result"] == "running"  # it never wrote an end
    assert "stopped before it finished" in alice.synced("status", check=False).stdout
    push = alice.run("git", "push", "origin", "main")
    assert push.stderr.count("stopped before it finished; this push uploads it") == 1
    assert "uploaded 1 object(s)" in push.stderr, push.stderr
    assert cache_objects(alice) <= store_objects(central)

    # Central unreachable: the job fails; the next commit says so once and retries.
    moved_away = central.with_name("central-away")
    central.rename(moved_away)
    add_data(alice, "two.bin")
    alice.git("commit", "-q", "-m", "two")
    failed = wait_idle(alice)
    assert failed["result"] == "failed" and "central" in failed["message"], failed
    moved_away.rename(central)
    add_data(alice, "three.bin")
    third = alice.run("git", "commit", "-q", "-m", "three")
    assert third.stderr.count("the background upload of") == 1, third.stderr
    assert "failed" in third.stderr and "uploading again in the background" in third.stderr
    retried = wait_idle(alice)
    assert retried["result"] == "ok" and "uploaded 2 object(s)" in retried["summary"], retried
    alice.write("notes.txt", "code only\n")
    alice.git("add", "notes.txt")
    quiet = alice.run("git", "commit", "-q", "-m", "notes")
    assert "background upload" not in quiet.stderr  # told once, no nagging

    # Amend: only the new data goes up.
    add_data(alice, "four.bin")
    alice.git("commit", "-q", "--amend", "--no-edit")
    amended = wait_idle(alice)
    assert amended["result"] == "ok", amended
    assert amended["summary"].startswith("uploaded 1 object(s)"), amended

    # Rebase: the replayed commit's data is on central already: nothing moves.
    alice.git("switch", "-q", "-c", "feature")
    add_data(alice, "five.bin")
    alice.git("commit", "-q", "-m", "five")
    assert wait_idle(alice)["summary"].startswith("uploaded 1 object(s)")
    alice.git("switch", "-q", "main")
    alice.write("more.txt", "code\n")
    alice.git("add", "more.txt")
    alice.git("commit", "-q", "-m", "more code")
    alice.git("switch", "-q", "feature")
    alice.git("rebase", "-q", "main")
    rebased = wait_idle(alice)
    assert rebased["summary"].startswith("uploaded 0 object(s)"), rebased
    assert rebased["commit"] == alice.git("rev-parse", "HEAD").stdout.strip()

    push = alice.run("git", "push", "origin", "main", "feature")
    assert "background upload" not in push.stderr, push.stderr
    assert "uploaded 0 object(s)" in push.stderr, push.stderr
    assert cache_objects(alice) <= store_objects(central)


def flow_upload_on_commit(p: Project) -> None:
    """Under pre-commit too (tests/e2e/test_precommit.py): the post-commit hook, run by
    pre-commit with its own python, starts the job, which puts the commit's data on central
    before any push; the push then sends nothing."""
    team, alice = p.team, p.alice
    central = Path(team.central)
    alice.git("pull", "-q")
    alice.git("config", "dvc-synced.upload-on-commit", "true")
    try:
        before = store_objects(central)
        add_data(alice, "on-commit.bin")
        alice.git("commit", "-q", "-m", "data uploaded at commit time")
        done = wait_idle(alice)
        assert done["result"] == "ok" and done["summary"].startswith("uploaded 1 object(s)"), done
        after = store_objects(central)
        assert len(after - before) == 1
        alice.git("push", "-q")
        assert store_objects(central) == after
        assert alice.git("ls-remote", "origin", "main").stdout.split()[0] == \
            alice.git("rev-parse", "HEAD").stdout.strip()
    finally:
        alice.git("config", "--unset", "dvc-synced.upload-on-commit")
