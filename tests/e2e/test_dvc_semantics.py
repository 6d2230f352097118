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


def test_output_with_own_remote_goes_only_there(team: Team, tmp_path: Path) -> None:
    """Case 3: `remote: secure` on an output: `git push` sends it to `secure` only (never
    central, never the local storage), bob's pull gets it from there, and a push that
    cannot reach `secure` is refused with the git remote unchanged."""
    secure = tmp_path / "secure"
    secure.mkdir()
    alice = founder(team)
    alice.dvc("remote", "add", "secure", str(secure))
    alice.write("records.csv", "id,secret\n1,a\n")
    alice.write("public.csv", "id\n1\n")
    alice.dvc("add", "-q", "records.csv", "public.csv")
    text = (alice.repo / "records.csv.dvc").read_text()
    pinned = text.replace("  path:", "  remote: secure\n  path:")
    (alice.repo / "records.csv.dvc").write_text(pinned)
    commit_all(alice, "records")
    alice.git("push", "-q", "origin", "main")
    records, public = obj(b"id,secret\n1,a\n"), obj(b"id\n1\n")
    assert records in store_objects(secure)
    assert public in central(team) and records not in central(team)
    assert records not in store_objects(alice.local_storage())

    bob = teammate(team)
    assert (bob.repo / "records.csv").read_text() == "id,secret\n1,a\n"
    alice.write("records.csv", "id,secret\n1,b\n")
    alice.dvc("add", "-q", "records.csv")
    commit_all(alice, "records v2")
    alice.git("push", "-q", "origin", "main")
    bob.git("pull", "-q")
    assert (bob.repo / "records.csv").read_text() == "id,secret\n1,b\n"
    assert obj(b"id,secret\n1,b\n") not in central(team) | store_objects(bob.local_storage())

    # `secure` out of reach: the push is refused, the server keeps its branch.
    before = alice.git("ls-remote", "origin", "main").stdout
    secure.rename(tmp_path / "secure-away")
    (tmp_path / "secure").write_text("not a directory")
    alice.write("records.csv", "id,secret\n1,c\n")
    alice.dvc("add", "-q", "records.csv")
    commit_all(alice, "records v3")
    pushed = alice.git("push", "-q", "origin", "main", check=False)
    assert pushed.returncode != 0
    assert "secure" in pushed.stderr and "Traceback" not in pushed.stderr
    assert alice.git("ls-remote", "origin", "main").stdout == before
