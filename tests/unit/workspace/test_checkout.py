"""A pull updates only the changed entries of a directory, as `dvc checkout` would have.

After the hook's pull, `dvc status` must report nothing changed, unchanged files must be
untouched (same inode), link types from `cache.type` must be honoured, and a local change
to a file the pull would replace must never be lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path
from typing import Callable

import pytest

from dvc_synced_plugin.dvcfiles.objects import ObjectRef, manifest_delta
from dvc_synced_plugin.dvcfiles.pointers import Out
from dvc_synced_plugin.storage.stores import ObjectStore
from dvc_synced_plugin.workspace import checkout as workspace
from tests.conftest import Team, User, tree_digest


def setup_pair(team: Team, cache_type: str = "") -> tuple[User, User]:
    alice = team.founder("alice")
    alice.synced("install")
    for i in range(12):
        alice.write(f"data/sub{i % 3}/f{i}.txt", f"file {i}\n")
    alice.write("data/solo/only.txt", "alone in its directory\n")
    alice.write("model.bin", bytes(range(256)) * 64)
    alice.dvc("add", "-q", "data", "model.bin")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "data")
    alice.git("push", "-q", "origin", "main")
    bob = team.user("bob")
    if cache_type:
        bob.dvc("config", "--local", "cache.type", cache_type)
    bob.synced("install")
    bob.synced("pull")
    return alice, bob


def change(alice: User) -> None:
    alice.write("data/sub0/f0.txt", "changed 0\n")
    alice.write("data/sub1/f1.txt", "changed 1\n")
    os.remove(alice.repo / "data/solo/only.txt")
    alice.write("data/sub2/new.txt", "new file\n")
    alice.write("data/newdir/deep/x.txt", "new dir\n")
    alice.write("model.bin", bytes(range(256)) * 65)
    alice.dvc("add", "-q", "data", "model.bin")
    alice.git("commit", "-q", "-am", "change a few entries")
    alice.git("push", "-q", "origin", "main")


def dvc_status(user: User) -> dict:
    return json.loads(user.dvc("status", "--json").stdout or "{}")


@pytest.mark.parametrize("cache_type", ["", "hardlink", "symlink"])
def test_pull_touches_only_the_change(team: Team, cache_type: str) -> None:
    alice, bob = setup_pair(team, cache_type)
    untouched = bob.repo / "data/sub2/f2.txt"
    inode = os.lstat(untouched).st_ino
    change(alice)

    out = bob.git("pull", "-q")
    assert "dvc checkout" not in out.stderr, out.stderr
    assert tree_digest(bob.repo / "data") == tree_digest(alice.repo / "data")
    assert (bob.repo / "model.bin").read_bytes() == (alice.repo / "model.bin").read_bytes()
    assert os.lstat(untouched).st_ino == inode, "an unchanged file was rewritten"
    assert not (bob.repo / "data/solo").exists(), "the emptied directory was left behind"
    assert dvc_status(bob) == {}, "dvc status sees a difference after the pull"

    changed = bob.repo / "data/sub0/f0.txt"
    if cache_type == "symlink":
        assert changed.is_symlink()
    elif cache_type == "hardlink":
        assert os.stat(changed).st_nlink > 1 and os.stat(changed).st_mode & 0o222 == 0
    else:
        assert not changed.is_symlink() and os.stat(changed).st_nlink == 1
        assert os.stat(changed).st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_local_changes_are_kept(team: Team) -> None:
    alice, bob = setup_pair(team)
    bob.write("data/sub2/f5.txt", "bob's unrelated edit\n")  # not in alice's change
    bob.write("data/sub0/f0.txt", "bob's edit of a file alice changes too\n")
    change(alice)

    proc = bob.git("pull", "-q", check=False)
    assert proc.returncode == 0, proc.stderr
    assert (bob.repo / "data/sub2/f5.txt").read_text() == "bob's unrelated edit\n"
    # The conflicting file goes to `dvc checkout`, which refuses to drop bob's edit.
    assert (bob.repo / "data/sub0/f0.txt").read_text() == (
        "bob's edit of a file alice changes too\n"), proc.stderr
    assert "dvc-synced pull" in proc.stderr


# ------------------------------------------------------------- the update itself, no DVC


def _store(tmp_path: Path) -> tuple[ObjectStore, Callable[[bytes], str]]:
    cache = ObjectStore(tmp_path / "cache", "DVC cache")

    def put(data: bytes) -> str:
        md5 = hashlib.md5(data).hexdigest()
        path = cache.path(ObjectRef(md5, False))
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_bytes(data)
            os.chmod(path, 0o444)
        return md5

    return cache, put


def _manifest(entries: dict[str, str]) -> bytes:
    return json.dumps([{"md5": m, "relpath": r} for r, m in sorted(entries.items())],
                      sort_keys=True).encode()


def _delta_case(tmp_path: Path) -> tuple[Path, ObjectStore, list, dict]:
    cache, put = _store(tmp_path)
    repo = tmp_path / "repo"
    old_files = {"a.txt": b"a1", "sub/b.txt": b"b", "gone/c.txt": b"c"}
    new_files = {"a.txt": b"a2", "sub/b.txt": b"b", "new/deep/d.txt": b"d"}
    for rel, data in old_files.items():
        (repo / "data" / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / "data" / rel).write_bytes(data)
    old = {r: put(d) for r, d in old_files.items()}
    new = {r: put(d) for r, d in new_files.items()}
    old_out = Out("data", "data", "1" * 32 + ".dir", False, "data.dvc", "data.dvc")
    new_out = Out("data", "data", "2" * 32 + ".dir", False, "data.dvc", "data.dvc")
    deltas = {(old_out.oid, new_out.oid): manifest_delta(_manifest(old), _manifest(new),
                                                         False, "data")}
    return repo, cache, [(old_out, new_out)], deltas


def test_update_applies_only_the_delta(tmp_path: Path) -> None:
    repo, cache, changed, deltas = _delta_case(tmp_path)
    kept = os.lstat(repo / "data/sub/b.txt").st_ino
    assert workspace.update(repo, cache, ["reflink", "copy"], changed, deltas) == set()
    assert tree_digest(repo / "data") == tree_digest_of(
        {"a.txt": b"a2", "sub/b.txt": b"b", "new/deep/d.txt": b"d"})
    assert os.lstat(repo / "data/sub/b.txt").st_ino == kept
    assert not (repo / "data/gone").exists()


def test_update_leaves_a_local_change_to_dvc(tmp_path: Path) -> None:
    repo, cache, changed, deltas = _delta_case(tmp_path)
    (repo / "data/a.txt").write_bytes(b"mine")
    assert workspace.update(repo, cache, ["copy"], changed, deltas) == {"data.dvc"}
    assert (repo / "data/a.txt").read_bytes() == b"mine"
    assert not (repo / "data/new").exists(), "part of a target was applied"
    assert (repo / "data/gone/c.txt").exists()


def tree_digest_of(files: dict[str, bytes]) -> dict[str, str]:
    return {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()}


def test_manifest_delta_matches_a_full_comparison() -> None:
    """The block-wise text comparison against the plain one, on random edits; names with
    the entry separator in them force the full parse."""
    rng = random.Random(4)

    def md5() -> str:
        return f"{rng.getrandbits(128):032x}"

    for _ in range(400):
        names = [f"d{rng.randint(0, 9)}/f{i}{rng.choice(['', 'x', '}, {y', 'é'])}"
                 for i in range(rng.choice([0, 1, 5, 300, 3000]))]
        old = {r: md5() for r in names}
        new = dict(old)
        for _ in range(rng.randint(0, 12)):
            roll, keys = rng.random(), list(new)
            if roll < 0.5 and keys:
                new[rng.choice(keys)] = md5()
            elif roll < 0.75:
                new[f"d{rng.randint(0, 9)}/n{rng.random()}"] = md5()
            elif keys:
                del new[rng.choice(keys)]
        delta = manifest_delta(_manifest(old), _manifest(new), False, "data")
        assert delta.before == {r: m for r, m in old.items() if new.get(r) != m}
        assert delta.after == {r: m for r, m in new.items() if old.get(r) != m}


# ------------------------------------------------------------- outputs that leave (issue 10)


def _out(path: str, oid: str = "1" * 32, pointer: str = "") -> Out:
    return Out(path, path, oid, False, pointer or f"{path}.dvc", pointer or f"{path}.dvc")


def test_removed_outputs_keep_what_the_new_side_still_records() -> None:
    from dvc_synced_plugin.dvcfiles.pointers import output_paths

    lock = b"""schema: '2.0'
stages:
  s:
    cmd: x
    outs:
    - path: metrics.json
      md5: 8a80554c91d9fca8acb82f023de02f11
    - path: out
      md5: f8f61a44e72def2b21d627cc77c95f7b.dir
"""
    assert output_paths("sub/dvc.lock", lock) == {"sub/metrics.json", "sub/out"}
    assert output_paths("a.dvc", b"outs:\n- path: a\n  md5: x\n  push: false\n") == {"a"}
    pairs = [([_out("d"), _out("metrics.json")], []), ([_out("keep")], [_out("keep")]),
             ([_out("x")], [_out("x/sub")])]
    gone = workspace.removed_outputs(pairs, {"metrics.json"})
    assert [o.path for o in gone] == ["d"]  # uncached now, and overlapping, stay


def test_remove_stale_removes_only_the_old_version(tmp_path: Path) -> None:
    cache, put = _store(tmp_path)
    repo = tmp_path / "repo"
    (repo / "d/sub").mkdir(parents=True)
    (repo / "d/a").write_bytes(b"a")
    (repo / "d/sub/b").write_bytes(b"b")
    (repo / "single").write_bytes(b"s")
    (repo / "changed").write_bytes(b"mine")
    entries = {"a": put(b"a"), "sub/b": put(b"b")}
    manifest = _manifest(entries)
    dir_oid = hashlib.md5(manifest).hexdigest() + ".dir"
    outs = [_out("d", dir_oid), _out("single", put(b"s")), _out("changed", put(b"old"))]
    kept = workspace.remove_stale(repo, cache, outs, lambda ref: manifest)
    assert kept == ["changed"] and (repo / "changed").read_bytes() == b"mine"
    assert not (repo / "d").exists() and not (repo / "single").exists()
    (repo / "d").mkdir()
    (repo / "d/a").write_bytes(b"a")
    (repo / "d/extra").write_bytes(b"untracked")  # not in the manifest: kept whole
    assert workspace.remove_stale(repo, cache, outs[:1], lambda ref: manifest) == ["d"]
    assert (repo / "d/extra").exists()


def test_update_sets_exec_and_makes_empty_directories(tmp_path: Path) -> None:
    cache, put = _store(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    tool = Out("tool", "tool", put(b"#!/bin/sh\n"), False, "tool.dvc", "tool.dvc", True)
    empty = _out("empty", hashlib.md5(b"[]").hexdigest() + ".dir")
    deltas = {("", empty.oid): manifest_delta(None, b"[]", False, "empty")}
    assert workspace.update(repo, cache, ["copy"], [(None, tool), (None, empty)], deltas) == set()
    assert os.stat(repo / "tool").st_mode & 0o100 and (repo / "empty").is_dir()
    plain = Out("tool", "tool", tool.oid, False, "tool.dvc", "tool.dvc", False)
    assert workspace.update(repo, cache, ["copy"], [(tool, plain)], {}) == set()
    assert not os.stat(repo / "tool").st_mode & 0o111


def test_untracked_file_in_a_recorded_directory_goes_to_dvc(tmp_path: Path) -> None:
    repo, cache, changed, deltas = _delta_case(tmp_path)
    old, _new = changed[0]
    record = workspace.DirRecord(tmp_path / "dirs")
    record.record(repo / "data", old)
    assert workspace.update(repo, cache, ["copy"], changed, deltas, record) == set()
    # The record follows our own update: the next change is provably clean too.
    assert record.unchanged(repo / "data", "data", changed[0][1].oid)
    (repo / "data/sub/untracked.txt").write_bytes(b"x")
    assert not record.unchanged(repo / "data", "data", changed[0][1].oid)
