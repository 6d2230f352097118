"""The 10^6 benchmark writes what `dvc add` would, without `dvc add`: DVC is the oracle.

At N=200 the builder's cache, `.dir` manifest, `data.dvc` and `.gitignore` must be byte for
byte what `dvc add data` makes of the same files, and so must the change of 9 files.
"""

from __future__ import annotations

import os
import random
import stat
import subprocess
import sys
from pathlib import Path

from benchmarks import fixture, huge
from tests.harness import make_env

N = 200


def _dvc(repo: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, check=True,
                   env=make_env(repo.parent / "home"), stdout=subprocess.DEVNULL)


def _init(repo: Path) -> None:
    repo.mkdir()
    env = make_env(repo.parent / "home")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
    _dvc(repo, "init", "-q")


def _tree(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """path -> (content, mode, link count) of every file below `root`."""
    out = {}
    for top, _dirs, files in os.walk(root):
        for name in files:
            path = Path(top, name)
            st = path.lstat()
            out[path.relative_to(root).as_posix()] = (path.read_bytes(), stat.S_IMODE(st.st_mode),
                                                      st.st_nlink)
    return out


def _state(repo: Path) -> dict[str, object]:
    return {
        "cache": _tree(repo / ".dvc" / "cache"),
        "data": _tree(repo / "data"),
        "data.dvc": (repo / "data.dvc").read_text(),
        ".gitignore": (repo / ".gitignore").read_text(),
    }


def test_builder_and_change_match_dvc_add(tmp_path: Path) -> None:
    ours, oracle = tmp_path / "ours" / "repo", tmp_path / "oracle" / "repo"
    ours.parent.mkdir()
    oracle.parent.mkdir()
    _init(ours)
    _init(oracle)
    huge.write_small_tracked(ours, ours / ".dvc" / "cache", N - 4, random.Random(N),
                             log=lambda _: None)
    fixture.write_small_files(oracle / "data", N - 4, random.Random(N))
    _dvc(oracle, "add", "-q", "data")
    assert _state(ours) == _state(oracle)

    rng = random.Random(7)
    paths = rng.sample([p.removeprefix("data/") for p in fixture.small_paths(N)], 9)
    contents = {rel: rng.randbytes(rng.randint(64, 2048)) for rel in paths}
    huge.change_files(ours, ours / ".dvc" / "cache", contents)
    for rel, data in contents.items():
        path = oracle / "data" / rel
        path.unlink()
        path.write_bytes(data)
    _dvc(oracle, "add", "-q", "data")
    assert _state(ours) == _state(oracle)


def test_change_never_writes_through_a_link(tmp_path: Path) -> None:
    """A store hard-linked to the cache keeps its bytes when the workspace changes."""
    repo = tmp_path / "repo"
    _init(repo)
    cache = repo / ".dvc" / "cache"
    huge.write_small_tracked(repo, cache, 20, random.Random(1), log=lambda _: None)
    linked = tmp_path / "store"
    huge._link_tree(cache / "files", linked)
    (repo / "data" / "d000" / "f000003.txt").unlink()
    os.link(linked / next(p for p in _tree(linked) if not p.endswith(".dir")),
            repo / "data" / "d000" / "f000003.txt")  # a workspace file linked to an object
    snapshot = _tree(linked)
    huge.change_files(repo, cache, {"d000/f000003.txt": b"new bytes", "d000/f000004.txt": b"x"})
    old = {k: v[:2] for k, v in snapshot.items()}
    assert {k: v[:2] for k, v in _tree(linked).items() if k in old} == old
