"""Release basics: one version everywhere, and the README's pin of it resolves.

The published history carries no tags, so the README pins the release by a commit id
of main (`rev: <sha>  # dvc-synced X.Y.Z`, and the same id in its install line). The tests
here check that id in a fresh clone of this repository (no local tag can help), and run
the README's `.pre-commit-config.yaml` as printed, with only `repo:` pointed at that clone,
through a real `pre-commit install`. (The built wheel itself is checked by
scripts/check-release.sh, which .ci/run runs after this suite.)
"""

from __future__ import annotations

import re
from pathlib import Path

from dvc_synced_plugin import __version__
from tests.conftest import REPO_ROOT, make_env, run

README = REPO_ROOT / "README.md"


def readme_config() -> str:
    """The one ```yaml block of the README that is a pre-commit config for our hooks."""
    blocks = re.findall(r"^```yaml\n(.*?)^```", README.read_text(), re.S | re.M)
    configs = [b for b in blocks if "repos:" in b and "id: dvc-synced-pre-push" in b]
    assert len(configs) == 1, f"expected one pre-commit config in README.md, found {len(configs)}"
    return configs[0]


def readme_rev(config: str) -> str:
    match = re.search(r"^\s+rev: (\S+)", config, re.M)
    assert match, config
    return match.group(1)


def readme_pinned_version(config: str) -> str:
    match = re.search(r"^\s+rev: \S+\s+# dvc-synced (\S+)\s*$", config, re.M)
    assert match, f"the README's rev: has no `# dvc-synced X.Y.Z` comment:\n{config}"
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
    assert readme_pinned_version(readme_config()) == __version__
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
    assert f'__version__ = "{readme_pinned_version(readme_config())}"' in released, released
    hooks = run(["git", "show", f"{rev}:.pre-commit-hooks.yaml"], clone, env).stdout
    for hook_id in re.findall(r"id: (\S+)", readme_config()):
        assert f"- id: {hook_id}\n" in hooks, f"{hook_id} is not a hook at {rev}"
