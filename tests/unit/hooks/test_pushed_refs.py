"""pushed_refs: reading the git push command line, the dry run, the fail-safe line, and
that a code-only push under pre-commit never gets that far (real git, no pre-commit)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dvc_synced_plugin.hooks import install, pushed_refs
from tests.conftest import GitRepo, run
from tests.unit.hooks.test_githooks import HEAVY


@pytest.mark.parametrize("argv, expected", [
    (["push", "origin", "b1", "b2"], ["origin", "b1", "b2"]),
    (["-C", "sub", "-c", "push.default=current", "--no-pager", "push", "--all"], ["--all"]),
    (["--git-dir=/x/.git", "--namespace", "ns", "push"], []),
    (["push", "-f", "origin", "+a:refs/heads/b", "--", "c"], ["-f", "origin", "+a:refs/heads/b",
                                                             "--", "c"]),
    (["status"], None),
    ([], None),
    (["-c", "a=b"], None),
])
def test_words_after_push(git_repo: GitRepo, argv: list[str], expected: list[str]) -> None:
    assert pushed_refs.push_args_of(argv, git_repo.root) == expected


def test_aliases_one_level(git_repo: GitRepo) -> None:
    git_repo.git("config", "alias.pa", "push --all")
    git_repo.git("config", "alias.pc", "-c push.default=current push")
    git_repo.git("config", "alias.shell", "!git push")
    git_repo.git("config", "alias.loop", "pa")
    root = git_repo.root
    assert pushed_refs.push_args_of(["pa", "origin"], root) == ["--all", "origin"]
    assert pushed_refs.push_args_of(["pc"], root) == []
    assert pushed_refs.push_args_of(["shell", "origin"], root) is None  # its inner git is found
    assert pushed_refs.push_args_of(["loop"], root) is None


def test_ps_agrees_with_proc() -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("no /proc here")
    child = subprocess.Popen(["sleep", "30"])  # ps joins argv with spaces: none here
    try:
        assert pushed_refs._ps_info(child.pid) == pushed_refs._proc_info(child.pid)
        assert pushed_refs._proc_info(child.pid) == (os.getpid(), child.args)
    finally:
        child.kill()
        child.wait()


def repo_with_remote(git_repo: GitRepo) -> Path:
    server = git_repo.root.parent / "server.git"
    run(["git", "init", "-q", "--bare", str(server)], git_repo.root.parent, git_repo.env)
    git_repo.git("remote", "add", "origin", str(server))
    git_repo.commit("one")
    git_repo.git("push", "-q", "origin", "main")
    for branch in ("b1", "b2"):
        git_repo.git("switch", "-q", "-c", branch, "main")
        git_repo.commit(branch)
    return server


def test_dry_run_gives_gits_own_lines(git_repo: GitRepo) -> None:
    repo_with_remote(git_repo)
    sha = {b: git_repo.git("rev-parse", b) for b in ("main", "b1", "b2")}
    zero = "0" * 40
    lines = pushed_refs.dry_run_lines(git_repo.root, ["origin", "b1", "b2:x"],
                                      git_repo.env, 30)
    assert lines.splitlines() == [f"refs/heads/b1 {sha['b1']} refs/heads/b1 {zero}",
                                  f"refs/heads/b2 {sha['b2']} refs/heads/x {zero}"]
    # started where the user stood (GIT_PREFIX), so git reads a relative path as it did
    (git_repo.root / "sub").mkdir()
    env = {**git_repo.env, "GIT_PREFIX": "sub/"}
    lines = pushed_refs.dry_run_lines(git_repo.root, ["../server.git", "b1"], env, 30)
    assert lines.split()[:2] == ["refs/heads/b1", sha["b1"]]
    # nothing was pushed
    out = git_repo.git("ls-remote", "origin")
    assert sha["b1"] not in out and sha["main"] in out


def test_dry_run_that_cannot_reach_the_remote(git_repo: GitRepo) -> None:
    repo_with_remote(git_repo)
    with pytest.raises(pushed_refs.RefsUnknown, match="did not say which refs"):
        pushed_refs.dry_run_lines(git_repo.root, ["/nonexistent/x.git", "b1"], git_repo.env, 30)


def test_refusal_is_one_line_naming_ref_and_way_out() -> None:
    line = pushed_refs.refusal("refs/heads/b2", "git was not found", "1 object(s) of d lack")
    assert "\n" not in line
    assert "branch b2" in line and "dvc-synced install" in line
    assert "dvc-synced push --rev b2" in line
    assert "tag v1" in pushed_refs.refusal("refs/tags/v1", "x", "y")


def test_plain_hook_is_seen_chained_either_way(git_repo: GitRepo) -> None:
    hooks = git_repo.root / ".git" / "hooks"
    assert not pushed_refs.plain_hook_checks(git_repo.root)
    install.install(git_repo.root)  # ours at pre-push (pre-commit's would be chained)
    assert pushed_refs.plain_hook_checks(git_repo.root)
    os.replace(hooks / "pre-push", hooks / "pre-push.legacy")  # what `pre-commit install` does
    (hooks / "pre-push").write_text("#!/bin/sh\n# pre-commit's\n")
    assert pushed_refs.plain_hook_checks(git_repo.root)
    os.chmod(hooks / "pre-push.legacy", 0o644)  # pre-commit runs a legacy hook only if +x
    assert not pushed_refs.plain_hook_checks(git_repo.root)


def test_code_only_push_under_pre_commit_stays_on_the_fast_path(git_repo: GitRepo) -> None:
    """No dvc/yaml/sh import, and not even the ref discovery, without pointer changes."""
    repo_with_remote(git_repo)
    (git_repo.root / ".dvc").mkdir()
    tip = git_repo.git("rev-parse", "b2")
    env = {**git_repo.env, "PRE_COMMIT_REMOTE_NAME": "origin", "PRE_COMMIT_REMOTE_URL": "x",
           "PRE_COMMIT_FROM_REF": git_repo.git("rev-parse", "main"), "PRE_COMMIT_TO_REF": tip,
           "PRE_COMMIT_LOCAL_BRANCH": "refs/heads/b2", "PRE_COMMIT_REMOTE_BRANCH": "b2"}
    script = (
        "import sys\n"
        "from dvc_synced_plugin import cli\n"
        "code = cli.main(['hook', 'pre-push'])\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}"
        " or m.endswith('pushed_refs'))\n"
        "print(code, heavy)\n"
    )
    for hook_env in (env, git_repo.env):  # a code-only push, and one with nothing to push
        out = subprocess.run([sys.executable, "-c", script], cwd=git_repo.root, env=hook_env,
                             capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
        assert out.stdout.strip() == "0 []", out
