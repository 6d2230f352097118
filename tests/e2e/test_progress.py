"""Live progress and the summary line reach the user under pre-commit too.

pre-commit captures a hook's output and shows it only after the hook ends, and only on
failure: a long upload was minutes of silence. The hooks write progress and their
summary to the controlling terminal (/dev/tty) instead. Here `git push` and `git pull`
run on a real pseudo-terminal that is their controlling terminal, as at a shell; and
again with no terminal at all, as in an IDE or CI, where nothing extra may appear and
nothing may fail.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Team, User, on_terminal, store_objects
from tests.e2e.test_hooks import commit_data
from tests.e2e.test_precommit import PreCommitMode


def without_terminal(args: list[str], cwd: Path, env: dict[str, str]
                     ) -> subprocess.CompletedProcess:
    """No controlling terminal at all (a new session, output to pipes): an IDE or CI."""
    return subprocess.run(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, start_new_session=True)


@pytest.fixture
def pre_commit(hook_repo: tuple[Path, str], pre_commit_home: Path) -> PreCommitMode:
    return PreCommitMode(hook_repo, pre_commit_home)


def project(team: Team, pre_commit: PreCommitMode) -> tuple[User, User]:
    pre_commit.prepare(team)
    alice = team.founder("alice")
    pre_commit.setup_project(alice)
    alice.git("push", "-q", "origin", "main")  # the hook config, for bob to clone
    bob = team.user("bob")
    pre_commit.install(bob)
    return alice, bob


@pytest.mark.parametrize("transport", ["rsync", "rclone"])
def test_progress_and_summary_on_the_terminal_under_pre_commit(
        tmp_path: Path, pre_commit: PreCommitMode, transport: str) -> None:
    central = tmp_path / "central"
    central.mkdir()
    team = Team(tmp_path, str(central), transport=transport)
    alice, bob = project(team, pre_commit)
    model = os.urandom(3_000_000)
    commit_data(alice, {"model.bin": model}, ["model.bin"], "model")

    status, shown = on_terminal(["git", "push", "-q", "origin", "main"], alice.repo, alice.env,
                                controlling=True)
    assert status == 0, shown
    assert "dvc-synced: uploaded 1 object(s) (3.0 MB) to central" in shown, shown
    progress = "xfr#" if transport == "rsync" else "MiB"  # rsync's or rclone's own meter
    assert progress in shown, shown
    assert len(store_objects(central)) == 1

    status, shown = on_terminal(["git", "pull", "-q"], bob.repo, bob.env, controlling=True)
    assert status == 0, shown
    assert "dvc-synced: downloaded 1 object(s) (3.0 MB) from central" in shown, shown
    assert progress in shown, shown
    assert (bob.repo / "model.bin").read_bytes() == model


def test_no_terminal_prints_nothing_extra_and_never_fails(
        tmp_path: Path, pre_commit: PreCommitMode) -> None:
    central = tmp_path / "central"
    central.mkdir()
    team = Team(tmp_path, str(central))
    alice, bob = project(team, pre_commit)
    model = os.urandom(1_000_000)
    commit_data(alice, {"model.bin": model}, ["model.bin"], "model")

    pushed = without_terminal(["git", "push", "-q", "origin", "main"], alice.repo, alice.env)
    assert pushed.returncode == 0, pushed
    shown = pushed.stdout + pushed.stderr
    assert "xfr#" not in shown and "dvc-synced: " not in shown, shown  # pre-commit hid it
    assert "No such device" not in shown and "Traceback" not in shown, shown
    assert len(store_objects(central)) == 1

    pulled = without_terminal(["git", "pull", "-q"], bob.repo, bob.env)
    assert pulled.returncode == 0, pulled
    assert "xfr#" not in pulled.stdout + pulled.stderr
    assert (bob.repo / "model.bin").read_bytes() == model
