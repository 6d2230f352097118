"""Release basics: one version everywhere, and the README's pre-commit config as printed.

A team pins dvc-synced by tag. The end-to-end test here takes the `.pre-commit-config.yaml`
block out of README.md, changes nothing but the `repo:` URL (to a local clone of this
working tree's snapshot), creates the annotated tag its `rev:` names in that clone, and
runs the daily loop through a real `pre-commit install`. So the README's config stays true,
and its `rev:` is what the release tag must be called. (The built wheel itself is checked
by scripts/check-release.sh, which .ci/run runs after this suite.)
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from dvc_synced_plugin import __version__
from tests.conftest import REPO_ROOT, Team, User, make_env, run
from tests.e2e.test_hooks import flow_share, head, start
from tests.e2e.test_precommit import PreCommitMode

README = REPO_ROOT / "README.md"


def readme_config() -> str:
    """The one ```yaml block of the README that is a pre-commit config for our hooks."""
    blocks = re.findall(r"^```yaml\n(.*?)^```", README.read_text(), re.S | re.M)
    configs = [b for b in blocks if "repos:" in b and "id: dvc-synced-pre-push" in b]
    assert len(configs) == 1, f"expected one pre-commit config in README.md, found {len(configs)}"
    return configs[0]


def readme_rev(config: str) -> str:
    match = re.search(r"^\s+rev: (\S+)\s*$", config, re.M)
    assert match, config
    return match.group(1)


def with_repo(config: str, repo: Path) -> str:
    """The README's config with only the `repo:` URL replaced."""
    new, count = re.subn(r"^(\s*- repo: )\S+.*$", lambda m: f"{m.group(1)}{repo}", config,
                         flags=re.M)
    assert count == 1, config
    return new


def test_one_version_everywhere() -> None:
    """__version__ is the only version; the README's rev and the changelog name it."""
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = {attr = "dvc_synced_plugin.__version__"}' in pyproject
    assert not re.search(r'^version = "', pyproject, re.M), "a second version in pyproject"
    assert readme_rev(readme_config()) == f"v{__version__}"
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(__version__)}\] - ", changelog, re.M), \
        f"CHANGELOG.md has no section for {__version__}"


@pytest.fixture
def tagged_clone(hook_repo: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    """A clone of the snapshot with the annotated release tag the README's `rev:` names."""
    tag = readme_rev(readme_config())
    clone = tmp_path / "dvc-synced"
    env = make_env(tmp_path, {"GIT_COMMITTER_NAME": "release", "GIT_COMMITTER_EMAIL": "r@r"})
    run(["git", "clone", "-q", str(hook_repo[0]), str(clone)], tmp_path, env)
    run(["git", "tag", "-a", tag, "-m", f"dvc-synced {tag}"], clone, env)
    assert run(["git", "cat-file", "-t", tag], clone, env).stdout.strip() == "tag"
    return clone, tag


class ReadmeConfigMode(PreCommitMode):
    """The founder commits the README's config as printed, with `repo:` our tagged clone."""

    def __init__(self, clone: tuple[Path, str], home: Path) -> None:
        super().__init__(clone, home)
        self.name = "pre-commit-readme"

    def setup_project(self, founder: User) -> None:
        (founder.repo / ".pre-commit-config.yaml").write_text(with_repo(readme_config(),
                                                                        self.repo))
        founder.git("add", ".pre-commit-config.yaml")
        founder.git("commit", "-q", "-m", "Hooks by pre-commit, config from the README")
        self.install(founder)


def test_readme_config_verbatim_against_tagged_clone(team: Team, tmp_path: Path,
                                                      tagged_clone: tuple[Path, str]) -> None:
    """alice pushes data v1 and a change, bob pulls: with hooks pinned to the release tag."""
    clone, tag = tagged_clone
    home = tmp_path / "pre-commit-home"  # a team's first install: pre-commit builds from the tag
    p = start(team, ReadmeConfigMode(tagged_clone, home))
    flow_share(p)
    # pre-commit checked out the tag, not a branch or a sha: its store records the rev asked.
    with sqlite3.connect(home / "db.db") as db:
        refs = db.execute("SELECT ref FROM repos WHERE repo = ?", (str(clone),)).fetchall()
    assert refs == [(tag,)], refs
    assert p.alice.run("git", "rev-parse", f"{tag}^{{commit}}", cwd=clone).stdout.strip() == \
        run(["git", "rev-parse", "HEAD"], clone).stdout.strip()
    assert head(p.bob) == head(p.alice)
