"""DVC features the fast parser must not misread (issue #20): each case end to end, with
real git, DVC and hooks, and DVC's own answer as the expectation."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.conftest import Team, User, store_objects


def obj(data: bytes) -> str:
    md5 = hashlib.md5(data).hexdigest()
    return f"files/md5/{md5[:2]}/{md5[2:]}"


def central(team: Team) -> set[str]:
    return store_objects(Path(team.central))


def founder(team: Team) -> User:
    alice = team.founder("alice")
    alice.synced("install")
    return alice


def commit_all(user: User, msg: str) -> None:
    user.git("add", "-A")
    user.git("commit", "-q", "-m", msg)


def teammate(team: Team) -> User:
    bob = team.user("bob")
    bob.synced("install")
    bob.git("checkout")  # a clone fires no hook; the first one after it syncs everything
    return bob


TEMPLATED = """\
vars:
  - model: model.pkl
  - scores: metrics.json
stages:
  train:
    cmd: printf 'trained-weights {n}\\n' > ${{model}} && echo 1 > ${{scores}}
    outs: [ "${{model}}" ]
    metrics:
      - ${{scores}}:
          cache: false
  each:
    foreach: [a, b]
    do:
      cmd: printf '${{item}} {n}\\n' > ${{item}}.bin && echo 1 > ${{item}}.json
      outs: [ "${{item}}.bin" ]
      metrics:
        - ${{item}}.json:
            cache: false
"""


def test_templated_cache_false_keeps_cached_outputs(team: Team) -> None:
    """Case 1: a templated `cache: false` output must not hide the stage's cached
    outputs (plain and foreach): the push uploads them, as plain `dvc push` does."""
    alice = founder(team)
    alice.write("dvc.yaml", TEMPLATED.format(n=1))
    alice.dvc("repro", "-q")
    commit_all(alice, "train")
    alice.git("push", "-q", "origin", "main")
    have = central(team)
    for data in (b"trained-weights 1\n", b"a 1\n", b"b 1\n"):
        assert obj(data) in have, f"central lacks {data!r}"
    assert obj(b"1\n") not in have  # the uncached metrics stay out
    assert "new:" not in alice.dvc("status", "-c").stdout  # the local storage has all
    bob = teammate(team)
    assert (bob.repo / "model.pkl").read_bytes() == b"trained-weights 1\n"
    assert (bob.repo / "b.bin").read_bytes() == b"b 1\n"


WDIR = """\
stages:
  train:
    wdir: stage
    cmd: cp ../input.txt model.bin
    deps: [ ../input.txt ]
    outs: [ model.bin ]
"""


def test_wdir_outputs_land_where_dvc_puts_them(team: Team) -> None:
    """Case 2: a stage's `wdir` and a .dvc file's `wdir: ..` place outputs relative to
    it: bob's pull updates `stage/model.bin` (no stray file at the root)."""
    alice = founder(team)
    alice.write("input.txt", "model v1\n")
    alice.write("stage/.keep", "")
    alice.write("dvc.yaml", WDIR)
    alice.write("data.txt", "data v1\n")
    alice.dvc("add", "-q", "data.txt")
    (alice.repo / "meta").mkdir()
    text = (alice.repo / "data.txt.dvc").read_text()
    (alice.repo / "meta" / "data.dvc").write_text("wdir: ..\n" + text)
    (alice.repo / "data.txt.dvc").unlink()
    alice.dvc("repro", "-q")
    commit_all(alice, "v1")
    alice.git("push", "-q", "origin", "main")
    bob = teammate(team)
    assert (bob.repo / "stage" / "model.bin").read_text() == "model v1\n"
    assert (bob.repo / "data.txt").read_text() == "data v1\n"

    alice.write("input.txt", "model v2\n")
    alice.write("data.txt", "data v2\n")
    alice.dvc("repro", "-q")
    alice.dvc("commit", "-q", "-f", "meta/data.dvc")
    commit_all(alice, "v2")
    alice.git("push", "-q", "origin", "main")
    assert {obj(b"model v2\n"), obj(b"data v2\n")} <= central(team)

    bob.git("pull", "-q")
    assert (bob.repo / "stage" / "model.bin").read_text() == "model v2\n"
    assert (bob.repo / "data.txt").read_text() == "data v2\n"
    assert not (bob.repo / "model.bin").exists()
    assert not (bob.repo / "meta" / "data.txt").exists()
    status = bob.dvc("status").stdout
    assert "modified" not in status and "deleted" not in status, status
