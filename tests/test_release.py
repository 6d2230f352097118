"""Release basics: one version everywhere, and the README's pin of it resolves.

The published history carries no tags, so the README pins the release by a commit id
of main (`rev: <sha>  # frozen: vX.Y.Z`, and the same id in its install line). The tests
here check that id in a fresh clone of this repository (no local tag can help), and run
the README's `.pre-commit-config.yaml` as printed, with only `repo:` pointed at that clone,
through a real `pre-commit install`. (The built wheel itself is checked by
scripts/check-release.sh, which .ci/run runs after this suite.)
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from dvc_synced_plugin import __version__
from tests.conftest import REPO_ROOT, Team, User, make_env, run
from tests.test_hooks_e2e import flow_share, head, start
from tests.test_precommit_e2e import PreCommitMode

README = REPO_ROOT / "README.md"


def readme_config() -> str:
    """The one ```yaml block of the README that is a pre-commit config for our hooks."""
    blocks = re.findall(r"^```yaml\n(.*?)^```", README.read_text(), re.S | re.M)
    configs = [b for b in blocks if "repos:" in b and "id: dvc-synced-pre-push" in b]
    assert len(configs) == 1, f"expected one pre-commit config in README.md, found {len(configs)}"
    return configs[0]


def readme_rev(config: str) -> str:
    match = re.search(r"^\s+rev: (\S+)(?:\s+# frozen: v(\S+))?\s*$", config, re.M)
    assert match, config
    return match.group(1)


def readme_frozen_version(config: str) -> str:
    match = re.search(r"^\s+rev: \S+\s+# frozen: v(\S+)\s*$", config, re.M)
    assert match, f"the README's rev: has no `# frozen: vX.Y.Z` comment:\n{config}"
    return match.group(1)


def published_clone(dest: Path) -> Path:
    """A clone of this repository's history as a user gets it: no tags, nothing local."""
    env = make_env(dest.parent)
    run(["git", "clone", "-q", "--no-tags", "--no-local", str(REPO_ROOT), str(dest)],
        dest.parent, env)
    assert run(["git", "tag", "-l"], dest, env).stdout == ""
    return dest


def with_repo(config: str, repo: Path) -> str:
    """The README's config with only the `repo:` URL replaced."""
    new, count = re.subn(r"^(\s*- repo: )\S+.*$", lambda m: f"{m.group(1)}{repo}", config,
                         flags=re.M)
    assert count == 1, config
    return new


def test_one_version_everywhere() -> None:
    """__version__ is the only version; the README's pin and the changelog name it."""
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = {attr = "dvc_synced_plugin.__version__"}' in pyproject
    assert not re.search(r'^version = "', pyproject, re.M), "a second version in pyproject"
    assert readme_frozen_version(readme_config()) == __version__
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(__version__)}\] - ", changelog, re.M), \
        f"CHANGELOG.md has no section for {__version__}"


def test_readme_pin_is_a_commit_of_the_published_history(tmp_path: Path) -> None:
    """The README's rev (and its install line) resolve in a clone of main as it is."""
    rev = readme_rev(readme_config())
    assert re.fullmatch(r"[0-9a-f]{40}", rev), f"rev: {rev} is not a full commit id"
    installs = re.findall(r'pip install "git\+\S+@([^"\s]+)"', README.read_text())
    assert installs and set(installs) == {rev}, installs
    clone = published_clone(tmp_path / "dvc-synced")
    env = make_env(tmp_path)
    found = run(["git", "cat-file", "-t", rev], clone, env, check=False)
    assert found.stdout.strip() == "commit", f"{rev} is not in a clone of this repository " \
        "(a shallow clone? CI needs the full history)"
    assert run(["git", "merge-base", "--is-ancestor", rev, "HEAD"], clone, env,
               check=False).returncode == 0, f"{rev} is not on the published main"
    released = run(["git", "show", f"{rev}:dvc_synced_plugin/__init__.py"], clone, env).stdout
    assert f'__version__ = "{readme_frozen_version(readme_config())}"' in released, released
    hooks = run(["git", "show", f"{rev}:.pre-commit-hooks.yaml"], clone, env).stdout
    for hook_id in re.findall(r"id: (\S+)", readme_config()):
        assert f"- id: {hook_id}\n" in hooks, f"{hook_id} is not a hook at {rev}"


@pytest.fixture
def published(tmp_path: Path) -> tuple[Path, str]:
    """A clone of this repository and the commit the README pins (pre-commit fetches it)."""
    return published_clone(tmp_path / "dvc-synced"), readme_rev(readme_config())


class ReadmeConfigMode(PreCommitMode):
    """The founder commits the README's config as printed, with `repo:` a plain clone."""

    def __init__(self, clone: tuple[Path, str], home: Path) -> None:
        super().__init__(clone, home)
        self.name = "pre-commit-readme"

    def setup_project(self, founder: User) -> None:
        (founder.repo / ".pre-commit-config.yaml").write_text(with_repo(readme_config(),
                                                                        self.repo))
        founder.git("add", ".pre-commit-config.yaml")
        founder.git("commit", "-q", "-m", "Hooks by pre-commit, config from the README")
        self.install(founder)


def test_readme_config_verbatim_against_published_clone(team: Team, tmp_path: Path,
                                                         published: tuple[Path, str]) -> None:
    """alice pushes data v1 and a change, bob pulls: with hooks pinned to the README's rev."""
    clone, rev = published
    home = tmp_path / "pre-commit-home"  # a team's first install: pre-commit builds from rev
    p = start(team, ReadmeConfigMode(published, home))
    flow_share(p)
    with sqlite3.connect(home / "db.db") as db:
        refs = db.execute("SELECT ref FROM repos WHERE repo = ?", (str(clone),)).fetchall()
    assert refs == [(rev,)], refs
    assert head(p.bob) == head(p.alice)
