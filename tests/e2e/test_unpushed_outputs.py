"""`push: false` outputs that HEAD no longer has leave the workspace (issue #20, promise 2).

DVC never sends a `push: false` output anywhere, so a teammate has one only from running
the stage himself. When the output leaves the project, a fresh clone with `dvc pull` has
no copy of it: neither may bob, whether the hooks' update or a full `dvc-synced pull`
brings the change. A copy he edited is unsaved work: kept and named, as for any output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import Team, User
from tests.e2e.test_divergences import _oracle_matches, head, state
from tests.e2e.test_dvc_semantics import commit_all, founder
from tests.e2e.test_repair_pull import forget_sync

WITH_PRIVATE = """\
stages:
  train:
    cmd: >-
      echo model > model.bin && echo private > private.bin &&
      mkdir -p cached && echo c > cached/c.txt
    outs:
      - model.bin
      - private.bin:
          push: false
      - cached:
          push: false
"""
WITHOUT_PRIVATE = """\
stages:
  train:
    cmd: echo model > model.bin
    outs:
      - model.bin
"""


def _bob_ran_the_stage(team: Team) -> tuple[User, User]:
    """alice's stage has two `push: false` outputs (a file, a directory); bob gets the
    rest by his pull and those two by running the stage; then alice drops both."""
    alice = founder(team)
    alice.write("dvc.yaml", WITH_PRIVATE)
    alice.dvc("repro", "-q")
    commit_all(alice, "train")
    alice.git("push", "-q", "origin", "main")
    bob = team.user("bob")
    bob.synced("install")
    # The first sync checks out everything: DVC's checkout lacks the `push: false` data
    # (as `dvc pull` in a fresh clone does), so the hook says so; the rest is there.
    bob.git("checkout", check=False)
    assert (bob.repo / "model.bin").read_text() == "model\n"
    assert not (bob.repo / "private.bin").exists()  # never pushed: nowhere to pull from
    bob.dvc("repro", "-q")
    assert (bob.repo / "private.bin").read_text() == "private\n"
    assert (bob.repo / "cached" / "c.txt").read_text() == "c\n"
    assert not bob.git("status", "--porcelain").stdout.strip()
    bob.synced("pull")  # all there now: the workspace is synced, the next pull a change
    assert state(bob) == ("ok", head(bob))
    alice.write("dvc.yaml", WITHOUT_PRIVATE)
    alice.dvc("repro", "-q")
    alice.run("rm", "-rf", "private.bin", "cached")
    commit_all(alice, "private outputs dropped")
    alice.git("push", "-q", "origin", "main")
    return alice, bob


def test_hook_update_removes_dropped_push_false_outputs(team: Team, tmp_path: Path) -> None:
    _alice, bob = _bob_ran_the_stage(team)
    bob.git("pull", "-q")
    assert not (bob.repo / "private.bin").exists(), "a dropped push: false output stayed"
    assert not (bob.repo / "cached").exists(), "a dropped push: false directory stayed"
    assert state(bob) == ("ok", head(bob))
    _oracle_matches(bob, team, tmp_path)


@pytest.mark.parametrize("edited", [False, True])
def test_full_pull_removes_dropped_push_false_outputs(team: Team, tmp_path: Path,
                                                      edited: bool) -> None:
    """Hooks skipped and the sync forgotten: the full pull's repair finds them too, and
    keeps (and names) one bob edited."""
    _alice, bob = _bob_ran_the_stage(team)
    bob.env["DVC_SYNCED_SKIP"] = "1"
    bob.git("pull", "-q")
    del bob.env["DVC_SYNCED_SKIP"]
    forget_sync(bob)
    # DVC's own record of the links it made goes too: with it, DVC's full checkout
    # removes an unchanged output it linked (never one it did not, nor an edited one).
    shutil.rmtree(bob.repo / ".dvc" / "tmp")
    if edited:
        (bob.repo / "private.bin").chmod(0o644)
        (bob.repo / "private.bin").write_text("bob's unsaved edit\n")
    proc = bob.synced("pull", check=False)
    assert not (bob.repo / "cached").exists(), proc.stderr
    if edited:
        assert (bob.repo / "private.bin").read_text() == "bob's unsaved edit\n"
        assert proc.returncode != 0, "kept unsaved work, yet exit 0 (DVC refuses)"
        assert proc.stderr.count("private.bin") >= 1 and "dvc add" in proc.stderr, proc.stderr
        (bob.repo / "private.bin").unlink()
    else:
        assert proc.returncode == 0, proc.stderr
        assert not (bob.repo / "private.bin").exists(), "a dropped push: false output stayed"
    _oracle_matches(bob, team, tmp_path)
