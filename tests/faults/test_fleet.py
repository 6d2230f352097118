"""A busy central: sshd shedding connections past MaxStartups (issue #25).

A held slot makes an sshd with `MaxStartups 1` shed every other connection, as a busy
server sheds the 11th and later ones at once: pushes and pulls retry until it answers.
The fleet test is the team-scale case against OpenSSH's default MaxStartups (10:30:100):
16 pushes (one object they all share) at the same moment as 24 first pulls.
"""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import Sshd, Team, Unavailable, User, start_sshd, unavailable
from tests.faults.support import (
    assert_sound,
    commit,
    md5,
    object_path,
    run_with_tty,
    synced_cmd,
    track,
    wait_for,
)

RETRIES = re.compile(r"(\d+) retr(?:y|ies)\b")


def busy_sshd(base: Path, max_startups: str | None) -> Sshd:
    try:
        return start_sshd(base, max_startups=max_startups, log_level="VERBOSE")
    except Unavailable as exc:
        unavailable(exc)
        raise


def ssh_team(base: Path, sshd: Sshd) -> Team:
    central = base / "central"
    central.mkdir()
    return Team(base, f"dvc-server:{central}",
                extra_env={"DVC_SYNCED_SSH_COMMAND": sshd.ssh_command()})


def release_after_drops(sshd: Sshd, drops: int) -> threading.Thread:
    """While a command runs in the foreground: free the held slot once sshd shed `drops`
    more of its connections (so the command surely met a shed connection first)."""
    before = sshd.connections_seen()[1]
    held = socket.create_connection(("127.0.0.1", sshd.port))

    def watch() -> None:
        try:
            wait_for(lambda: sshd.connections_seen()[1] >= before + drops, 60,
                     "sshd to shed a connection")
        finally:
            held.close()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_push_and_pull_retry_while_sshd_sheds(tmp_path: Path) -> None:
    """Every connection is shed until a slot frees: `git push` (its hook) and a first
    `dvc-synced pull` retry, show it on the terminal, count it in the summary, and
    succeed; central holds the objects; bob's bytes equal alice's."""
    sshd = busy_sshd(tmp_path / "sshd", "1")
    try:
        team = ssh_team(tmp_path, sshd)
        alice = team.founder("alice")
        alice.synced("install")
        data = {"data/a.bin": os.urandom(3000), "data/b.bin": os.urandom(2000)}
        objs = track(alice, data)
        commit(alice, "data")
        central = Path(team.central.split(":", 1)[1])

        watcher = release_after_drops(sshd, 2)
        rc, out, _ = run_with_tty(["git", "push", "origin", "main"], alice.repo, alice.env,
                                  timeout=60)
        watcher.join()
        assert rc == 0, out
        assert "central did not answer (kex_exchange_identification" in out, out
        assert "retry 1 in" in out, out
        found = RETRIES.search(out)
        assert found and int(found.group(1)) >= 1, out
        assert all((central / rel).is_file() for rel in objs.values())
        assert_sound(central)

        bob = team.user("bob")
        watcher = release_after_drops(sshd, 1)
        pulled = subprocess.run(synced_cmd("pull"), cwd=bob.repo, env=bob.env, text=True,
                                capture_output=True, timeout=60)
        watcher.join()
        assert pulled.returncode == 0, pulled.stdout + pulled.stderr
        assert RETRIES.search(pulled.stdout), pulled.stdout
        assert "central did not answer" not in pulled.stderr  # no terminal: the count only
        for path, blob in data.items():
            assert (bob.repo / path).read_bytes() == blob
    finally:
        sshd.stop()


def test_permanent_failures_are_not_retried(tmp_path: Path) -> None:
    """A stranger's key while sshd sheds nothing: refused at once, no retry."""
    sshd = busy_sshd(tmp_path / "sshd", None)
    try:
        team = ssh_team(tmp_path, sshd)
        alice = team.founder("alice")
        track(alice, {"data/a.bin": b"a" * 100})
        commit(alice, "data")
        stranger = tmp_path / "stranger"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
                       check=True)
        config = Path(str(sshd.ssh_config)).read_text().replace(
            str(sshd.client_key), str(stranger))
        (tmp_path / "stranger_config").write_text(config)
        env = {**alice.env, "DVC_SYNCED_SSH_COMMAND": f"ssh -F {tmp_path / 'stranger_config'}"}
        accepted, _ = sshd.connections_seen()
        rc, out, secs = run_with_tty(synced_cmd("push"), alice.repo, env, timeout=60)
        assert rc != 0 and "Permission denied" in out, out
        assert "retry" not in out and secs < 10, (secs, out)
        assert sshd.connections_seen() == (accepted + 1, 0)  # one attempt, none shed
    finally:
        sshd.stop()


# ------------------------------------------------------------------------------- the fleet

PUSHERS = 16
PULLERS = 24


def start(user: User, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=user.repo, env=user.env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_fleet_of_pushes_and_first_pulls_against_default_sshd(tmp_path: Path) -> None:
    """16 teammates `git push` their own branch (each with its own object and one they
    all share) at the same moment as 24 fresh clones run their first `dvc-synced pull`,
    against an sshd with OpenSSH's default MaxStartups: every command succeeds, central
    is complete and sound, every pulled workspace equals alice's, and no clone waited on
    another's lock."""
    rng = random.Random(25)
    sshd = busy_sshd(tmp_path / "sshd", None)
    try:
        team = ssh_team(tmp_path, sshd)
        alice = team.founder("alice")
        base = {f"data/base{i}.bin": rng.randbytes(2000) for i in range(3)}
        track(alice, base)
        commit(alice, "base data")
        alice.synced("push")
        alice.git("push", "-q", "origin", "main")
        alice.synced("install")
        pre_push = (alice.repo / ".git" / "hooks" / "pre-push").read_text()

        shared = rng.randbytes(4000)
        pushers = []
        for i in range(PUSHERS):
            user = team.user(f"p{i}")
            # The hook `dvc-synced install` writes (it names no path of the clone).
            hook = user.repo / ".git" / "hooks" / "pre-push"
            hook.write_text(pre_push)
            hook.chmod(0o755)
            user.git("switch", "-q", "-c", f"p{i}")
            track(user, {"shared/s.bin": shared, f"own/p{i}.bin": rng.randbytes(1000 + i)})
            commit(user, f"p{i}'s data")
            pushers.append(user)
        pullers = [team.user(f"c{i}") for i in range(PULLERS)]
        before = sshd.connections_seen()

        started = time.monotonic()
        procs = [start(u, ["git", "push", "-q", "origin", f"p{i}"])
                 for i, u in enumerate(pushers)]
        procs += [start(u, synced_cmd("pull")) for u in pullers]
        outputs = []
        for user, proc in zip(pushers + pullers, procs):
            out, err = proc.communicate(timeout=240)
            outputs.append(out + err)
            assert proc.returncode == 0, f"{user.name} failed ({proc.returncode}):\n{out}{err}"
        wall = time.monotonic() - started
        accepted, dropped = (now - then for now, then in zip(sshd.connections_seen(), before))
        retries = sum(int(m.group(1)) for text in outputs for m in RETRIES.finditer(text))
        print(f"\n{PUSHERS} pushes + {PULLERS} first pulls: {wall:.1f}s, {retries} retries, "
              f"sshd accepted {accepted} and shed {dropped} connections, load "
              f"{os.getloadavg()[0]:.2f}")
        assert not any("waiting for another dvc-synced" in text for text in outputs)

        central = assert_sound(Path(team.central.split(":", 1)[1]))
        want = {object_path(md5(b)) for b in [*base.values(), shared]}
        want |= {object_path(md5((u.repo / f"own/{u.name}.bin").read_bytes()))
                 for u in pushers}
        assert want <= set(central), sorted(want - set(central))[:5]
        for user in pullers:
            for path, blob in base.items():
                assert (user.repo / path).read_bytes() == blob, (user.name, path)
        heads = {line.split()[1] for line in
                 alice.git("ls-remote", "origin").stdout.splitlines()}
        assert {f"refs/heads/p{i}" for i in range(PUSHERS)} <= heads
    finally:
        sshd.stop()
