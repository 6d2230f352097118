"""The same flows as e2e/test_hooks.py, with the hooks installed by a real `pre-commit install`.

The hook repository is a snapshot of this working tree committed in a temporary git
repository (so uncommitted work is what gets tested); PRE_COMMIT_HOME is one directory
per test session, so pre-commit builds the hook environment (a venv with dvc) once.
Teammates set up nothing but `pre-commit install` (the founder commits the config).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from dvc_synced_plugin.hooks.events import PRE_COMMIT_HOOKS
from tests.conftest import Team, User, config_text
from tests.e2e.test_hooks import (
    Mode,
    flow_conflicted_merge,
    flow_fast_path,
    flow_fetch_failure,
    flow_pull_variants,
    flow_refs,
    flow_refused_push,
    flow_share,
    start,
)
from tests.e2e.test_upload_on_commit import flow_upload_on_commit


class PreCommitMode(Mode):
    """Hooks by `pre-commit install`; the `-system` ids run the dvc-synced on PATH."""

    shows_output = False  # pre-commit shows a hook's output only when it fails

    def __init__(self, hook_repo: tuple[Path, str], home: Path, system: bool = False) -> None:
        self.repo, self.rev = hook_repo
        self.home = home
        self.system = system
        self.name = "pre-commit-system" if system else "pre-commit"

    def prepare(self, team: Team) -> None:
        team.extra_env["PRE_COMMIT_HOME"] = str(self.home)
        if self.system:  # the project's environment, activated: its bin/ comes first
            bindir = Path(sys.executable).parent
            team.extra_env["PATH"] = f"{bindir}{os.pathsep}{os.environ['PATH']}"

    def setup_project(self, founder: User) -> None:
        suffix = "-system" if self.system else ""
        (founder.repo / ".pre-commit-config.yaml").write_text(
            config_text(self.repo, self.rev, suffix))
        founder.git("add", ".pre-commit-config.yaml")
        founder.git("commit", "-q", "-m", "Hooks by pre-commit")
        self.install(founder)

    def install(self, user: User) -> None:
        out = user.run(sys.executable, "-m", "pre_commit", "install").stdout
        for name in PRE_COMMIT_HOOKS:  # default_install_hook_types did it, no --hook-type needed
            assert f".git/hooks/{name}" in out, out


@pytest.fixture
def pre_commit(hook_repo: tuple[Path, str], pre_commit_home: Path) -> PreCommitMode:
    return PreCommitMode(hook_repo, pre_commit_home)


def test_story_local_central(team: Team, pre_commit: PreCommitMode) -> None:
    """Every flow, in turn, on one project whose teammates ran only `pre-commit install`."""
    p = start(team, pre_commit)
    flow_share(p)
    flow_upload_on_commit(p)
    flow_conflicted_merge(p)
    flow_fetch_failure(p)
    flow_fast_path(p)
    flow_pull_variants(p)
    flow_refs(p)  # pre-commit shows hooks only the first pushed ref: the others still count
    flow_refused_push(p)


def test_main_flow_ssh_central_system_hooks(ssh_team: Team, hook_repo: tuple[Path, str],
                                             pre_commit_home: Path) -> None:
    """The `-system` variant (the project's own dvc-synced), central over ssh."""
    flow_share(start(ssh_team, PreCommitMode(hook_repo, pre_commit_home, system=True)))
