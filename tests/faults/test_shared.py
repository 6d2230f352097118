"""A central shared by a team as in the seed: one server, the users in one group, a setgid
root. Two real OS users (useradd) log in over SSH to a loopback sshd; each adds objects
into directories the other created. Needs root; skipped otherwise.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Sshd, Team, start_sshd
from tests.faults.support import assert_sound, commit, md5, object_path, track


@dataclass
class Crew:
    group: str
    users: list[str]
    central: Path
    base: Path  # world-traversable, unlike pytest's temp tree


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True)


@pytest.fixture
def crew() -> Iterator[Crew]:
    """A group, two members and a setgid central owned by root:group (mode 2770)."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root and useradd to create real users")
    tag = secrets.token_hex(3)
    group = f"dvcst{tag}"
    users = [f"dvcsa{tag}", f"dvcsb{tag}"]
    # Outside pytest's 0700 temp tree, so the users can reach it.
    base = Path(tempfile.mkdtemp(prefix="dvc-synced-shared-"))
    os.chmod(base, 0o755)
    made: list[str] = []
    try:
        if _run("groupadd", group).returncode != 0:
            pytest.skip("cannot create groups here")
        for user in users:
            proc = _run("useradd", "-M", "-d", str(base), "-s", "/bin/sh", "-G", group, user)
            if proc.returncode != 0:
                pytest.skip(f"cannot create users here: {proc.stderr.strip()}")
            made.append(user)
            _run("usermod", "-p", "*", user)  # no password, but not locked: key login works
        central = base / "central"
        central.mkdir()
        shutil.chown(central, group=group)
        os.chmod(central, 0o2770)
        yield Crew(group, users, central, base)
    finally:
        for user in made:
            _run("userdel", user)
        _run("groupdel", group)
        shutil.rmtree(base, ignore_errors=True)


def ssh_as(sshd: Sshd, base: Path, user: str) -> str:
    """An ssh command whose `shared` host logs in as `user` (the team file names `shared`)."""
    config = base / f"ssh_config_{user}"
    config.write_text(
        f"Host shared\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {user}\n"
        f"  IdentityFile {sshd.client_key}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {base / 'known_hosts'}\n  StrictHostKeyChecking accept-new\n"
        "  LogLevel ERROR\n"
    )
    return f"ssh -F {config}"


def same_prefix(oid: str, seed: bytes) -> bytes:
    """Content whose object lands in the same `files/md5/xy/` directory as `oid`."""
    n = 0
    while True:
        data = seed + str(n).encode()
        if md5(data)[:2] == oid[:2]:
            return data
        n += 1


def test_two_group_members_share_one_central(tmp_path: Path, crew: Crew) -> None:
    # sshd reads authorized_keys as the logging-in user: it must live where they can read it.
    sshd = start_sshd(crew.base / "sshd")
    os.chmod(crew.base / "sshd" / "authorized_keys", 0o644)
    try:
        team = Team(tmp_path, f"shared:{crew.central}")
        alice = team.user("alice")
        alice.env["DVC_SYNCED_SSH_COMMAND"] = ssh_as(sshd, tmp_path, crew.users[0])
        team.founder("alice")
        alice.synced("install")
        first = track(alice, {"data/a.bin": b"from alice\n" * 100,
                              "data/b.bin": os.urandom(4000)})
        commit(alice, "alice's data")
        alice.git("push", "-q", "origin", "main")

        bob = team.user("bob")
        bob.env["DVC_SYNCED_SSH_COMMAND"] = ssh_as(sshd, tmp_path, crew.users[1])
        bob.synced("install")
        bob.synced("pull")
        assert (bob.repo / "data/a.bin").read_text() == "from alice\n" * 100

        alice_dir = (crew.central / first["data/a.bin"]).parent
        alice_dir_mode = alice_dir.stat().st_mode
        oid = first["data/a.bin"].split("/", 2)[2].replace("/", "")
        second = track(bob, {"data/c.bin": same_prefix(oid, b"from bob "),
                             "other/d.bin": os.urandom(3000)})
        commit(bob, "bob's data")
        bob.git("push", "-q", "origin", "main")  # into alice's directory, and new ones

        uid = {u: int(_run("id", "-u", u).stdout) for u in crew.users}
        gid = int(_run("getent", "group", crew.group).stdout.split(":")[2])
        for rel, owner in [*[(r, crew.users[0]) for r in first.values()],
                           *[(r, crew.users[1]) for r in second.values()]]:
            st = (crew.central / rel).stat()
            assert st.st_uid == uid[owner], rel
            assert st.st_gid == gid, f"{rel} is not in the team's group"
            assert stat.S_IMODE(st.st_mode) == 0o444, f"{rel}: {oct(st.st_mode)}"
        for path in crew.central.rglob("*"):
            if path.is_dir():
                st = path.stat()
                assert st.st_gid == gid and st.st_mode & stat.S_ISGID, f"{path}: group/setgid"
                assert st.st_mode & stat.S_IWGRP, f"{path} is not group-writable"
        assert (crew.central / second["data/c.bin"]).parent == alice_dir
        assert alice_dir.stat().st_mode == alice_dir_mode, "bob's push chmod-ed alice's dir"
        assert alice_dir.stat().st_uid == uid[crew.users[0]]

        alice.git("pull", "-q")  # and back: alice reads bob's objects
        assert (alice.repo / "data/c.bin").read_bytes() == (bob.repo / "data/c.bin").read_bytes()
        assert set(first.values()) | set(second.values()) <= set(assert_sound(crew.central))
        assert object_path(md5((alice.repo / "other/d.bin").read_bytes())) == second[
            "other/d.bin"]
    finally:
        sshd.stop()
