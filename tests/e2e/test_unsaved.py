"""Unsaved work is never lost (issue #21), each case as a user meets it, with real git,
DVC and rsync: in-place edits in every cache type against DVC's own refusal, two clones
of one user sharing the local storage, no temporary name left by a sync, exec bits in
link cache types, and a fetch after `gc` that brings back what an offline switch needs.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from pathlib import Path

import pytest

from tests.conftest import Team, User, run, tree_digest

CACHE_TYPES = ("", "copy", "hardlink", "symlink", "hardlink,symlink")


def temp_names(*roots: Path) -> list[str]:
    """Every temporary name a sync may have left: ours (`.NAME.dvcsynced-PID-HEX.tmp`,
    and the older `.NAME.HEX.tmp`) in the work tree, its stores and the state dir."""
    found = []
    for root in roots:
        for top, _dirs, files in os.walk(root):
            found += [os.path.join(top, f) for f in files
                      if f.endswith(".tmp") and f.startswith(".")]
            found += [os.path.join(top, f) for f in files if ".dvcsynced-" in f]
    return sorted(set(found))


def assert_no_temp_names(user: User) -> None:
    """The workspace check every test here ends with."""
    roots = [user.repo, user.local_storage()]
    left = [p for p in temp_names(*[r for r in roots if r.exists()])
            if "/.dvc/tmp/" not in p]  # DVC's own scratch dir
    assert not left, f"temporary names survived a sync: {left}"


def founder(team: Team) -> User:
    alice = team.founder()
    alice.synced("install")  # her pushes send the data
    return alice


def publish(alice: User, files: dict[str, bytes], targets: list[str], message: str) -> None:
    for rel, data in files.items():
        alice.write(rel, data)
    alice.dvc("add", "-q", *targets)
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", message)
    alice.git("push", "-q", "origin", "HEAD")


def bob_with(team: Team, name: str, cache_type: str) -> User:
    bob = team.user(name)
    if cache_type:
        bob.dvc("config", "--local", "cache.type", cache_type)
    bob.synced("install")
    bob.synced("pull")
    return bob


def write_in_place(path: Path, data: bytes) -> None:
    """What an editor that writes through links does: chmod u+w, then append."""
    os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR)
    with open(path, "ab") as fobj:
        fobj.write(data)


# ---------------------------------------------------------------- 1. in-place edits


def test_in_place_edit_is_kept_in_every_cache_type_as_dvc_keeps_it(team: Team) -> None:
    alice = founder(team)
    publish(alice, {"notes.txt": b"notes v1\n", "data/a.txt": b"a v1\n",
                    "data/b.txt": b"b v1\n"}, ["notes.txt", "data"], "v1")
    bobs = [(t, bob_with(team, f"bob{i}", t)) for i, t in enumerate(CACHE_TYPES)]
    for _, bob in bobs:
        write_in_place(bob.repo / "notes.txt", b"bob's unsaved line\n")
        write_in_place(bob.repo / "data" / "a.txt", b"bob's unsaved line\n")
    publish(alice, {"notes.txt": b"notes v2\n", "data/a.txt": b"a v2\n",
                    "data/b.txt": b"b v2\n"}, ["notes.txt", "data"], "v2")
    said_by = {}
    for cache_type, bob in bobs:
        pulled = bob.git("pull", "-q")
        said_by[cache_type] = pulled.stdout + pulled.stderr
    for cache_type, bob in bobs:  # the bytes first, in every cache type, then the words
        where = f"[{cache_type or 'default'}] {said_by[cache_type]}"
        assert (bob.repo / "notes.txt").read_bytes() == b"notes v1\nbob's unsaved line\n", where
        assert (bob.repo / "data/a.txt").read_bytes() == b"a v1\nbob's unsaved line\n", where
    for cache_type, bob in bobs:
        said = said_by[cache_type]
        where = f"[{cache_type or 'default'}] {said}"
        assert "notes.txt" in said and "dvc checkout --force" in said and "dvc add" in said, where
        # DVC itself, in the same state, refuses too and keeps the bytes.
        own = bob.dvc("checkout", check=False)
        assert own.returncode != 0, f"[{cache_type}] dvc checkout did not refuse: {own.stderr}"
        assert (bob.repo / "notes.txt").read_bytes() == b"notes v1\nbob's unsaved line\n"
        assert_no_temp_names(bob)


# ---------------------------------------------------------------- 2. two clones, one storage


@pytest.mark.parametrize("first", ["hardlink", "copy"])
def test_in_place_write_in_one_clone_never_reaches_another(team: Team, first: str) -> None:
    """One user, two clones sharing the default local storage: A with cache.type
    hardlink, B with copy. Whichever pulls first, A's in-place write stays in A."""
    alice = founder(team)
    publish(alice, {"model.bin": b"model v1\n" * 1000}, ["model.bin"], "v1")
    bob = team.user("bob")
    clone_b = User("bob-b", bob.home, team.base / "bob-b", bob.env)
    run(["git", "clone", "-q", str(team.server), str(clone_b.repo)], team.base, bob.env)
    bob.dvc("config", "--local", "cache.type", "hardlink")
    clone_b.dvc("config", "--local", "cache.type", "copy")
    order = [bob, clone_b] if first == "hardlink" else [clone_b, bob]
    for user in order:
        user.synced("pull")
    assert bob.local_storage() == clone_b.local_storage()
    a_file = bob.repo / "model.bin"
    assert os.stat(a_file).st_nlink > 1  # A's workspace is its cache object: hardlink
    b_objects = {os.stat(p).st_ino for p in (clone_b.repo / ".dvc" / "cache").rglob("*")
                 if p.is_file()}
    assert os.stat(a_file).st_ino not in b_objects, "B's cache shares A's workspace inode"

    write_in_place(a_file, b"scribbled in A\n")
    (clone_b.repo / "model.bin").unlink()
    clone_b.dvc("checkout", "-q")
    assert (clone_b.repo / "model.bin").read_bytes() == b"model v1\n" * 1000
    assert_no_temp_names(clone_b)


# ---------------------------------------------------------------- 4. no temporary name left


def test_hardlink_pull_after_reset_leaves_no_temporary_name(team: Team) -> None:
    """bob pulls, `git reset --hard` back (no hook), alice adds a directory output: the
    pull's two bases both lack it, so each of its files is linked twice over itself."""
    alice = founder(team)
    publish(alice, {"x.txt": b"x1\n"}, ["x.txt"], "c1")
    bob = bob_with(team, "bob", "hardlink")
    first = bob.git("rev-parse", "HEAD").stdout.strip()
    publish(alice, {"x.txt": b"x2\n"}, ["x.txt"], "c2")
    bob.git("pull", "-q")
    bob.git("reset", "-q", "--hard", first)
    publish(alice, {f"new/{n}.txt": f"{n}\n".encode() for n in "abc"}, ["new"], "c3")
    pulled = bob.git("pull", "-q")
    assert tree_digest(bob.repo / "new") == tree_digest(alice.repo / "new"), pulled.stderr
    assert_no_temp_names(bob)


# ---------------------------------------------------------------- 5. exec bits in link types


@pytest.mark.parametrize("cache_type", ["hardlink", "symlink"])
def test_exec_bit_survives_a_push_in_link_cache_types(team: Team, cache_type: str) -> None:
    """alice adds an executable with a link cache type and pushes: the push shares the
    cache object into the local storage, and must not take the x bit DVC gave it."""
    alice = founder(team)
    alice.dvc("config", "--local", "cache.type", cache_type)
    tool = alice.write("run.sh", b"#!/bin/sh\necho hi\n")
    os.chmod(tool, 0o755)
    alice.dvc("add", "-q", "run.sh")
    assert os.stat(tool).st_mode & stat.S_IXUSR
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "tool")
    alice.git("push", "-q", "origin", "main")
    assert os.stat(tool).st_mode & stat.S_IXUSR, oct(os.stat(tool).st_mode)
    bob = bob_with(team, "bob", cache_type)
    assert os.stat(bob.repo / "run.sh").st_mode & stat.S_IXUSR
    assert json.loads(alice.dvc("status", "--json").stdout or "{}") == {}
    assert_no_temp_names(alice)


# ---------------------------------------------------------------- 6. gc, fetch, offline switch


def test_fetch_after_gc_brings_back_what_an_offline_switch_needs(team: Team) -> None:
    alice = founder(team)
    publish(alice, {"data/a.txt": b"main\n"}, ["data"], "main data")
    alice.git("switch", "-q", "-c", "old")
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 10 * 86400))
    alice.env.update(GIT_AUTHOR_DATE=old, GIT_COMMITTER_DATE=old)
    publish(alice, {"data/a.txt": b"old branch\n" * 100}, ["data"], "old branch data")
    want = tree_digest(alice.repo / "data")
    bob = team.user("bob")
    bob.synced("install")
    bob.synced("pull")
    bob.synced("fetch", "--git-fetch", "--recent", "30")
    removed = json.loads(bob.synced("gc", "--json").stdout)["removed"]["objects"]
    assert removed > 0  # the 10-day-old branch's data left the local storage
    again = bob.synced("fetch", "--recent", "30").stdout
    assert "fetched 0 object(s)" not in again, again
    # Someone deletes the local storage: the next fetch fills it again.
    shutil.rmtree(bob.local_storage())
    again = bob.synced("fetch", "--recent", "30").stdout
    assert "fetched 0 object(s)" not in again, again

    central = Path(team.central)
    central.rename(central.with_name("central-away"))
    switched = bob.git("switch", "old")
    assert "warning" not in switched.stderr, switched.stderr
    assert tree_digest(bob.repo / "data") == want
    assert_no_temp_names(bob)
