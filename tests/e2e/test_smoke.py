"""The main flow end to end: alice pushes through the hook, bob pulls through the hook."""

from __future__ import annotations

import pytest

from tests.conftest import Team, store_objects, tree_digest


def share_dataset(team: Team) -> None:
    alice = team.founder("alice")
    alice.synced("install")
    for i in range(5):
        alice.write(f"data/sub dir/f {i}.txt", f"file {i}\n")
    alice.write("data/é/empty", b"")
    alice.write("big.bin", bytes(range(256)) * 4000)
    alice.dvc("add", "-q", "data", "big.bin")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "data")
    alice.git("push", "-q", "origin", "main")

    bob = team.user("bob")
    bob.synced("install")
    bob.synced("pull")
    assert tree_digest(bob.repo / "data") == tree_digest(alice.repo / "data")
    assert (bob.repo / "big.bin").read_bytes() == (alice.repo / "big.bin").read_bytes()

    alice.write("data/sub dir/f 1.txt", "changed\n")
    alice.dvc("add", "-q", "data")
    alice.git("commit", "-q", "-am", "change one file")
    before = store_objects(bob.local_storage())
    alice.git("push", "-q", "origin", "main")
    bob.git("pull", "-q")
    assert (bob.repo / "data/sub dir/f 1.txt").read_text() == "changed\n"
    moved = store_objects(bob.local_storage()) - before
    # the changed file and the new manifest, nothing else
    assert len(moved) == 2, (before, moved, bob.local_storage())


def test_local_central(team: Team) -> None:
    share_dataset(team)


@pytest.mark.usefixtures("sshd")
def test_ssh_central(ssh_team: Team) -> None:
    share_dataset(ssh_team)
