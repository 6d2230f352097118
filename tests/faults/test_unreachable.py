"""Central unreachable: sshd stopped, wrong host, auth refused, prompts, a silent server, rclone
misconfigured. Hooks run under a pseudo-terminal, so a prompt would hang them; each must
fail within its bound, leave the git remote / git's state and the workspace as they were,
and say which command finishes the job later.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Sshd, Team, run, start_sshd
from tests.faults.support import commit, run_with_tty, server_ref, synced_cmd, track

HANG = 60.0  # a run this long counts as hung


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A TCP port that accepts connections and then never says a word (a wedged server)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


def ssh_config(base: Path, sshd: Sshd, name: str, port: int | None = None,
               key: Path | None = None, known: str = "", strict: str = "accept-new") -> str:
    """An ssh command whose config differs from the working one in one respect."""
    path = base / f"ssh_config_{name}"
    known_hosts = known or str(Path(str(sshd.ssh_config)).parent / "known_hosts")
    path.write_text(
        "Host dvc-server\n  HostName 127.0.0.1\n"
        f"  Port {port or sshd.port}\n  User {sshd.user}\n"
        f"  IdentityFile {key or sshd.client_key}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {known_hosts}\n  StrictHostKeyChecking {strict}\n"
        "  LogLevel ERROR\n"
    )
    return f"ssh -F {path}"


def broken_settings(tmp_path: Path, sshd: Sshd, black_hole: int) -> dict[str, dict[str, str]]:
    """Environment overrides, one per way central can be out of reach."""
    stopped = start_sshd(tmp_path / "stopped-sshd")
    stopped.stop()
    stranger = tmp_path / "stranger_ed25519"
    locked = tmp_path / "locked_ed25519"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], tmp_path)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(locked)], tmp_path)
    # The passphrase key must be the authorised one, so ssh really would ask for it.
    run(["ssh-keygen", "-q", "-p", "-P", "", "-N", "secret", "-f", str(locked)], tmp_path,
        check=False)
    authorised = Path(str(sshd.client_key))
    locked_copy = tmp_path / "authorised_locked"
    locked_copy.write_bytes(authorised.read_bytes())
    os.chmod(locked_copy, 0o600)
    run(["ssh-keygen", "-q", "-p", "-P", "", "-N", "secret", "-f", str(locked_copy)], tmp_path)
    empty_known = tmp_path / "empty_known_hosts"
    empty_known.write_text("")
    return {
        # A refused connection is retried (retry.py) until the timeout: a short one here.
        "sshd stopped": {"DVC_SYNCED_SSH_COMMAND": ssh_config(tmp_path, sshd, "stopped",
                                                              port=stopped.port),
                         "DVC_SYNCED_TIMEOUT": "1"},
        "unknown host": {"DVC_SYNCED_CENTRAL": "no-such-host.invalid:/srv/data"},
        "key refused": {"DVC_SYNCED_SSH_COMMAND": ssh_config(tmp_path, sshd, "stranger",
                                                             key=stranger)},
        "passphrase prompt": {"DVC_SYNCED_SSH_COMMAND": ssh_config(tmp_path, sshd, "locked",
                                                                   key=locked_copy),
                              "SSH_AUTH_SOCK": ""},
        "host key prompt": {"DVC_SYNCED_SSH_COMMAND": ssh_config(
            tmp_path, sshd, "hostkey", known=str(empty_known), strict="ask")},
        "silent server": {"DVC_SYNCED_SSH_COMMAND": ssh_config(tmp_path, sshd, "silent",
                                                               port=black_hole),
                          "DVC_SYNCED_TIMEOUT": "2"},
    }


def test_push_refused_when_central_unreachable(ssh_team: Team, sshd: Sshd, tmp_path: Path,
                                               black_hole: int) -> None:
    alice = ssh_team.founder("alice")
    alice.synced("install")
    objs = track(alice, {"data/a.bin": os.urandom(5000), "data/b.bin": os.urandom(7000)})
    commit(alice, "data")
    before = server_ref(alice)
    central = Path(ssh_team.central.split(":", 1)[1])
    failures = []
    for name, env in broken_settings(tmp_path, sshd, black_hole).items():
        rc, out, secs = run_with_tty(["git", "push", "origin", "main"], alice.repo,
                                     {**alice.env, **env}, timeout=HANG)
        bound = 20 if name == "silent server" else 15
        if rc == -999:
            failures.append(f"{name}: hung (killed after {HANG}s):\n{out}")
        elif rc == 0 or "push refused" not in out or secs > bound:
            failures.append(f"{name}: rc {rc} after {secs:.1f}s:\n{out}")
        if server_ref(alice) != before:
            failures.append(f"{name}: the git remote moved")
        # Only the refused connection is worth another attempt (shown on the terminal).
        retried = "gave up after" in out and "retry 1 in" in out
        if retried != (name == "sshd stopped"):
            failures.append(f"{name}: retried {retried}:\n{out}")
    assert not failures, "\n\n".join(failures)
    assert not any((central / rel).exists() for rel in objs.values())

    alice.git("push", "-q", "origin", "main")  # reachable again: the push goes through
    assert all((central / rel).is_file() for rel in objs.values())


def test_pull_and_checkout_when_central_unreachable(ssh_team: Team, sshd: Sshd,
                                                    tmp_path: Path) -> None:
    """git moves on (git's work is git's); the data stays as it was; the fix is printed."""
    alice = ssh_team.founder("alice")
    alice.synced("install")
    track(alice, {"data/a.bin": b"version 1\n" * 100})
    commit(alice, "v1")
    alice.git("push", "-q", "origin", "main")
    bob = ssh_team.user("bob")
    bob.synced("install")
    bob.synced("pull")
    alice.git("switch", "-q", "-c", "exp")
    track(alice, {"data/a.bin": b"experiment\n" * 100})
    exp = commit(alice, "exp")
    alice.git("push", "-q", "origin", "exp")
    alice.git("switch", "-q", "main")
    track(alice, {"data/a.bin": b"version 2\n" * 100, "data/new.bin": b"new\n"})
    v2 = commit(alice, "v2")
    alice.git("push", "-q", "origin", "main")

    stopped = start_sshd(tmp_path / "stopped-sshd")
    stopped.stop()
    down = {**bob.env, "DVC_SYNCED_TIMEOUT": "1",  # refused: retried until the timeout
            "DVC_SYNCED_SSH_COMMAND": ssh_config(tmp_path, sshd, "down", port=stopped.port)}
    rc, out, secs = run_with_tty(["git", "pull", "--no-rebase"], bob.repo, down, timeout=HANG)
    assert rc == 0 and secs < 20, out  # git ignores post-merge's status: its merge is done
    assert bob.git("rev-parse", "HEAD").stdout.strip() == v2
    assert (bob.repo / "data/a.bin").read_bytes() == b"version 1\n" * 100, "workspace touched"
    assert not (bob.repo / "data/new.bin").exists()
    assert "dvc-synced pull" in out, out

    rc, out, secs = run_with_tty(["git", "checkout", "-q", "exp"], bob.repo, down,
                                 timeout=HANG)
    assert rc != -999 and secs < 20, out
    assert bob.git("rev-parse", "HEAD").stdout.strip() == exp  # git's checkout stands
    assert (bob.repo / "data/a.bin").read_bytes() == b"version 1\n" * 100, "workspace touched"
    assert "dvc-synced pull" in out, out
    bob.git("checkout", "-q", "main")  # reachable again: the hook brings v2's data
    assert (bob.repo / "data/a.bin").read_bytes() == b"version 2\n" * 100
    assert (bob.repo / "data/new.bin").read_bytes() == b"new\n"


def rclone_cases(tmp_path: Path, black_hole: int) -> dict[str, dict[str, str]]:
    stopped = start_sshd(tmp_path / "stopped-sshd")
    stopped.stop()
    sftp = {"RCLONE_CONFIG_C_TYPE": "sftp", "RCLONE_CONFIG_C_HOST": "127.0.0.1",
            "RCLONE_CONFIG_C_USER": "root", "RCLONE_CONFIG_C_KEY_FILE": str(stopped.client_key)}
    return {
        "undefined remote": {"DVC_SYNCED_CENTRAL": "nosuchremote:data"},
        "sftp server stopped": {**sftp, "RCLONE_CONFIG_C_PORT": str(stopped.port),
                                "DVC_SYNCED_CENTRAL": "c:/srv/data", "DVC_SYNCED_TIMEOUT": "1"},
        "sftp silent server": {**sftp, "RCLONE_CONFIG_C_PORT": str(black_hole),
                               "DVC_SYNCED_CENTRAL": "c:/srv/data", "DVC_SYNCED_TIMEOUT": "2"},
        "sftp password prompt": {"RCLONE_CONFIG_C_TYPE": "sftp",
                                 "RCLONE_CONFIG_C_HOST": "127.0.0.1",
                                 "RCLONE_CONFIG_C_PORT": str(stopped.port),
                                 "RCLONE_CONFIG_C_ASK_PASSWORD": "true",
                                 "DVC_SYNCED_CENTRAL": "c:/srv/data", "DVC_SYNCED_TIMEOUT": "1"},
    }


def test_rclone_misconfigured_refuses_push(team: Team, tmp_path: Path, black_hole: int) -> None:
    team.transport = "rclone"
    alice = team.founder("alice")
    alice.synced("install")
    track(alice, {"data/a.bin": os.urandom(3000)})
    commit(alice, "data")
    before = server_ref(alice)
    failures = []
    for name, env in rclone_cases(tmp_path, black_hole).items():
        full = {**alice.env, "RCLONE_CONFIG": "/dev/null", **env}
        rc, out, secs = run_with_tty(["git", "push", "origin", "main"], alice.repo, full,
                                     timeout=HANG)
        if rc == -999 or rc == 0 or "push refused" not in out or secs > 40:
            failures.append(f"{name}: rc {rc} after {secs:.1f}s:\n{out}")
        if server_ref(alice) != before:
            failures.append(f"{name}: the git remote moved")
    assert not failures, "\n\n".join(failures)


def test_manual_commands_fail_fast_when_unreachable(ssh_team: Team, tmp_path: Path) -> None:
    """`dvc-synced push/pull/status/verify` exit non-zero with one line naming the fix."""
    alice = ssh_team.founder("alice")
    track(alice, {"data/a.bin": b"x" * 100})
    commit(alice, "data")
    alice.synced("push")
    alice.git("push", "-q", "origin", "main")
    bob = ssh_team.user("bob")  # has none of the data, so every command needs central
    stopped = start_sshd(tmp_path / "stopped-sshd")
    stopped.stop()
    env = {**bob.env, "DVC_SYNCED_SSH_COMMAND": f"ssh -F {stopped.ssh_config}",
           "DVC_SYNCED_TIMEOUT": "1"}  # refused: retried until the timeout
    for args in (["push"], ["pull"], ["status"], ["verify", "--rev", "HEAD"]):
        proc = subprocess.run(synced_cmd(*args), cwd=bob.repo, env=env, text=True,
                              capture_output=True, timeout=HANG)
        assert proc.returncode != 0, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert "cannot reach central" in proc.stderr, (args, proc.stderr)
