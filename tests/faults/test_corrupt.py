"""Corruption on central: flipped bytes, truncation, another object's bytes, a bad manifest,
a symlink planted in place of an object. A pull must catch each before the object enters
the local storage, the cache or the workspace, name the object and the tracked file, and
exit non-zero; `dvc-synced verify` must list every missing and corrupt object.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.conftest import Team, User
from tests.faults.support import assert_sound, commit, md5, object_path, track

FILES = {
    "data/a.bin": b"alpha " * 2000,
    "data/b.bin": b"bravo " * 3000,
    "models/m.bin": os.urandom(20000),
}


def shared(team: Team) -> tuple[User, User, dict[str, str], str]:
    """alice pushed FILES and a tracked directory; bob has cloned and nothing else."""
    alice = team.founder("alice")
    alice.synced("install")
    objs = track(alice, FILES)
    for i in range(3):
        alice.write(f"images/img{i}.txt", f"image {i}\n" * 50)
    alice.dvc("add", "-q", "images")
    commit(alice, "data")
    alice.git("push", "-q", "origin", "main")
    manifest = object_path(
        next(line.split()[-1] for line in (alice.repo / "images.dvc").read_text().splitlines()
             if "md5:" in line))
    return alice, team.user("bob"), objs, manifest


def damage(path: Path, how: str, other: Path | None = None) -> bytes:
    """Damage a central object in place (as root would); returns the original bytes."""
    original = path.read_bytes()
    os.chmod(path, 0o644)
    if how == "flip":
        data = bytearray(original)
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    elif how == "truncate":
        path.write_bytes(original[: len(original) // 3])
    elif how == "swap":
        assert other is not None
        path.write_bytes(other.read_bytes())
    elif how == "symlink":
        path.unlink()
        os.symlink(other, path)
    os.chmod(path, 0o444, follow_symlinks=False) if how != "symlink" else None
    return original


def restore(path: Path, original: bytes) -> None:
    if path.is_symlink() or path.exists():
        if not path.is_symlink():
            os.chmod(path, 0o644)
        path.unlink()
    path.write_bytes(original)
    os.chmod(path, 0o444)


def assert_nothing_entered(bob: User, rel: str, owner: str) -> None:
    local = assert_sound(bob.local_storage())
    cache = assert_sound(bob.repo / ".dvc" / "cache")
    assert rel not in local and rel not in cache, f"{rel} entered bob's stores"
    assert not (bob.repo / owner).exists(), f"{owner} appeared in the workspace"


def test_pull_refuses_corrupt_objects(team: Team, tmp_path: Path) -> None:
    alice, bob, objs, manifest = shared(team)
    central = Path(team.central)
    outside = tmp_path / "secret.txt"
    outside.write_text("not yours\n")
    cases = [
        ("flip", "data/a.bin", objs["data/a.bin"], None),
        ("truncate", "models/m.bin", objs["models/m.bin"], None),
        ("swap", "data/b.bin", objs["data/b.bin"], central / objs["data/a.bin"]),
        ("symlink", "data/a.bin", objs["data/a.bin"], outside),
        ("flip", "images", manifest, None),
    ]
    for i, (how, owner, rel, other) in enumerate(cases):
        reader = team.user(f"reader{i}")  # meets the damaged object with empty stores
        target = central / rel
        original = damage(target, how, other)
        proc = reader.synced("pull", check=False)
        restore(target, original)
        assert proc.returncode != 0, (how, owner, proc.stdout)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert owner in proc.stderr, (how, owner, proc.stderr)
        if how == "symlink":  # not a regular file: rsync does not see it, nor follows it
            assert "not on central" in proc.stderr, proc.stderr
        else:
            assert rel in proc.stderr and "corrupt" in proc.stderr, (how, proc.stderr)
        assert_nothing_entered(reader, rel, owner)
    assert outside.read_text() == "not yours\n"

    bob.synced("pull")  # central repaired: everything arrives, verified
    for path, data in FILES.items():
        assert (bob.repo / path).read_bytes() == data
    assert (bob.repo / "images/img2.txt").read_text() == "image 2\n" * 50


def test_hook_pull_refuses_corrupt_object(team: Team) -> None:
    """Through `git pull`: git merges, the hook reports the object, the workspace keeps."""
    alice = team.founder("alice")
    alice.synced("install")
    bob = team.user("bob")
    bob.synced("install")
    objs = track(alice, {"data/a.bin": b"good bytes\n" * 100})
    commit(alice, "data")
    alice.git("push", "-q", "origin", "main")
    target = Path(team.central) / objs["data/a.bin"]
    damage(target, "flip")
    proc = bob.git("pull", "-q")
    assert objs["data/a.bin"] in proc.stderr and "data/a.bin" in proc.stderr, proc.stderr
    assert "dvc-synced pull" in proc.stderr
    assert_nothing_entered(bob, objs["data/a.bin"], "data/a.bin")
    status = bob.synced("status", check=False)
    assert status.returncode != 0


def test_push_refuses_truncated_copy_on_central(team: Team) -> None:
    """A short copy on central is not taken for the object: the push is refused."""
    alice = team.founder("alice")
    alice.synced("install")
    objs = track(alice, {"data/a.bin": b"0123456789" * 500})
    commit(alice, "data")
    target = Path(team.central) / objs["data/a.bin"]
    target.parent.mkdir(parents=True)
    target.write_bytes(b"0123456789" * 10)
    before = alice.git("ls-remote", "origin", "refs/heads/main").stdout
    proc = alice.git("push", "origin", "main", check=False)
    assert proc.returncode != 0
    assert "wrong size on central" in proc.stderr and "data/a.bin" in proc.stderr, proc.stderr
    assert alice.git("ls-remote", "origin", "refs/heads/main").stdout == before


def test_verify_reports_missing_and_corrupt(team: Team) -> None:
    alice, bob, objs, manifest = shared(team)
    central = Path(team.central)
    assert bob.synced("verify", "--all").returncode == 0

    damage(central / objs["data/a.bin"], "flip")
    damage(central / objs["data/b.bin"], "swap", central / objs["models/m.bin"])
    gone = central / objs["models/m.bin"]
    os.chmod(gone.parent, 0o755)
    shutil.move(str(gone), str(gone) + ".moved-away")
    for args in (["verify", "--all"], ["verify", "--rev", "HEAD", "--rev", "main"],
                 ["verify"]):
        proc = bob.synced(*args, check=False)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        out = proc.stdout
        assert f"corrupt  {objs['data/a.bin']} (data/a.bin)" in out, out
        assert f"corrupt  {objs['data/b.bin']} (data/b.bin)" in out, out
        assert f"missing  {objs['models/m.bin']} (models/m.bin)" in out, out
        assert "verify FAILED" in out and "1 missing, 2 corrupt" in out, out
    # verify only reads: nothing was added to bob's stores or central
    assert assert_sound(bob.local_storage()) == {}
    assert md5((central / objs["data/b.bin"]).read_bytes()) == objs["models/m.bin"].replace(
        "files/md5/", "").replace("/", "")


def test_verify_of_a_range_checks_what_its_commits_add(team: Team) -> None:
    """`verify --rev HEAD~1..HEAD` costs the change: it downloads and checks the objects the
    last commit added (one file of a directory and its new manifest), not all of HEAD."""
    alice, _bob, objs, manifest = shared(team)
    central = Path(team.central)
    alice.write("images/img1.txt", "changed\n")
    alice.dvc("add", "-q", "images")
    commit(alice, "change one image")
    alice.git("push", "-q", "origin", "main")
    new_obj = object_path(md5(b"changed\n"))
    damage(central / objs["data/a.bin"], "flip")  # of the first commit: outside the range
    proc = alice.synced("verify", "--rev", "HEAD~1..HEAD")
    assert "verify OK: 2 object(s) of 1 revision(s)" in proc.stdout, proc.stdout
    damage(central / new_obj, "flip")
    proc = alice.synced("verify", "--rev", "HEAD~1..", check=False)
    assert proc.returncode == 1 and f"corrupt  {new_obj} (images/img1.txt)" in proc.stdout, (
        proc.stdout)
    assert alice.synced("verify", "--rev", "HEAD", check=False).returncode == 1  # both bad
    proc = alice.synced("verify", "--rev", "HEAD~1...HEAD", check=False)
    assert proc.returncode != 0 and "A..B" in proc.stderr and not proc.stdout, proc.stderr
    assert manifest
