"""`dvc-synced install` / `uninstall` with real git: where hooks go, chaining, exact undo."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from dvc_synced_plugin.hooks import install
from tests.conftest import Team, make_env, run
from tests.e2e.test_hooks import PLAIN, assert_workspace, output, start

USER_HOOK = """#!/bin/sh
echo "{name} $*" >> "{log}"
{stdin}
exit {status}
"""


class Repo:
    """A git repository with one commit and a teammate's environment (own HOME)."""

    def __init__(self, base: Path) -> None:
        self.home = base / "home"
        self.home.mkdir()
        self.env = make_env(self.home)
        self.path = base / "repo"
        run(["git", "init", "-q", "-b", "main", str(self.path)], base, self.env)
        self.git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                 "--allow-empty", "-m", "root")

    def git(self, *args: str, check: bool = True, cwd: Path | None = None):  # type: ignore[no-untyped-def]
        return run(["git", *args], cwd or self.path, self.env, check=check)

    def synced(self, *args: str, check: bool = True, cwd: Path | None = None):  # type: ignore[no-untyped-def]
        return run([sys.executable, "-m", "dvc_synced_plugin", *args], cwd or self.path,
                   self.env, check=check)

    def hooks(self) -> Path:
        return self.path / ".git" / "hooks"


def listing(directory: Path) -> dict[str, tuple[bytes, int]]:
    """name -> (bytes, mode) of every file: what uninstall must restore exactly."""
    return {p.name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
            for p in sorted(directory.iterdir()) if p.is_file()}


def user_hook(path: Path, log: Path, status: int = 0, reads_stdin: bool = False) -> None:
    stdin = f'sed "s/^/  stdin: /" >> "{log}"' if reads_stdin else ""
    path.write_text(USER_HOOK.format(name=path.name, log=log, stdin=stdin, status=status))
    os.chmod(path, 0o755)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


def test_install_is_idempotent_and_uninstall_exact(repo: Repo) -> None:
    before = listing(repo.hooks())
    out = repo.synced("install").stdout
    assert "installed in" in out
    for name in install.HOOK_NAMES:
        path = repo.hooks() / name
        assert path.read_text() == install.render(name, sys.executable)
        assert os.access(path, os.X_OK)
    installed = listing(repo.hooks())
    assert "already installed" in repo.synced("install").stdout
    assert listing(repo.hooks()) == installed
    repo.synced("uninstall")
    assert listing(repo.hooks()) == before


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_core_hooks_path_is_honoured(repo: Repo, tmp_path: Path, where: str) -> None:
    target = tmp_path / "shared-hooks" if where == "absolute" else repo.path / "githooks"
    value = str(target) if where == "absolute" else "githooks"
    repo.git("config", "core.hooksPath", value)
    (repo.path / "sub").mkdir()
    repo.synced("install", cwd=repo.path / "sub")  # from a subdirectory: same place
    assert sorted(p.name for p in target.iterdir()) == sorted(install.HOOK_NAMES)
    assert not (repo.hooks() / "pre-push").exists()
    repo.synced("uninstall")
    assert list(target.iterdir()) == []


def test_linked_worktree_installs_into_the_common_hooks(repo: Repo, tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    repo.git("worktree", "add", "-q", str(wt), "-b", "side")
    repo.synced("install", cwd=wt)
    assert (repo.hooks() / "post-checkout").read_text() == install.render(
        "post-checkout", sys.executable)
    assert not (repo.path / ".git" / "worktrees" / "wt" / "hooks").exists()
    repo.synced("uninstall", cwd=wt)
    assert not (repo.hooks() / "post-checkout").exists()


def test_existing_hooks_are_chained_with_args_stdin_and_status(repo: Repo,
                                                               tmp_path: Path) -> None:
    log = tmp_path / "user-hooks.log"
    user_hook(repo.hooks() / "post-checkout", log)
    user_hook(repo.hooks() / "pre-push", log, status=1, reads_stdin=True)
    user_hook(repo.hooks() / "post-rewrite", log, reads_stdin=True)
    before = listing(repo.hooks())
    out = repo.synced("install").stdout
    assert "kept your existing pre-push hook" in out
    assert (repo.hooks() / "pre-push.pre-dvc-synced").read_bytes() == before["pre-push"][0]

    repo.git("switch", "-q", "-c", "topic")
    head = repo.git("rev-parse", "HEAD").stdout.strip()
    repo.git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--amend",
             "--allow-empty", "-m", "amended")
    amended = repo.git("rev-parse", "HEAD").stdout.strip()
    server = tmp_path / "server.git"
    run(["git", "init", "-q", "--bare", str(server)], tmp_path, repo.env)
    pushed = repo.git("push", "-q", str(server), "topic", check=False)
    assert pushed.returncode != 0  # the user's pre-push refuses: its status stops the push
    assert "dvc-synced:" not in output(pushed)  # and ours never ran

    text = log.read_text()
    assert f"post-checkout {head} {head} 1" in text
    assert f"post-rewrite amend\n  stdin: {head} {amended}" in text
    assert f"pre-push {server} {server}\n  stdin: refs/heads/topic {amended} " in text

    repo.synced("uninstall")
    assert listing(repo.hooks()) == before


def test_refuses_to_guess_when_both_hook_and_chained_exist(repo: Repo, tmp_path: Path) -> None:
    log = tmp_path / "log"
    user_hook(repo.hooks() / "post-merge", log)
    user_hook(repo.hooks() / "post-merge.pre-dvc-synced", log)
    before = listing(repo.hooks())
    refused = repo.synced("install", check=False)
    assert refused.returncode == 2 and "merge them" in refused.stderr
    assert listing(repo.hooks()) == before  # all or nothing: no other hook was written


def test_uninstall_leaves_foreign_hooks(repo: Repo, tmp_path: Path) -> None:
    user_hook(repo.hooks() / "post-merge", tmp_path / "log")
    repo.synced("install")
    (repo.hooks() / "post-checkout").write_text("#!/bin/sh\necho mine\n")  # replaced by user
    repo.synced("uninstall")
    assert (repo.hooks() / "post-checkout").read_text() == "#!/bin/sh\necho mine\n"
    assert (repo.hooks() / "post-merge").exists()
    assert not (repo.hooks() / "post-merge.pre-dvc-synced").exists()
    assert not (repo.hooks() / "pre-push").exists()


def test_chains_dvcs_own_hooks(team: Team) -> None:
    """`dvc install` first, then `dvc-synced install`: both run, DVC's checkout finds data."""
    p = start(team, PLAIN, with_bob=False)
    bob = team.user("bob")
    bob.dvc("install")
    assert "dvc git-hook" in (bob.repo / ".git/hooks/post-checkout").read_text()
    bob.synced("install")
    assert "dvc git-hook" in (bob.repo / ".git/hooks/post-checkout.pre-dvc-synced").read_text()
    switched = bob.git("switch", "-q", "-c", "topic")  # ours fetches, then `dvc checkout`
    assert_workspace(bob, p.files)
    assert "ERROR" not in output(switched)
    bob.synced("uninstall")
    assert "dvc git-hook" in (bob.repo / ".git/hooks/post-checkout").read_text()
    assert not (bob.repo / ".git/hooks/post-merge").exists()
