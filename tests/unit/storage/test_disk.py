"""Disk use after a pull (real git, DVC, rsync): the local storage shares the cache's
inodes instead of holding a third copy, and `du` counts each inode once.

With cache.type hardlink the workspace shares them too; the risk that brings (a file
written in place changes the object) is shown caught before it leaves the clone.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Team, User, run, store_objects, tree_digest

MODEL = 3 * 1024 * 1024


def _dataset(user: User, seed: int = 1) -> int:
    """A 3 MiB file and a directory of 20 small ones; returns the bytes written."""
    rng = random.Random(seed)
    total = 0
    for data, rel in [(rng.randbytes(MODEL), "data/model.bin")] + [
            (rng.randbytes(rng.randint(2000, 30000)), f"data/images/{i:02d}.bin")
            for i in range(20)]:
        user.write(rel, data)
        total += len(data)
    return total


def _publish(alice: User, hardlink: bool = False) -> int:
    if hardlink:
        alice.dvc("config", "--local", "cache.type", "hardlink")
    size = _dataset(alice)
    alice.dvc("add", "-q", "data/model.bin", "data/images")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "data v1")
    alice.synced("push")
    alice.git("push", "-q", "origin", "main")
    return size


def on_disk(user: User) -> int:
    """Bytes of workspace data + cache + local storage, each inode once (as `du` would)."""
    seen: dict[tuple[int, int], int] = {}
    for top in (user.repo / "data", user.repo / ".dvc" / "cache", user.local_storage()):
        for path in top.rglob("*"):
            st = path.stat()
            if path.is_file():
                seen[(st.st_dev, st.st_ino)] = st.st_size
    return sum(seen.values())


def du(user: User) -> dict:
    return json.loads(user.synced("du", "--json").stdout)


def test_pull_default_cache_type_within_2_05x(team: Team) -> None:
    alice = team.founder()
    size = _publish(alice)
    bob = team.user("bob")
    bob.synced("pull")
    assert tree_digest(bob.repo / "data") == tree_digest(alice.repo / "data")
    assert on_disk(bob) <= 2.05 * size, (on_disk(bob), size)  # three copies before
    report = du(bob)
    assert report["data_bytes"] == size
    assert report["ratio"] <= 2.05
    assert abs(report["total"] - on_disk(bob)) <= 0.01 * size  # + manifests
    # ext4 has no reflinks: the one command that saves the workspace's copy, and its trade.
    if not report["reflink"]:
        assert report["advice"]["command"] == "dvc config cache.type hardlink"
        assert "dvc unprotect" in report["advice"]["trade"]
        assert "`dvc config cache.type hardlink`" in bob.synced("du").stdout


def test_hardlink_pull_within_1_05x_and_edit_in_place_is_caught(team: Team) -> None:
    alice = team.founder()
    size = _publish(alice)
    bob = team.user("bob")
    bob.dvc("config", "--local", "cache.type", "hardlink")
    bob.synced("pull")
    assert tree_digest(bob.repo / "data") == tree_digest(alice.repo / "data")
    assert on_disk(bob) <= 1.05 * size, (on_disk(bob), size)
    model = bob.repo / "data" / "model.bin"
    assert model.stat().st_nlink == 3  # workspace, cache, local storage: one inode
    assert du(bob)["advice"] is None

    # The risk: bob writes the linked file in place, so cache and local storage change too.
    good = tree_digest(model)
    os.chmod(model, 0o644)
    with open(model, "r+b") as fobj:
        fobj.write(b"edited in place")
    # His second clone shares the local storage: its pull refuses the object, checks
    # nothing out, and its cache does not take it in.
    bob2 = User("bob2", bob.home, team.base / "bob2", bob.env)
    run(["git", "clone", "-q", str(team.server), str(bob2.repo)], team.base, bob.env)
    failed = bob2.synced("pull", check=False)
    assert failed.returncode != 0
    assert "changed in place" in failed.stderr, failed.stderr
    assert not (bob2.repo / "data" / "model.bin").exists()
    assert not any("model" in p for p in store_objects(bob2.repo / ".dvc" / "cache"))
    # The fix the message names: drop the bad local copy, pull again from central.
    bad = failed.stderr.split(" does not hash")[0].split()[-1]
    Path(bad).unlink()
    bob2.synced("pull")
    assert tree_digest(bob2.repo / "data" / "model.bin") == good


def test_hardlink_edit_in_place_never_reaches_central(team: Team, tmp_path: Path) -> None:
    """alice's workspace links into her cache and local storage; a push to a new central
    (read from the local storage) and her next push (read from the cache) both refuse."""
    alice = team.founder()
    _publish(alice, hardlink=True)
    model = alice.repo / "data" / "model.bin"
    assert model.stat().st_nlink == 3
    os.chmod(model, 0o644)
    with open(model, "r+b") as fobj:
        fobj.write(b"edited in place")

    moved = tmp_path / "new-central"
    moved.mkdir()
    env = {**alice.env, "DVC_SYNCED_CENTRAL": str(moved)}
    proc = run([sys.executable, "-m", "dvc_synced_plugin", "push"], alice.repo, env, check=False)
    assert proc.returncode != 0 and "changed in place" in proc.stderr, proc.stderr
    pointer = (alice.repo / "data" / "model.bin.dvc").read_text()
    oid = pointer.split("md5: ")[1].split()[0]
    assert f"files/md5/{oid[:2]}/{oid[2:]}" not in store_objects(moved)

    # With the local storage gone, a push reads the object out of the cache: hashed too.
    shutil.rmtree(alice.local_storage())
    proc = alice.synced("push", check=False)
    assert proc.returncode != 0 and "changed in place" in proc.stderr, proc.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mkfs.xfs"),
                    reason="needs root and xfsprogs for a loop XFS filesystem")
def test_reflink_filesystem_detected_and_within_1_05x(tmp_path: Path) -> None:
    """On XFS with reflinks, DVC's default cache type clones and so does the pull."""
    image, mnt = tmp_path / "xfs.img", tmp_path / "mnt"
    mnt.mkdir()
    with open(image, "wb") as fobj:
        fobj.truncate(400 << 20)
    if subprocess.run(["mkfs.xfs", "-q", "-m", "reflink=1", str(image)]).returncode != 0:
        pytest.skip("mkfs.xfs failed")
    if subprocess.run(["mount", "-o", "loop", str(image), str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a loop filesystem here")
    try:
        (mnt / "central").mkdir()
        team = Team(mnt, str(mnt / "central"))
        alice = team.founder()
        size = _publish(alice)
        bob = team.user("bob")
        os.sync()
        before = _used(mnt)
        bob.synced("pull")
        os.sync()
        grew = _used(mnt) - before
        assert tree_digest(bob.repo / "data") == tree_digest(alice.repo / "data")
        report = du(bob)
        assert report["reflink"] is True and report["advice"] is None
        # Each disk block once over workspace + cache + local storage (FIEMAP), as the
        # inode count is on ext4; df's growth adds git's and DVC's own metadata.
        assert report["blocks_ratio"] <= 1.05, report
        assert grew <= 1.15 * size, (grew, size)  # not 2x or 3x: nothing was copied
    finally:
        subprocess.run(["umount", str(mnt)])


def _used(mount: Path) -> int:
    st = os.statvfs(mount)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def _team_value(user: User, key: str) -> str:
    proc = user.git("config", "--file", ".dvc-synced", f"dvc-synced.{key}", check=False)
    return proc.stdout.strip()


def test_init_local_is_personal_and_team_default_is_relative(team: Team, tmp_path: Path) -> None:
    alice = team.user("alice")
    alice.dvc("init", "-q")
    mine = tmp_path / "alice-own-storage"
    out = alice.synced("init", "--central", team.central, "--local", str(mine)).stdout
    assert _team_value(alice, "local") == ""  # nothing personal in the committed file
    assert alice.git("config", "dvc-synced.local").stdout.strip() == str(mine)
    assert alice.local_storage() == mine
    if "Disk:" in out:  # ext4: the cache.type tip, said once
        assert out.count("dvc config cache.type") == 1
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "setup")
    alice.git("push", "-q", "origin", "main")
    bob = team.user("bob")
    bob.synced("pull")
    assert bob.local_storage().is_relative_to(bob.home)

    # A team-wide default: only ~/... or relative, and only through --team-local.
    before = (alice.repo / ".dvc-synced").read_text()
    bad = alice.synced("init", "--central", team.central, "--team-local", "/home/alice/x",
                       check=False)
    assert bad.returncode != 0 and "--local" in bad.stderr and len(bad.stderr.splitlines()) == 1
    assert (alice.repo / ".dvc-synced").read_text() == before
    alice.synced("init", "--central", team.central, "--team-local", "~/dvc-storage")
    assert _team_value(alice, "local") == "~/dvc-storage"

    # An old team file with an absolute path keeps working; doctor warns about it.
    bob.git("config", "--file", ".dvc-synced", "dvc-synced.local", str(tmp_path / "shared"))
    doctor = bob.synced("doctor", check=False)
    assert "ok    settings" in doctor.stdout, doctor.stdout
    assert "warn  .dvc-synced sets local" in doctor.stdout, doctor.stdout
    assert doctor.stdout.count("dvc config cache.type") <= 1


def test_manifest_from_shared_store_is_checked_like_a_download(tmp_path: Path) -> None:
    """A hostile manifest in the local storage (other clones fill it) never enters the cache."""
    import hashlib

    from dvc_synced_plugin.dvcfiles.objects import ObjectRef
    from dvc_synced_plugin.errors import CorruptObjectError
    from dvc_synced_plugin.storage.stores import ObjectStore, copy_objects

    local, cache = ObjectStore(tmp_path / "l", "local storage"), ObjectStore(tmp_path / "c", "c")
    data = json.dumps([{"md5": "0" * 32, "relpath": "../../.bashrc"}]).encode()
    ref = ObjectRef(hashlib.md5(data).hexdigest() + ".dir", False, "data")
    local.path(ref).parent.mkdir(parents=True)
    local.path(ref).write_bytes(data)
    with pytest.raises(CorruptObjectError, match="not a plain path"):
        copy_objects(local, cache, [ref], 2, verify=True, share=True)
    assert not cache.has(ref)
