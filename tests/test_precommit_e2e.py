"""The same flows as test_hooks_e2e.py, with the hooks installed by a real `pre-commit install`.

The hook repository is a snapshot of this working tree committed in a temporary git
repository (so uncommitted work is what gets tested); PRE_COMMIT_HOME is one directory
per test session, so pre-commit builds the hook environment (a venv with dvc) once.
Teammates set up nothing but `pre-commit install` (the founder commits the config).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, Team, User, make_env, run
from tests.test_hooks_e2e import (
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

HOOK_NAMES = ("pre-push", "post-checkout", "post-merge", "post-rewrite", "post-commit")
# What pre-commit's `pip install .` needs is in the working tree; tests and tooling are not.
SNAPSHOT_SKIP = ("tests/", "benchmarks/", "scripts/", ".ci/", "dvc_synced.egg-info/")


def config_text(repo: Path, rev: str, suffix: str = "") -> str:
    """The .pre-commit-config.yaml the README tells a team to commit."""
    hooks = "".join(f"      - id: dvc-synced-{name}{suffix}\n" for name in HOOK_NAMES)
    return (
        "default_install_hook_types: [pre-push, post-checkout, post-merge, post-rewrite, "
        "post-commit]\n"
        "default_stages: [pre-commit]\n"
        "repos:\n"
        f"  - repo: {repo}\n"
        f"    rev: {rev}\n"
        "    hooks:\n" + hooks
    )


# Other modules import these session fixtures (test_precommit_refs_e2e.py); pytest then
# holds one fixture per module, so the values are kept here to build the environment once.
_SESSION: dict[str, object] = {}


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This working tree's package files, committed: pre-commit installs from a git rev."""
    if "hook_repo" in _SESSION:
        return _SESSION["hook_repo"]  # type: ignore[return-value]
    path = tmp_path_factory.mktemp("hook-repo")
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                 REPO_ROOT).stdout.split("\0")
    for name in listed:
        src = REPO_ROOT / name
        if name and not name.startswith(SNAPSHOT_SKIP) and src.is_file():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, path / name)
    env = make_env(path, {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                          "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})
    run(["git", "init", "-q", "-b", "main"], path, env)
    run(["git", "add", "-A"], path, env)
    run(["git", "commit", "-q", "-m", "snapshot of the working tree"], path, env)
    _SESSION["hook_repo"] = path, run(["git", "rev-parse", "HEAD"], path, env).stdout.strip()
    return _SESSION["hook_repo"]  # type: ignore[return-value]


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory,
                    hook_repo: tuple[Path, str]) -> Path:
    """PRE_COMMIT_HOME with the hook environment built once for the whole session."""
    if "home" in _SESSION:
        return _SESSION["home"]  # type: ignore[return-value]
    home = tmp_path_factory.mktemp("pre-commit-home")
    scratch = tmp_path_factory.mktemp("pre-commit-build")
    env = make_env(scratch, {"PRE_COMMIT_HOME": str(home)})
    run(["git", "init", "-q"], scratch, env)
    (scratch / ".pre-commit-config.yaml").write_text(config_text(*hook_repo))
    started = time.monotonic()
    run([sys.executable, "-m", "pre_commit", "install-hooks"], scratch, env)
    print(f"\npre-commit built the hook environment in {time.monotonic() - started:.1f}s")
    _SESSION["home"] = home
    return home


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
        for name in HOOK_NAMES:  # default_install_hook_types did it, no --hook-type needed
            assert f".git/hooks/{name}" in out, out


@pytest.fixture
def pre_commit(hook_repo: tuple[Path, str], pre_commit_home: Path) -> PreCommitMode:
    return PreCommitMode(hook_repo, pre_commit_home)


def test_story_local_central(team: Team, pre_commit: PreCommitMode) -> None:
    """Every flow, in turn, on one project whose teammates ran only `pre-commit install`."""
    p = start(team, pre_commit)
    flow_share(p)
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
