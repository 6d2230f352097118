"""Every push form under a plain `pre-commit install` is strict about the data it sends.

pre-commit shows a hook only the first ref with new commits; dvc-synced learns the rest
from git (pushed_refs.py). Each case builds alice's refs with git alone (pointer files
written by hand, objects put straight into her DVC cache, hooks installed last), then:
the push is refused while a pushed commit's data is in no cache, and the git server's refs
do not move and central keeps what it had; once the data is in the cache the same push
goes through and central holds every pushed object. A branch or tag outside the push that
lacks data (the decoy) never refuses it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import Team, User, config_text, run, store_objects
from tests.e2e.test_hooks import central_dir, obj, output
from tests.e2e.test_precommit import PreCommitMode


def data(name: str) -> bytes:
    return f"the data of {name}\n".encode() * 20


def cache_path(user: User, blob: bytes) -> Path:
    return user.repo / ".dvc" / "cache" / obj(blob)


def cache(user: User, name: str) -> None:
    """Put `name`'s object into the DVC cache, as `dvc add` would have."""
    path = cache_path(user, data(name))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data(name))


def commit_pointer(user: User, name: str, cached: bool = True) -> str:
    """A commit adding `<name>.dvc` for data(name); its object cached or in no cache."""
    blob = data(name)
    md5 = hashlib.md5(blob).hexdigest()
    (user.repo / f"{name}.dvc").write_text(
        f"outs:\n- md5: {md5}\n  size: {len(blob)}\n  hash: md5\n  path: {name}\n")
    if cached:
        cache(user, name)
    user.git("add", f"{name}.dvc")
    user.git("commit", "-q", "-m", f"data {name}")
    return user.git("rev-parse", "HEAD").stdout.strip()


def on_branch(user: User, branch: str, name: str, cached: bool = True,
              start: str = "main") -> None:
    user.git("switch", "-q", "-c", branch, start)
    commit_pointer(user, name, cached)
    user.git("switch", "-q", "main")


def tag_only(user: User, tag: str, name: str, cached: bool = True) -> None:
    """A commit that only a tag holds (its branch is gone)."""
    on_branch(user, f"for-{tag}", name, cached)
    user.git("tag", tag, f"for-{tag}")
    user.git("branch", "-q", "-D", f"for-{tag}")


def server_refs(team: Team) -> dict[str, str]:
    out = run(["git", "--git-dir", str(team.server), "for-each-ref",
               "--format=%(refname) %(objectname)"], team.base).stdout
    return dict(line.split() for line in out.splitlines())


@dataclass
class Case:
    build: Callable[[User, Team], None]  # alice's refs; the lacking data is data("b2")
    push: list[str]  # the git command's arguments
    lands: dict[str, str]  # server ref -> alice's rev it must point at after the good push
    sent: list[str] = field(default_factory=list)  # data names central must hold then
    config: dict[str, str] = field(default_factory=dict)
    decoy: str = "junk"  # a branch (or tag) outside the push whose data is in no cache


def b1_b2(user: User, team: Team) -> None:
    on_branch(user, "b1", "b1")
    on_branch(user, "b2", "b2", cached=False)


def with_decoy_branch(build: Callable[[User, Team], None]) -> Callable[[User, Team], None]:
    def both(user: User, team: Team) -> None:
        build(user, team)
        on_branch(user, "junk", "junk", cached=False)
    return both


def tags(user: User, team: Team) -> None:
    tag_only(user, "t1", "b1")
    tag_only(user, "t2", "b2", cached=False)
    on_branch(user, "junk", "junk", cached=False)


def all_with_decoy_tag(user: User, team: Team) -> None:
    b1_b2(user, team)
    tag_only(user, "junk", "junk", cached=False)  # --all pushes branches, not tags


def force(user: User, team: Team) -> None:
    """b1 and b2 are on the server; alice rewrites both (b2's new data is in no cache)."""
    on_branch(user, "b1", "old1")
    on_branch(user, "b2", "old2")
    user.git("push", "-q", "origin", "b1", "b2")
    for branch, name, cached in (("b1", "b1", True), ("b2", "b2", False)):
        user.git("switch", "-q", branch)
        user.git("reset", "-q", "--hard", "main")
        commit_pointer(user, name, cached)
    user.git("switch", "-q", "main")
    on_branch(user, "junk", "junk", cached=False)


def current_branch(upstream: bool) -> Callable[[User, Team], None]:
    """alice is on b2 (its commit lacks data); the decoy is another local branch."""
    def build(user: User, team: Team) -> None:
        on_branch(user, "junk", "junk", cached=False)
        user.git("switch", "-q", "-c", "b2", "main")
        if upstream:
            user.git("push", "-q", "-u", "origin", "b2")
        commit_pointer(user, "b2", cached=False)
    return build


def matching(user: User, team: Team) -> None:
    """b1 and b2 exist on both sides and gain commits; junk exists only here."""
    user.git("branch", "b1")
    user.git("branch", "b2")
    user.git("push", "-q", "origin", "b1", "b2")
    for branch, cached in (("b1", True), ("b2", False)):
        user.git("switch", "-q", branch)
        commit_pointer(user, branch, cached)
    user.git("switch", "-q", "main")
    on_branch(user, "junk", "junk", cached=False)


def known_new_branch(user: User, team: Team) -> None:
    """nb: a new name for commits the server has; pushed alone no hook runs, and it passes."""
    on_branch(user, "old", "old1")
    user.git("push", "-q", "origin", "old")
    user.git("branch", "nb", "old")
    on_branch(user, "junk", "junk", cached=False)
    user.git("branch", "b1", "main")
    user.git("switch", "-q", "b1")
    commit_pointer(user, "b1")
    user.git("switch", "-q", "main")
    on_branch(user, "b2", "b2", cached=False)


B1B2 = {"refs/heads/b1": "b1", "refs/heads/b2": "b2"}
CASES = {
    "b1-b2": Case(with_decoy_branch(b1_b2), ["push", "origin", "b1", "b2"], B1B2, ["b1", "b2"]),
    "all": Case(all_with_decoy_tag, ["push", "--all", "origin"], B1B2, ["b1", "b2"]),
    "tags": Case(tags, ["push", "--tags", "origin"],
                 {"refs/tags/t1": "t1", "refs/tags/t2": "t2"}, ["b1", "b2"]),
    "mirror": Case(b1_b2, ["push", "--mirror", "origin"], B1B2, ["b1", "b2"], decoy=""),
    "src-dst": Case(with_decoy_branch(b1_b2), ["push", "origin", "b1:x1", "b2:refs/heads/x2"],
                    {"refs/heads/x1": "b1", "refs/heads/x2": "b2"}, ["b1", "b2"]),
    "force": Case(force, ["push", "-f", "origin", "b1", "b2"], B1B2, ["b1", "b2"]),
    "simple": Case(current_branch(upstream=True), ["push"], {"refs/heads/b2": "b2"}, ["b2"],
                   {"push.default": "simple"}),
    "current": Case(current_branch(upstream=False), ["push"], {"refs/heads/b2": "b2"},
                    ["b2"], {"push.default": "current"}),
    "matching": Case(matching, ["push"], B1B2, ["b1", "b2"], {"push.default": "matching"}),
    "known-new-branch": Case(known_new_branch, ["push", "origin", "nb", "b1", "b2"],
                             {"refs/heads/nb": "nb", **B1B2}, ["b1", "b2"]),
}


@pytest.fixture
def mode(hook_repo: tuple[Path, str], pre_commit_home: Path) -> PreCommitMode:
    """The session's one hook environment (conftest builds it)."""
    return PreCommitMode(hook_repo, pre_commit_home)


def founded(team: Team, mode: PreCommitMode) -> User:
    """alice's project with the hook config committed; hooks are installed by the caller."""
    mode.prepare(team)
    alice = team.founder("alice")
    suffix = "-system" if mode.system else ""
    (alice.repo / ".pre-commit-config.yaml").write_text(config_text(mode.repo, mode.rev, suffix))
    alice.git("add", ".pre-commit-config.yaml")
    alice.git("commit", "-q", "-m", "Hooks by pre-commit")
    alice.git("push", "-q", "origin", "main")
    return alice


def decoy_ref(user: User, name: str) -> str:
    branch = user.git("rev-parse", "-q", "--verify", f"refs/heads/{name}", check=False)
    return f"refs/heads/{name}" if branch.returncode == 0 else f"refs/tags/{name}"


def assert_refused(team: Team, proc: subprocess.CompletedProcess, refs: dict[str, str],
                   central: set[str]) -> None:
    assert proc.returncode != 0, output(proc)
    assert "dvc-synced: push refused" in output(proc), output(proc)
    assert server_refs(team) == refs  # the git server did not move
    assert central <= store_objects(central_dir(team))  # central lacks nothing it had


@pytest.mark.parametrize("name", list(CASES))
def test_push_form_is_strict(name: str, team: Team, mode: PreCommitMode) -> None:
    case = CASES[name]
    alice = founded(team, mode)
    case.build(alice, team)
    for key, value in case.config.items():
        alice.git("config", key, value)
    mode.install(alice)
    if name == "known-new-branch":  # alone it sends no commit: no hook runs, it goes through
        alice.git("push", "-q", "origin", "nb")
        assert server_refs(team)["refs/heads/nb"] == server_refs(team)["refs/heads/old"]

    before, central = server_refs(team), store_objects(central_dir(team))
    refused = alice.git(*case.push, check=False)
    assert_refused(team, refused, before, central)
    assert "object(s) of b2 " in output(refused), output(refused)  # the output lacking data

    cache(alice, "b2")
    alice.git(*case.push)
    after = server_refs(team)
    for ref, rev in case.lands.items():
        assert after.get(ref) == alice.git("rev-parse", rev).stdout.strip(), (ref, after)
    have = store_objects(central_dir(team))
    assert all(obj(data(n)) in have for n in case.sent), case.sent
    if case.decoy:  # outside the push: not on the server, its data never needed
        assert decoy_ref(alice, case.decoy) not in after
        assert obj(data(case.decoy)) not in have


def test_fails_safe_when_the_push_cannot_be_told(team: Team, mode: PreCommitMode) -> None:
    """git run under another name: dvc-synced cannot learn the refs, so a local ref that
    lacks data refuses the push in one line naming it; with the plain hook it is exact."""
    alice = founded(team, mode)
    with_decoy_branch(b1_b2)(alice, team)
    mode.install(alice)
    launcher = team.base / "bin" / "vcs"  # e.g. a wrapper that execs git under its own name
    launcher.parent.mkdir()
    os.symlink(run(["sh", "-c", "command -v git"], team.base).stdout.strip(), launcher)
    push = [str(launcher), "push", "origin", "b1", "b2"]

    before, central = server_refs(team), store_objects(central_dir(team))
    refused = alice.run(*push, check=False)
    assert_refused(team, refused, before, central)
    lines = [ln for ln in output(refused).splitlines() if "dvc-synced:" in ln]
    assert len(lines) == 1, output(refused)
    assert "branch b2" in lines[0] and "dvc-synced install" in lines[0], lines[0]

    cache(alice, "b2")  # b2 is complete now; junk is still in no cache and may be pushed
    refused = alice.run(*push, check=False)
    assert_refused(team, refused, before, central)
    assert "branch junk" in output(refused), output(refused)

    alice.synced("install")  # the way out the line names: the plain hook sees every ref
    alice.run(*push)
    after = server_refs(team)
    assert after["refs/heads/b2"] == alice.git("rev-parse", "b2").stdout.strip()
    assert "refs/heads/junk" not in after
    assert obj(data("b2")) in store_objects(central_dir(team))


def test_plain_hook_moved_aside_by_pre_commit(team: Team, mode: PreCommitMode) -> None:
    """`dvc-synced install`, then `pre-commit install`: pre-commit keeps ours as
    pre-push.legacy and feeds it git's full stdin; no dry run is needed."""
    alice = founded(team, mode)
    with_decoy_branch(b1_b2)(alice, team)
    alice.synced("install")
    mode.install(alice)
    assert (alice.repo / ".git" / "hooks" / "pre-push.legacy").is_file()
    before, central = server_refs(team), store_objects(central_dir(team))
    refused = alice.git("push", "origin", "b1", "b2", check=False)
    assert_refused(team, refused, before, central)
    cache(alice, "b2")
    alice.git("push", "-q", "origin", "b1", "b2")
    assert obj(data("b2")) in store_objects(central_dir(team))

