"""rclone's own servers as stand-ins for the providers DVC lacks (#23 item 2): `rclone serve
webdav` (the HTTP-API family: Nextcloud, SharePoint and the like speak it) and `rclone serve
sftp` (a server reached by sftp alone, no shell), each on loopback, each pushed to and pulled
from through real git hooks, with the profile dvc-synced picks for the backend.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.conftest import Team, rclone_env, store_objects, tree_digest, unavailable
from tests.harness import RcloneServer, Unavailable, start_rclone_serve


def served(kind: str, tmp_path: Path) -> RcloneServer:
    try:
        return start_rclone_serve(kind, tmp_path / "served", tmp_path / "serve")
    except Unavailable as exc:
        unavailable(exc)
        raise


def obj(data: bytes) -> str:
    oid = hashlib.md5(data).hexdigest()
    return f"files/md5/{oid[:2]}/{oid[2:]}"


@pytest.mark.parametrize("kind", ["webdav", "sftp"])
def test_round_trip_through_rclone_serve(kind: str, tmp_path: Path) -> None:
    server = served(kind, tmp_path)
    try:
        central = server.root / "central"
        central.mkdir()
        # The remote as a user writes it: no tuning key (no md5sum_command on sftp).
        team = Team(tmp_path, "team:central", transport="rclone",
                    extra_env=rclone_env("team", server.remote))
        alice = team.founder("alice")
        alice.synced("install")
        bob = team.user("bob")
        bob.synced("install")

        files = {f"data/part {i}.bin": hashlib.sha256(f"{kind}{i}".encode()).digest() * 40
                 for i in range(12)}
        files["model.bin"] = bytes(range(256)) * 64
        for rel, data in files.items():
            alice.write(rel, data)
        alice.dvc("add", "-q", "data", "model.bin")
        alice.git("add", "-A")
        alice.git("commit", "-q", "-m", "data and model")
        alice.git("push", "-q", "origin", "main")
        cache = alice.repo / ".dvc" / "cache"
        on_central = {p for p in store_objects(central) if not p.startswith(".dvc-synced")}
        assert on_central == store_objects(cache) and len(on_central) == 14
        assert all((central / p).read_bytes() == (cache / p).read_bytes() for p in on_central)

        bob.git("pull", "-q")
        for rel in ("data", "model.bin"):
            assert tree_digest(bob.repo / rel) == tree_digest(alice.repo / rel)

        # Something that is no object (a directory) at the path where a new object
        # belongs: the push is refused, naming it, and neither it nor git moves.
        new = b"a new version\n" * 100
        (central / obj(new)).mkdir(parents=True)
        alice.write("model.bin", new)
        alice.dvc("add", "-q", "model.bin")
        alice.git("commit", "-q", "-am", "new model")
        before = alice.git("ls-remote", "origin", "refs/heads/main").stdout
        out = alice.git("push", "-q", "origin", "main", check=False)
        assert out.returncode != 0
        assert f"central holds a directory at {obj(new)}" in out.stderr, out.stderr
        assert alice.git("ls-remote", "origin", "refs/heads/main").stdout == before
        assert (central / obj(new)).is_dir()
    finally:
        server.stop()
