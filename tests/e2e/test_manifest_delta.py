"""A changed directory's new `.dir` manifest crosses the wire as a delta (issue #23, 4),
with real git, DVC, rsync and sshd: on push against the version central holds, on pull
against the version this clone holds; what gets a name is the new manifest, whole."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from pathlib import Path

import yaml

from dvc_synced_plugin import config
from dvc_synced_plugin.transports.rsync import STAGE_DIR, RsyncTransport
from tests import counting
from tests.conftest import Sshd, Team, tree_digest

FILES = 1500  # a manifest of ~110 KB: rsync's blocks make the delta visible


def dir_oid(user_repo: Path) -> str:
    return yaml.safe_load((user_repo / "data.dvc").read_text())["outs"][0]["md5"]


def rel(oid: str) -> str:
    return f"files/md5/{oid[:2]}/{oid[2:]}"


def test_manifest_goes_as_a_delta_both_ways(tmp_path: Path, sshd: Sshd,
                                           monkeypatch) -> None:  # type: ignore[no-untyped-def]
    central = tmp_path / "central"
    central.mkdir()
    log = tmp_path / "ssh.log"
    ssh = counting.ssh_wrapper(tmp_path / "bin", log, shlex.split(sshd.ssh_command()))
    team = Team(tmp_path, f"dvc-server:{central}", extra_env={"DVC_SYNCED_SSH_COMMAND": ssh})
    alice = team.founder("alice")
    alice.synced("install")  # git push and git pull move the data: a change, old and new
    for i in range(FILES):
        alice.write(f"data/d{i // 500}/f{i:05d}.txt", f"file {i}\n")
    alice.dvc("add", "-q", "data")
    alice.git("add", "-A")
    alice.git("commit", "-qm", "v1")
    alice.git("push", "-q", "origin", "main")
    v1 = dir_oid(alice.repo)
    bob = team.user("bob")
    bob.synced("pull")
    bob.synced("install")

    alice.write("data/d0/f00007.txt", "changed\n")
    alice.write("data/d5/f02999.txt", "changed too\n")
    alice.dvc("add", "-q", "data")
    alice.git("commit", "-qam", "v2")
    log.write_text("")
    alice.git("push", "-q", "origin", "main")
    v2 = dir_oid(alice.repo)
    new = (alice.repo / ".dvc" / "cache" / rel(v2)).read_bytes()
    assert (central / rel(v2)).read_bytes() == new
    assert hashlib.md5(new).hexdigest() + ".dir" == v2
    old = central / rel(v1)
    assert hashlib.md5(old.read_bytes()).hexdigest() + ".dir" == v1  # the basis: untouched
    assert os.stat(old).st_nlink == 1
    assert not list((central / STAGE_DIR).iterdir())  # nothing left staged
    assert re.search(r"dvc-synced/stage/[0-9a-f]+.*rsync", log.read_text(), re.S)  # the delta ran

    bob.git("pull", "-q")
    assert tree_digest(bob.repo / "data") == tree_digest(alice.repo / "data")

    # What crossed the wire, told by rsync itself: each way a fraction of the manifest.
    monkeypatch.setenv("DVC_SYNCED_SSH_COMMAND", ssh)
    transport = RsyncTransport(config.load(alice.repo))
    literal: list[int] = []
    plain = transport._rsync

    def counted(args: list[str], *rest, **kw):  # type: ignore[no-untyped-def]
        out = plain(["--stats", *args], *rest, **kw)
        literal.append(int(re.search(r"Literal data: ([\d,]+)", out)[1].replace(",", "")))
        return out

    transport._rsync = counted  # type: ignore[method-assign]
    # Corrupt bases both ways (4 KiB in the middle of each): rsync sends those blocks as
    # they are, and the result is the new manifest all the same.
    for basis in (central / rel(v2), tmp_path / "bad-basis"):
        text = bytearray(new)
        text[len(text) // 2:len(text) // 2 + 4096] = os.urandom(4096)
        if basis.exists():
            basis.chmod(0o644)
            basis.unlink()
        basis.write_bytes(bytes(text))
    try:
        alice.write("data/d1/f00600.txt", "v3\n")
        alice.dvc("add", "-q", "data")
        v3 = dir_oid(alice.repo)
        local = alice.repo / ".dvc" / "cache"
        assert transport.upload_delta(local, [rel(v3)], {rel(v3): rel(v2)}) == set()
        staging = tmp_path / "incoming" / "s"
        staging.mkdir(parents=True)
        assert transport.download_delta([rel(v3)], staging, {rel(v3): tmp_path / "bad-basis"})
    finally:
        transport.close()
    size = len((local / rel(v3)).read_bytes())
    assert (staging / rel(v3)).read_bytes() == (central / rel(v3)).read_bytes()
    assert (central / rel(v3)).read_bytes() == (local / rel(v3)).read_bytes()
    assert all(n < size / 5 for n in literal), (literal, size)
