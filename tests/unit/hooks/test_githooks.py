"""Hook logic in small real git repositories, with the data movement faked.

What the e2e tests cannot pin down cheaply: which commits a push plan covers, which base a
post-* hook diffs from, what the state file says after each outcome, and that the fast
path imports nothing heavy. `flows.push_changes` / `flows.pull_changes` are replaced here.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from dvc_synced_plugin.commands import hook as cli  # the CLI's `hook` command and its names
from dvc_synced_plugin.errors import MissingObjectsError, SyncError
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.git.gitinfo import NULL_SHA
from dvc_synced_plugin.hooks import events, install
from dvc_synced_plugin.hooks import githooks as hooks
from dvc_synced_plugin.selection import EVERYTHING
from dvc_synced_plugin.sync.flows import Report
from tests.conftest import REPO_ROOT, make_env

POINTER = "outs:\n- md5: {md5}\n  size: 1\n  hash: md5\n  path: {path}\n"


class Git:
    """A throwaway repository; `commit` writes files (pointers are plain text here)."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path, self.env = path, env
        self("init", "-q", "-b", "main")
        (path / ".dvc").mkdir()

    def __call__(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.path, env=self.env, check=True,
                              capture_output=True, text=True).stdout.strip()

    def commit(self, msg: str, **files: str) -> str:
        for name, text in files.items():
            (self.path / name).write_text(text)
            self("add", name)
        self("commit", "-q", "--allow-empty", "-m", msg)
        return self("rev-parse", "HEAD")

    def pointer(self, path: str, digit: str) -> dict[str, str]:
        return {f"{path}.dvc": POINTER.format(md5=digit * 32, path=path)}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Git:
    home = tmp_path / "home"
    home.mkdir()
    env = make_env(home, {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                          "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})
    path = tmp_path / "repo"
    path.mkdir()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(path)
    return Git(path, env)


class Recorder:
    """Stands in for the engine: records what a hook asked to move, fails on demand."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pushes: list[set[str]] = []
        self.pulls: list[tuple[set[str], bool]] = []
        self.fail_push: list[Exception | None] = []
        self.fail_pull: Exception | None = None
        self.central = "central-a"
        self.selection = EVERYTHING
        monkeypatch.setattr("dvc_synced_plugin.config.load",
                            lambda root: SimpleNamespace(central=self.central, timeout=30,
                                                         selection=self.selection))
        monkeypatch.setattr("dvc_synced_plugin.sync.flows.push_changes", self.push)
        monkeypatch.setattr("dvc_synced_plugin.sync.flows.pull_changes", self.pull)

    def push(self, settings: Any, changes: Any) -> Report:
        self.pushes.append({c.path for c in changes})
        failure = self.fail_push.pop(0) if self.fail_push else None
        if failure:
            raise failure
        return Report(needed=1, moved=1, moved_bytes=10)

    def pull(self, settings: Any, changes: Any, checkout: str = "changes") -> Report:
        self.pulls.append(({c.path for c in changes}, checkout == "all"))
        if self.fail_pull:
            raise self.fail_pull
        return Report(needed=1, moved=1, moved_bytes=10)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    return Recorder(monkeypatch)


# --------------------------------------------------------------------- shipped files


def test_hook_scripts_in_repository_are_the_generic_render() -> None:
    shipped = {p.name for p in (REPO_ROOT / "hooks").iterdir()}
    assert shipped == set(install.HOOK_NAMES)
    for name in install.HOOK_NAMES:
        assert (REPO_ROOT / "hooks" / name).read_text() == install.render(name, None), name


def test_hook_names_agree_everywhere() -> None:
    assert set(install.HOOK_NAMES) == set(hooks.HANDLERS) == set(hooks.PARSERS) == set(
        cli.HOOK_NAMES) == set(events.HOOKS)


def test_pre_commit_manifest() -> None:
    manifest = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    by_id = {h["id"]: h for h in manifest}
    # pre-commit has no post-applypatch stage: under pre-commit `git am` is caught up later.
    assert not events.HOOKS["post-applypatch"].pre_commit
    for name in events.PRE_COMMIT_HOOKS:
        for suffix, language in (("", "python"), ("-system", "system")):
            hook = by_id.pop(f"dvc-synced-{name}{suffix}")
            assert hook["entry"] == f"dvc-synced hook {name}"
            assert hook["name"] == f"dvc-synced {events.HOOKS[name].summary}"
            assert hook["language"] == language
            assert hook["stages"] == [name]
            assert hook["always_run"] is True and hook["pass_filenames"] is False
            assert hook["require_serial"] is True
            assert hook["minimum_pre_commit_version"] == "3.2.0"
    assert not by_id, f"unexpected hooks {sorted(by_id)}"


def test_render_quotes_the_python_path() -> None:
    text = install.render("pre-push", "/opt/my env/bin/python")
    assert "INSTALL_PYTHON='/opt/my env/bin/python'" in text


# --------------------------------------------------------------------------- helpers


def test_parse_push_lines_and_skip_values() -> None:
    lines = events.parse_push_lines(
        f"refs/heads/a {'1' * 40} refs/heads/a {NULL_SHA}\n\n(delete) {NULL_SHA} "
        f"refs/heads/b {'2' * 40}\ngarbage\n")
    assert [ln.local_ref for ln in lines] == ["refs/heads/a", "(delete)"]
    assert lines[1].is_delete and not lines[0].is_delete
    assert events.skipped({"DVC_SYNCED_SKIP": "1"}) and events.skipped({"DVC_SYNCED_SKIP": "yes"})
    for value in ("", "0", "false", "no"):
        assert not events.skipped({"DVC_SYNCED_SKIP": value})


def test_skip_and_outside_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert hooks.run("post-merge", ["0"], env={}) == 0  # not a work tree: nothing to do
    assert hooks.run("pre-push", ["origin"], env={"DVC_SYNCED_SKIP": "1"}) == 0


def test_known_commits_filters_unknown_and_null(repo: Git) -> None:
    sha = repo.commit("one")
    assert gitinfo.known_commits(repo.path, [sha, NULL_SHA, "f" * 40, ""]) == [sha]


# -------------------------------------------------------------------------- pre-push


def stdin_of(*lines: str) -> io.StringIO:
    return io.StringIO("".join(f"{ln}\n" for ln in lines))


def test_pre_push_plain_covers_every_ref_and_skips_deletions(repo: Git, engine: Recorder
                                                             ) -> None:
    base = repo.commit("base", **repo.pointer("old", "0"))
    repo("branch", "b", base)
    a = repo.commit("a", **repo.pointer("a", "1"))
    repo("switch", "-q", "b")
    b = repo.commit("b", **repo.pointer("b", "2"))
    stdin = stdin_of(f"refs/heads/a {a} refs/heads/a {base}",
                     f"refs/heads/b {b} refs/heads/b {'9' * 40}",  # tip unknown here
                     f"(delete) {NULL_SHA} refs/heads/gone {base}")
    assert hooks.run("pre-push", ["origin", "url"], stdin, env={}) == 0
    # b's remote tip is unknown, so all of b's history counts; `base` is excluded via a.
    assert engine.pushes == [{"a.dvc", "b.dvc"}]


def test_pre_push_nothing_to_send_is_silent(repo: Git, engine: Recorder,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    sha = repo.commit("no data", **{"README": "x"})
    assert hooks.run("pre-push", ["origin", "url"], stdin_of(), env={}) == 0  # up to date
    stdin = stdin_of(f"refs/heads/main {sha} refs/heads/main {NULL_SHA}")
    assert hooks.run("pre-push", ["origin", "url"], stdin, env={}) == 0
    assert engine.pushes == [] and capsys.readouterr().err == ""


def pre_commit_env(**extra: str) -> dict[str, str]:
    return {"PRE_COMMIT": "1", "PRE_COMMIT_REMOTE_NAME": "origin",
            "PRE_COMMIT_REMOTE_URL": "url", "PRE_COMMIT_LOCAL_BRANCH": "refs/heads/main",
            "PRE_COMMIT_REMOTE_BRANCH": "refs/heads/main", **extra}


def told(monkeypatch: pytest.MonkeyPatch, lines: str | Exception) -> None:
    """What pushed_refs learns from git (the e2e tests run the real thing)."""
    from dvc_synced_plugin.hooks import pushed_refs

    def pushed_lines(root: Path, env: dict[str, str], timeout: float) -> str:
        if isinstance(lines, Exception):
            raise lines
        return lines

    monkeypatch.setattr(pushed_refs, "pushed_lines", pushed_lines)


def test_pre_push_under_pre_commit_asks_git_for_the_other_refs(
        repo: Git, engine: Recorder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from dvc_synced_plugin.hooks import pushed_refs

    base = repo.commit("base", **repo.pointer("old", "0"))
    first = repo.commit("first", **repo.pointer("first", "1"))
    repo("switch", "-q", "-c", "other", base)
    other = repo.commit("other", **repo.pointer("other", "2"))
    repo("switch", "-q", "main")
    env = pre_commit_env(PRE_COMMIT_FROM_REF=base, PRE_COMMIT_TO_REF=first)
    both = (f"refs/heads/main {first} refs/heads/main {base}\n"
            f"refs/heads/other {other} refs/heads/other {NULL_SHA}\n")
    # git says both are pushed: one strict group (pre-commit gives hooks no stdin)
    told(monkeypatch, both)
    assert hooks.run("pre-push", [], io.StringIO(""), env=env) == 0
    assert engine.pushes == [{"first.dvc", "other.dvc"}]

    # git says only main: `other` is not looked at, even though it lacks data
    engine.central, engine.pushes = "another central", []
    told(monkeypatch, f"refs/heads/main {first} refs/heads/main {base}\n")
    assert hooks.run("pre-push", [], io.StringIO(""), env=env) == 0
    assert engine.pushes == [{"first.dvc"}]

    # git cannot be asked: `other` lacking data refuses, in one line naming it
    engine.central, engine.pushes = "a third central", []
    told(monkeypatch, pushed_refs.RefsUnknown("no git push process was found"))
    engine.fail_push = [None, MissingObjectsError("1 object(s) of other are missing")]
    capsys.readouterr()
    assert hooks.run("pre-push", [], io.StringIO(""), env=env) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert engine.pushes == [{"first.dvc"}, {"other.dvc"}]
    assert len(err) == 1 and "branch other (no git push process was found)" in err[0], err
    # ... and goes through when that ref's data is all there
    engine.central = "a fourth central"
    assert hooks.run("pre-push", [], io.StringIO(""), env=env) == 0

    # A missing object of a pushed ref refuses with the usual two lines.
    engine.central = "a fifth central"
    told(monkeypatch, both)
    engine.fail_push = [MissingObjectsError("1 object(s) of other are missing")]
    assert hooks.run("pre-push", [], io.StringIO(""), env=env) == 1
    err = capsys.readouterr().err
    assert "push refused: 1 object(s) of other" in err and "DVC_SYNCED_SKIP=1 git push" in err
    # A transport failure refuses on the unsure side too.
    engine.central = "a sixth central"
    told(monkeypatch, pushed_refs.RefsUnknown("x"))
    engine.fail_push = [None, SyncError("uploading to central failed")]
    assert hooks.run("pre-push", [], io.StringIO(""), env=env) == 1


def test_pre_push_remembers_what_central_confirmed(repo: Git, engine: Recorder,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A retried push, or local branches that stay unpushed, stay off the network."""
    base = repo.commit("base")
    tip = repo.commit("data", **repo.pointer("a", "1"))
    repo("switch", "-q", "-c", "lost", base)
    repo.commit("lost data", **repo.pointer("l", "2"))
    repo("switch", "-q", "main")
    env = pre_commit_env(PRE_COMMIT_FROM_REF=base, PRE_COMMIT_TO_REF=tip)
    told(monkeypatch, f"refs/heads/main {tip} refs/heads/main {base}\n")
    assert hooks.run("pre-push", [], io.StringIO(""), env=env) == 0
    assert hooks.run("pre-push", [], io.StringIO(""), env=env) == 0
    assert engine.pushes == [{"a.dvc"}]  # the retry found `a` confirmed
    engine.central = "central-b"  # another central knows nothing yet
    assert hooks.run("pre-push", [], io.StringIO(""), env=env) == 0
    assert engine.pushes[1:] == [{"a.dvc"}]


def test_pre_push_under_pre_commit_root_commit_has_no_from_to(repo: Git) -> None:
    root = repo.commit("root", **repo.pointer("r", "1"))
    event = events.push_event([], "", pre_commit_env())
    certain, speculative, exclude = hooks.push_plan(repo.path, event)
    assert (event.remote, certain, exclude) == ("origin", [root], [])
    assert speculative == ["HEAD", "--branches", "--tags"]


# -------------------------------------------------------------------------- post-*


def state(repo: Git) -> str:
    return (repo.path / ".git" / "dvc-synced" / "workspace").read_text().strip()


def test_first_hook_syncs_in_full_then_incrementally(repo: Git, engine: Recorder) -> None:
    v1 = repo.commit("v1", **repo.pointer("d", "1"), **repo.pointer("e", "2"))
    assert hooks.run("post-checkout", [v1, v1, "1"], env={}) == 0
    assert engine.pulls == [({"d.dvc", "e.dvc"}, True)]  # no state yet: everything
    assert state(repo) == f"ok {v1}"
    assert hooks.run("post-checkout", [v1, v1, "1"], env={}) == 0
    assert len(engine.pulls) == 1  # already synced to HEAD
    v2 = repo.commit("v2", **repo.pointer("d", "3"))
    repo("reset", "-q", "--hard", v1)
    repo("merge", "-q", "--ff-only", v2)  # as `git pull` does; sets ORIG_HEAD
    assert hooks.run("post-merge", ["0"], env={}) == 0
    assert engine.pulls[-1] == ({"d.dvc"}, False)
    assert state(repo) == f"ok {v2}"


def test_new_fetch_patterns_make_the_next_sync_a_full_one(repo: Git, engine: Recorder
                                                         ) -> None:
    """An output the old patterns left out may never have come: under new patterns the
    next sync counts every pointer of HEAD (and the change's old sides), then goes back to
    incremental once the workspace follows them (pull_changes records them)."""
    from dvc_synced_plugin.selection import Selection
    from dvc_synced_plugin.storage.state import write_selection

    v1 = repo.commit("v1", **repo.pointer("d", "1"), **repo.pointer("e", "2"))
    hooks.write_state(repo.path, "ok", v1)
    engine.selection = Selection(exclude=("e",))
    v2 = repo.commit("v2", **repo.pointer("d", "3"))
    assert hooks.run("post-checkout", [v1, v2, "1"], env={}) == 0
    assert engine.pulls == [({"d.dvc", "e.dvc"}, True)]
    write_selection(repo.path, engine.selection.fingerprint)
    v3 = repo.commit("v3", **repo.pointer("d", "4"))
    assert hooks.run("post-checkout", [v2, v3, "1"], env={}) == 0
    assert engine.pulls[-1] == ({"d.dvc"}, False)


def test_file_checkout_rebase_and_deleted_pointers_do_nothing(repo: Git, engine: Recorder
                                                              ) -> None:
    v1 = repo.commit("v1", **repo.pointer("d", "1"))
    hooks.write_state(repo.path, "ok", v1)
    assert hooks.run("post-checkout", [v1, v1, "0"], env={}) == 0
    (repo.path / ".git" / "rebase-merge").mkdir()
    assert hooks.run("post-checkout", [v1, v1, "1"], env={}) == 0
    (repo.path / ".git" / "rebase-merge").rmdir()
    repo("rm", "-q", "d.dvc")
    v2 = repo.commit("drop d")
    # A deleted pointer fetches nothing but its output leaves the workspace: a pull runs.
    assert hooks.run("post-checkout", [v1, v2, "1"], env={}) == 0
    assert engine.pulls == [({"d.dvc"}, False)] and state(repo) == f"ok {v2}"


def test_skipped_hook_is_caught_up_from_the_state(repo: Git, engine: Recorder) -> None:
    """The workspace holds v1's data though git says HEAD came from v2 (a skipped pull)."""
    v1 = repo.commit("v1", **repo.pointer("d", "1"))
    hooks.write_state(repo.path, "ok", v1)
    v2 = repo.commit("v2", **repo.pointer("d", "2"))
    assert hooks.run("post-checkout", [v2, v2, "1"], env={"DVC_SYNCED_SKIP": ""}) == 0
    assert engine.pulls == [({"d.dvc"}, False)]
    assert state(repo) == f"ok {v2}"


def test_failed_sync_warns_and_next_hook_redoes_all(repo: Git, engine: Recorder,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    v1 = repo.commit("v1", **repo.pointer("d", "1"))
    hooks.write_state(repo.path, "ok", v1)
    v2 = repo.commit("v2", **repo.pointer("d", "2"), **repo.pointer("e", "3"))
    engine.fail_pull = SyncError("cannot reach central")
    assert hooks.run("post-checkout", [v1, v2, "1"], env={}) == 1
    err = capsys.readouterr().err
    assert "cannot reach central" in err and "run `dvc-synced pull`" in err
    assert state(repo) == f"pending {v2}"
    engine.fail_pull = None
    assert hooks.run("post-checkout", [v2, v2, "1"], env={}) == 0
    assert engine.pulls[-1] == ({"d.dvc", "e.dvc"}, True)
    assert "downloaded 1 object(s)" in capsys.readouterr().err


def test_post_commit_moves_state_merges_sync_amends_wait(repo: Git, engine: Recorder) -> None:
    v1 = repo.commit("v1", **repo.pointer("d", "1"))
    hooks.write_state(repo.path, "ok", v1)
    v2 = repo.commit("plain commit", **{"notes": "x"})
    assert hooks.run("post-commit", [], env={}) == 0
    assert state(repo) == f"ok {v2}" and engine.pulls == []  # made from this workspace
    repo("commit", "-q", "--amend", "-m", "amended")
    assert hooks.run("post-commit", [], env={}) == 0
    assert state(repo) == f"ok {v2}"  # post-rewrite's job
    amended = repo("rev-parse", "HEAD")
    assert hooks.run("post-rewrite", ["amend"], stdin_of(f"{v2} {amended}"), env={}) == 0
    assert engine.pulls == [] and state(repo) == f"ok {amended}"

    repo("switch", "-q", "-c", "side", v1)
    repo.commit("side data", **repo.pointer("e", "5"))
    repo("switch", "-q", "main")
    hooks.write_state(repo.path, "ok", amended)
    repo("merge", "-q", "--no-commit", "--no-ff", "side")
    repo("commit", "-q", "--no-edit")  # concludes the merge: "commit (merge)"
    assert hooks.run("post-commit", [], env={}) == 0
    assert engine.pulls == [({"e.dvc"}, False)]


def test_squash_merge_syncs_the_index(repo: Git, engine: Recorder) -> None:
    v1 = repo.commit("v1", **repo.pointer("d", "1"))
    repo("switch", "-q", "-c", "side")
    repo.commit("side", **repo.pointer("e", "2"))
    repo("switch", "-q", "main")
    hooks.write_state(repo.path, "ok", v1)
    repo("merge", "-q", "--squash", "side")
    assert hooks.run("post-merge", ["1"], env={}) == 0
    assert engine.pulls == [({"e.dvc"}, False)]
    # pre-commit passes the flag in the environment instead
    assert hooks.run("post-merge", [], env={"PRE_COMMIT_IS_SQUASH_MERGE": "1"}) == 0
    assert len(engine.pulls) == 2


def test_not_a_dvc_project_is_left_alone(repo: Git, engine: Recorder) -> None:
    (repo.path / ".dvc").rmdir()
    v1 = repo.commit("v1", **repo.pointer("d", "1"))
    assert hooks.run("post-checkout", [v1, v1, "1"], env={}) == 0
    assert engine.pulls == [] and not (repo.path / ".git" / "dvc-synced").exists()


# ------------------------------------------------------------------------ fast path

HEAVY = ("dvc", "dvc_data", "dvc_objects", "yaml", "sh", "git", "ruamel")


def test_fast_path_imports_nothing_heavy(repo: Git) -> None:
    v1 = repo.commit("v1", **repo.pointer("d", "1"))
    hooks.write_state(repo.path, "ok", v1)
    v2 = repo.commit("no data", **{"notes": "x"})
    repo("update-ref", "ORIG_HEAD", v1)
    script = (
        "import sys\n"
        "from dvc_synced_plugin import cli\n"
        "codes = [cli.main(['hook', 'post-merge', '0']),\n"
        "         cli.main(['hook', 'post-commit']),\n"
        f"         cli.main(['hook', 'post-checkout', '{v1}', '{v2}', '1'])]\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print(codes, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=repo.path, env=repo.env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[0, 0, 0] []", out
    assert out.stderr == ""
    assert state(repo) == f"ok {v2}"

    importtime = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dvc_synced_plugin", "hook", "post-merge",
         "0"], cwd=repo.path, env=repo.env, stderr=subprocess.PIPE, text=True, check=True)
    modules = {ln.rsplit("|", 1)[-1].strip().split(".")[0]
               for ln in importtime.stderr.splitlines() if ln.startswith("import time:")}
    assert not modules & set(HEAVY), modules & set(HEAVY)


def test_cherry_pick_and_revert_bring_their_data(repo: Git, engine: Recorder) -> None:
    """git writes the pointer files of these commits itself: the data must follow."""
    v1 = repo.commit("v1", **repo.pointer("d", "1"))
    repo("switch", "-q", "-c", "side")
    picked = repo.commit("side data", **repo.pointer("e", "2"))
    repo("switch", "-q", "main")
    hooks.write_state(repo.path, "ok", v1)
    repo("cherry-pick", picked)
    assert hooks.run("post-commit", [], env={}) == 0
    assert engine.pulls == [({"e.dvc"}, False)]
    repo("revert", "--no-edit", "HEAD~1")  # back to no d.dvc: its output leaves
    assert hooks.run("post-commit", [], env={}) == 0
    repo("revert", "--no-edit", "HEAD")  # d.dvc again
    assert hooks.run("post-commit", [], env={}) == 0
    assert engine.pulls[-1] == ({"d.dvc"}, False) and len(engine.pulls) == 3
    assert state(repo) == f"ok {repo('rev-parse', 'HEAD')}"


# ------------------------------------------------------------------------ upload on commit


def test_post_commit_starts_the_upload_only_for_data_and_only_when_on(
        repo: Git, engine: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Setting off: a commit with data stays on the fast path (no heavy import, no job);
    on: commits that change pointers start the upload, commits of code do not."""
    v1 = repo.commit("v1", **repo.pointer("d", "1"))
    hooks.write_state(repo.path, "ok", v1)
    repo.commit("data", **repo.pointer("d", "2"))
    script = (
        "import sys\n"
        "from dvc_synced_plugin import cli\n"
        "code = cli.main(['hook', 'post-commit'])\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print(code, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=repo.path, env=repo.env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0 []", out
    assert not (repo.path / ".git" / "dvc-synced" / "upload.todo").exists()

    started: list[str] = []
    monkeypatch.setattr("dvc_synced_plugin.hooks.upload.start",
                        lambda root, commit: started.append(commit))
    repo("config", "dvc-synced.upload-on-commit", "true")
    assert hooks.run("post-commit", [], env={}) == 0
    head = repo("rev-parse", "HEAD")
    assert started == [head]
    repo.commit("code", notes="x")
    assert hooks.run("post-commit", [], env={}) == 0
    assert started == [head]  # no pointer changed: nothing to upload
    repo.commit("more data", **repo.pointer("e", "3"))
    repo("commit", "-q", "--amend", "-m", "amended")
    amended = repo("rev-parse", "HEAD")
    assert hooks.run("post-commit", [], env={}) == 0  # an amend: post-rewrite's turn
    assert started == [head]
    assert hooks.run("post-rewrite", ["amend"], stdin=io.StringIO(""), env={}) == 0
    assert started == [head, amended]


def test_conflicts_hint_in_the_edited_message_file(repo: Git) -> None:
    """A revert stopped on conflicts and committed through the editor: git's commented
    "Conflicts:" hint stays in COMMIT_EDITMSG (any core.commentChar); a `-m` commit
    rewrites the file, so the hint of an earlier commit never counts."""
    repo.commit("one")
    editmsg = repo.path / ".git" / "COMMIT_EDITMSG"
    editmsg.write_text("back to v1\n\n# Conflicts:\n#\tdata.txt.dvc\n")
    assert hooks.conflicts_resolved(repo.path)
    editmsg.write_text("back to v1\n\n; Conflicts:\n;\tdata.txt.dvc\n")
    assert hooks.conflicts_resolved(repo.path)
    repo.commit("my own commit, mentioning Conflicts: in the text")
    assert not hooks.conflicts_resolved(repo.path)
