"""`dvc-synced init` writes `.pre-commit-config.yaml` pinned to a commit that exists
(issue #22, item 1): where the pin comes from, merging into a team's own config, refusals.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from dvc_synced_plugin import __version__
from dvc_synced_plugin.errors import ConfigError
from dvc_synced_plugin.hooks import precommit_config
from dvc_synced_plugin.hooks.precommit_config import Pin
from tests.conftest import REPO_ROOT, Team, make_env, run

SHA = "0123456789abcdef0123456789abcdef01234567"


def readme_config() -> str:
    blocks = re.findall(r"^```yaml\n(.*?)^```", (REPO_ROOT / "README.md").read_text(),
                        re.S | re.M)
    configs = [b for b in blocks if "repos:" in b and "id: dvc-synced-pre-push" in b]
    assert len(configs) == 1, configs
    return configs[0]


def test_pin_of_a_pip_install_from_git() -> None:
    direct = {"url": "https://example.org/team/dvc-synced",
              "vcs_info": {"vcs": "git", "commit_id": SHA, "requested_revision": "main"}}
    assert precommit_config.pin_from_direct_url(direct) == Pin(
        "https://example.org/team/dvc-synced", SHA)


def test_pin_of_a_clone(tmp_path: Path) -> None:
    """A clone's HEAD; origin's URL once origin has that commit, else the path (and a note)."""
    env = make_env(tmp_path, {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                              "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})
    upstream = tmp_path / "upstream.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(upstream)], tmp_path, env)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(upstream), str(clone)], tmp_path, env)
    run(["git", "commit", "-q", "--allow-empty", "-m", "one"], clone, env)
    head = run(["git", "rev-parse", "HEAD"], clone, env).stdout.strip()
    local = precommit_config.pin_from_direct_url(
        {"url": clone.as_uri(), "dir_info": {"editable": True}})
    assert (local.repo, local.rev) == (str(clone), head)
    assert "only this machine has" in local.note
    run(["git", "push", "-q", "origin", "main"], clone, env)
    assert precommit_config.pin_from_direct_url(
        {"url": clone.as_uri(), "dir_info": {}}) == Pin(str(upstream), head)


def test_unknown_pin_refuses_with_the_fix(tmp_path: Path) -> None:
    for direct in ({"url": "file:///tmp/dvc_synced-0.2.0-py3-none-any.whl",
                    "archive_info": {}},
                   {"url": (tmp_path / "not-a-clone").as_uri(), "dir_info": {}}):
        with pytest.raises(ConfigError) as err:
            precommit_config.pin_from_direct_url(direct)
        assert "\n" not in str(err.value) and "--hooks-rev" in str(err.value)
    with pytest.raises(ConfigError, match="--no-pre-commit-config"):
        precommit_config.installed_pin("pytest")  # from an index: no direct_url.json
    with pytest.raises(ConfigError, match="go together"):
        precommit_config.pin_of("https://example.org/x", None)


def test_the_readme_shows_what_init_writes() -> None:
    """The README's config is init's output for the README's pin, byte for byte."""
    shown = readme_config()
    repo = re.search(r"^  - repo: (\S+)$", shown, re.M).group(1)  # type: ignore[union-attr]
    rev = re.search(r"^    rev: (\S+)", shown, re.M).group(1)  # type: ignore[union-attr]
    assert precommit_config.fresh_text(Pin(repo, rev)) == shown
    assert f"# dvc-synced {__version__}" in shown


EXISTING = """\
# our lint, keep this comment
repos:
  - repo: https://github.com/astral-sh/ruff-pre-commit
    rev: v0.6.9  # pinned on purpose
    hooks:
      - id: ruff
"""


def test_merge_keeps_their_repos_and_their_commit_hooks() -> None:
    import yaml

    text = precommit_config.merged_text(EXISTING, Pin("https://example.org/d", SHA))
    assert "# our lint, keep this comment" in text and "# pinned on purpose" in text
    doc = yaml.safe_load(text)
    assert doc["repos"][0]["repo"] == "https://github.com/astral-sh/ruff-pre-commit"
    assert doc["repos"][1] == {"repo": "https://example.org/d", "rev": SHA, "hooks": [
        {"id": i} for i in precommit_config.HOOK_IDS]}
    # A bare `pre-commit install` still installs their pre-commit hook, and theirs (no
    # stages named) run only at commit time, not at every push and checkout.
    assert doc["default_install_hook_types"] == ["pre-commit", *precommit_config.HOOK_TYPES]
    assert doc["default_stages"] == ["pre-commit"]
    assert f"rev: {SHA}  # dvc-synced {__version__}" in text
    again = precommit_config.merged_text(text, Pin("https://example.org/d", SHA))
    assert again == text  # idempotent: a second init changes nothing


def test_merge_repins_our_entry_and_keeps_its_options() -> None:
    import yaml

    first = precommit_config.fresh_text(Pin("https://example.org/d", "a" * 40))
    mine = first.replace("      - id: dvc-synced-pre-push\n",
                         "      - id: dvc-synced-pre-push\n        verbose: true\n")
    text = precommit_config.merged_text(mine, Pin("https://example.org/e", SHA))
    doc = yaml.safe_load(text)
    assert len(doc["repos"]) == 1
    assert (doc["repos"][0]["repo"], doc["repos"][0]["rev"]) == ("https://example.org/e", SHA)
    assert doc["repos"][0]["hooks"][0] == {"id": "dvc-synced-pre-push", "verbose": True}
    assert doc["default_install_hook_types"] == list(precommit_config.HOOK_TYPES)


def test_init_writes_a_config_pre_commit_accepts(team: Team) -> None:
    alice = team.user("alice")
    alice.dvc("init", "-q")
    out = alice.synced("init", "--central", team.central, "--hooks-repo",
                       "https://example.org/d", "--hooks-rev", SHA).stdout
    assert "wrote .pre-commit-config.yaml" in out and "pre-commit install" in out
    written = (alice.repo / ".pre-commit-config.yaml").read_text()
    assert written == precommit_config.fresh_text(Pin("https://example.org/d", SHA))
    alice.run(sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml")
    # Without --hooks-*: the pin of the dvc-synced that runs (here an editable install).
    alice.synced("init", "--central", team.central)
    head = run(["git", "rev-parse", "HEAD"], REPO_ROOT).stdout.strip()
    assert f"rev: {head}" in (alice.repo / ".pre-commit-config.yaml").read_text()


def test_init_refuses_a_broken_config_and_writes_nothing(team: Team) -> None:
    alice = team.user("alice")
    alice.dvc("init", "-q")
    (alice.repo / ".pre-commit-config.yaml").write_text("repos: [unclosed\n")
    bad = alice.synced("init", "--central", team.central, check=False)
    assert bad.returncode == 2 and "not valid YAML" in bad.stderr, bad
    assert not (alice.repo / ".dvc-synced").exists()
    assert (alice.repo / ".pre-commit-config.yaml").read_text() == "repos: [unclosed\n"
    plain = alice.synced("init", "--central", team.central, "--no-pre-commit-config")
    assert "pre-commit" not in plain.stdout and (alice.repo / ".dvc-synced").exists()
