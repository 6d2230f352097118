"""Regression tests for the divergences from plain `dvc pull` (issue 10), one per case.

Each starts from nothing with real git, dvc and the installed plain hooks, and asserts what
a fresh clone running `dvc pull` would have: the data, its x bit, empty directories, no
stale copies; or DVC's own refusal where DVC refuses.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from dvc_synced_plugin.hooks import githooks as hooks
from tests.conftest import Team, User, run, tree_digest


def pair(team: Team) -> tuple[User, User]:
    alice = team.founder("alice")
    alice.synced("install")
    bob = team.user("bob")
    bob.synced("install")
    bob.synced("pull")
    return alice, bob


def publish(user: User, msg: str, *targets: str) -> None:
    if targets:
        user.dvc("add", "-q", *targets)
    user.git("add", "-A")
    user.git("commit", "-q", "-m", msg)
    user.git("push", "-q", "origin", "HEAD")


def pulled(bob: User, *args: str) -> str:
    proc = bob.git(*(args or ("pull", "-q")))
    return proc.stderr


def dvc_clean(user: User) -> None:
    assert json.loads(user.dvc("status", "--json").stdout or "{}") == {}


def is_exec(path: Path) -> bool:
    return bool(os.stat(path).st_mode & stat.S_IXUSR)


def state(user: User) -> tuple[str, str]:
    return hooks.read_state(user.repo)


def head(user: User) -> str:
    return user.git("rev-parse", "HEAD").stdout.strip()


def test_exec_bit_follows_isexec(team: Team) -> None:
    alice, bob = pair(team)
    alice.write("tool", "#!/bin/sh\necho tool\n")
    publish(alice, "a tool", "tool")
    pulled(bob)
    assert not is_exec(bob.repo / "tool")
    os.chmod(alice.repo / "tool", 0o755)  # same bytes, now executable: isexec only
    publish(alice, "tool is executable", "tool")
    assert "isexec: true" in (alice.repo / "tool.dvc").read_text()
    pulled(bob)
    assert is_exec(bob.repo / "tool"), "an isexec-only change was not applied"
    alice.write("run.sh", "#!/bin/sh\necho run\n")
    os.chmod(alice.repo / "run.sh", 0o755)
    publish(alice, "a new executable", "run.sh")
    pulled(bob)
    assert is_exec(bob.repo / "run.sh"), "a new isexec output came without the x bit"
    dvc_clean(bob)


def test_exec_bit_of_a_linked_cache_object_follows_head(team: Team, tmp_path: Path) -> None:
    """Seeds 31337 and 2718 of the differential soak (#20). With a link cache type (here
    symlink; hardlink shares the inode alike) a file's x bit is its cache object's. An
    executable output leaves (`tool` retyped to a directory whose file has its bytes;
    `run.sh` loses `isexec`): the objects must lose the bit, as in a fresh clone after
    `dvc pull`, whose fetch protects every object HEAD needs to 0444 (dvc_data
    hashfile/db/local.py:59,131 -> db/__init__.py:184) before its checkout adds the bit
    for `isexec` entries only (dvc_data index/checkout.py:218,378). (DVC's incremental
    pull is no reference for run.sh: its chmod of an isexec change always adds the bit,
    index/checkout.py:286 with :182, so its result there depends on history.)"""
    from tests.e2e.test_differential import differences, dvc_env, oracle_pull, snapshot

    alice = team.founder("alice")
    alice.synced("install")
    bob = team.user("bob")
    bob.dvc("config", "--local", "cache.type", "symlink")
    bob.synced("install")
    bob.synced("pull")
    for name, data in (("tool", "shared bytes\n"), ("run.sh", "#!/bin/sh\n")):
        os.chmod(alice.write(name, data), 0o755)
    publish(alice, "two executables", "tool", "run.sh")
    pulled(bob)
    assert is_exec(bob.repo / "tool") and is_exec(bob.repo / "run.sh")
    (alice.repo / "tool").unlink()
    alice.write("tool/k.csv", "shared bytes\n")  # the same object, in a directory output
    os.chmod(alice.repo / "run.sh", 0o644)  # the same object, no longer isexec
    publish(alice, "tool becomes a directory, run.sh not executable", "tool", "run.sh")
    pulled(bob)
    with dvc_env(tmp_path):
        oracle = oracle_pull(bob, Path(team.central), "symlink", tmp_path / "oracle")
    assert not is_exec(oracle / "tool" / "k.csv") and not is_exec(oracle / "run.sh")
    assert differences(snapshot(bob.repo), snapshot(oracle)) == []


def test_empty_directory_output(team: Team) -> None:
    alice, bob = pair(team)
    (alice.repo / "empty").mkdir()
    publish(alice, "an empty directory", "empty")
    pulled(bob)
    assert (bob.repo / "empty").is_dir(), "the empty directory output was not created"
    dvc_clean(bob)


def test_moved_and_untracked_outputs_leave(team: Team) -> None:
    alice, bob = pair(team)
    alice.write("d/a.txt", "a\n")
    alice.write("d/sub/b.txt", "b\n")
    alice.write("single.txt", "single\n")
    publish(alice, "data", "d", "single.txt")
    pulled(bob)
    assert (bob.repo / "d/sub/b.txt").is_file()
    alice.dvc("move", "d", "e")
    alice.dvc("remove", "single.txt.dvc")  # her single.txt stays, untracked by both
    alice.git("add", "-u")
    alice.git("add", "e.dvc")
    alice.git("commit", "-q", "-m", "move d to e, untrack single.txt")
    alice.git("push", "-q")
    pulled(bob)
    assert tree_digest(bob.repo / "e") == tree_digest(alice.repo / "e")
    assert not (bob.repo / "d").exists(), "the moved directory stayed behind"
    assert not (bob.repo / "single.txt").exists(), "the untracked output stayed behind"
    dvc_clean(bob)
    # Untracked from DVC and committed to git instead: git wrote it, it stays.
    alice.write("kept.txt", "kept\n")
    publish(alice, "kept", "kept.txt")
    pulled(bob)
    alice.dvc("remove", "kept.txt.dvc")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "kept.txt goes into git")
    alice.git("push", "-q")
    pulled(bob)
    assert (bob.repo / "kept.txt").read_text() == "kept\n"


def test_untracked_file_in_a_directory_goes_to_dvc(team: Team) -> None:
    alice, bob = pair(team)
    for i in range(5):
        alice.write(f"d/s{i % 2}/f{i}.txt", f"{i}\n")
    publish(alice, "data", "d")
    pulled(bob)
    bob.write("d/s1/extra.txt", "bob's own file\n")
    alice.write("d/s0/f0.txt", "changed\n")
    publish(alice, "change d", "d")
    err = pulled(bob)
    # Plain DVC refuses ("Can't remove the following unsaved files"): so does the hook.
    assert (bob.repo / "d/s1/extra.txt").read_text() == "bob's own file\n"
    assert "dvc-synced pull" in err, err
    assert state(bob)[0] == "pending", "the workspace was marked synced"
    assert (bob.repo / "d/s0/f0.txt").read_text() == "0\n", "part of the change was applied"


def _v1(team: Team) -> tuple[User, User]:
    alice, bob = pair(team)
    alice.write("m.txt", "v1\n")
    publish(alice, "v1", "m.txt")
    pulled(bob)
    return alice, bob


def test_conflicted_squash_merge_committed_syncs(team: Team) -> None:
    """A squash merge stopping on a conflict in m.txt.dvc, resolved with theirs, committed."""
    alice, bob = _v1(team)
    bob.git("switch", "-q", "-c", "side")
    bob.write("m.txt", "side\n")
    publish(bob, "side", "m.txt")
    bob.git("switch", "-q", "main")
    alice.write("m.txt", "v2\n")
    publish(alice, "v2", "m.txt")
    bob.git("pull", "-q")
    assert (bob.repo / "m.txt").read_text() == "v2\n"
    proc = bob.git("merge", "--squash", "side", check=False)
    assert proc.returncode != 0, "expected a conflict"
    bob.git("checkout", "--theirs", "--", "m.txt.dvc")
    bob.git("add", "m.txt.dvc")
    bob.git("commit", "-q", "--no-edit")
    assert (bob.repo / "m.txt").read_text() == "side\n", "squash merge: data stayed at v2"
    assert state(bob) == ("ok", head(bob))
    dvc_clean(bob)


def test_conflicted_revert_concluded_syncs(team: Team) -> None:
    """A conflicted revert concluded by `git revert --continue`, then by `git commit`."""
    alice, bob = _v1(team)
    bob.write("m.txt", "v2\n")
    publish(bob, "v2", "m.txt")
    # Each reverts the commit before "next": back to v1, then back to "next 2".
    for conclude, want_data in ((["revert", "--continue"], "v1\n"),
                                (["commit", "-q", "--no-edit"], "next 2\n")):
        bob.write("m.txt", f"next {len(conclude)}\n")
        publish(bob, "next", "m.txt")
        proc = bob.git("revert", "--no-edit", "HEAD~1", check=False)
        assert proc.returncode != 0, "expected a conflict"
        bob.git("checkout", "--theirs", "--", "m.txt.dvc")
        bob.git("add", "m.txt.dvc")
        bob.run("git", "-c", "core.editor=true", *conclude)
        assert (bob.repo / "m.txt.dvc").read_text() == bob.git("show", "HEAD:m.txt.dvc").stdout
        assert (bob.repo / "m.txt").read_text() == want_data, f"{conclude}: data not reverted"
    dvc_clean(bob)


def test_git_am_syncs(team: Team, tmp_path: Path) -> None:
    """`git am` of a patch that changes the pointer: git runs post-applypatch."""
    alice, bob = _v1(team)
    alice.write("m.txt", "from a patch\n")
    publish(alice, "patched", "m.txt")
    patch = tmp_path / "p"
    alice.git("format-patch", "-q", "-1", "HEAD", "-o", str(patch))
    bob.git("am", "-q", *map(str, sorted(patch.iterdir())))
    assert (bob.repo / "m.txt").read_text() == "from a patch\n", "git am: no sync"
    dvc_clean(bob)


def test_rebases_that_replay_nothing_sync(team: Team) -> None:
    alice, bob = _v1(team)
    # fetch + rebase without local commits: a fast-forward inside the rebase.
    alice.write("m.txt", "v3\n")
    publish(alice, "v3", "m.txt")
    bob.git("fetch", "-q")
    bob.git("rebase", "-q", "origin/main")
    assert (bob.repo / "m.txt").read_text() == "v3\n", "fast-forward rebase: no sync"

    # `git pull --rebase` whose only local commit is already upstream.
    alice.write("m.txt", "v4\n")
    publish(alice, "v4", "m.txt")
    upstream = alice.git("rev-parse", "HEAD").stdout.strip()
    alice.write("other.txt", "o\n")
    publish(alice, "v5", "other.txt")
    bob.git("fetch", "-q")
    bob.git("cherry-pick", upstream)
    assert (bob.repo / "m.txt").read_text() == "v4\n"
    bob.git("pull", "-q", "--rebase")
    assert head(bob) == alice.git("rev-parse", "HEAD").stdout.strip()
    assert (bob.repo / "other.txt").read_text() == "o\n", "pull --rebase replaying nothing"
    dvc_clean(bob)


def test_dot_git_name_is_refused_in_one_clear_line(team: Team) -> None:
    """Refused at alice's push already: no teammate could check such a directory out, so
    it is not published (and a pull that meets one refuses it the same way)."""
    alice, bob = pair(team)
    before = team_refs(team)
    alice.write("d/ok.txt", "ok\n")
    alice.write("d/sub/.GIT", "a name DVC accepts\n")
    alice.dvc("add", "-q", "d")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "data")
    proc = alice.git("push", "-q", "origin", "HEAD", check=False)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if "d/sub/.GIT" in ln]
    assert len(lines) == 1, proc.stderr
    assert "case-insensitive" in lines[0] and "rename that file" in lines[0], proc.stderr
    assert lines[0].count("dvc add") == 1, lines[0]  # the fix, said once
    assert team_refs(team) == before  # the git remote did not move
    bob.git("pull", "-q")
    assert not (bob.repo / "d").exists()


def team_refs(team: Team) -> str:
    return run(["git", "for-each-ref"], team.server).stdout


def test_file_becoming_a_nested_directory(team: Team) -> None:
    alice, bob = pair(team)
    alice.write("d/a", "a file\n")
    alice.write("d/b", "b\n")
    publish(alice, "data", "d")
    pulled(bob)
    os.remove(alice.repo / "d/a")
    alice.write("d/a/x/y", "now a directory\n")
    publish(alice, "a becomes a directory", "d")
    err = pulled(bob)
    assert "failed" not in err and "dvc checkout" not in err, err
    assert tree_digest(bob.repo / "d") == tree_digest(alice.repo / "d")
    dvc_clean(bob)


def test_status_says_when_the_workspace_lags_head(team: Team) -> None:
    """`git reset --hard` fires no hook: status says so until `dvc-synced pull` catches up."""
    alice, bob = pair(team)
    alice.write("m.txt", "v1\n")
    publish(alice, "v1", "m.txt")
    alice.write("m.txt", "v2\n")
    publish(alice, "v2", "m.txt")
    pulled(bob)
    assert "lags" not in bob.synced("status").stderr
    bob.git("reset", "-q", "--hard", "HEAD~1")
    assert (bob.repo / "m.txt").read_text() == "v2\n"  # git moved HEAD, no hook ran
    err = bob.synced("status", check=False).stderr
    assert "workspace: lags HEAD" in err and "dvc-synced pull" in err, err
    bob.synced("pull")
    assert (bob.repo / "m.txt").read_text() == "v1\n"
    assert "workspace:" not in bob.synced("status").stderr


def _oracle_matches(bob: User, team: Team, tmp_path: Path) -> None:
    """bob's work tree equals a fresh clone at his HEAD that ran plain `dvc pull`."""
    from tests.e2e.test_differential import differences, dvc_env, dvc_status, oracle_pull, snapshot

    with dvc_env(tmp_path):
        oracle = oracle_pull(bob, Path(team.central), "", tmp_path / "oracle")
        assert differences(snapshot(bob.repo), snapshot(oracle)) == []
        assert dvc_status(oracle) == {}
        assert dvc_status(bob.repo) == {}, "dvc status in bob is not clean"


def _moved_here_untracked_there(team: Team) -> tuple[User, User]:
    """main moves output d to e; feature (from before the move) untracks d and adds x.txt.
    Merging feature into main conflicts on e.dvc (renamed here, deleted there) and on
    .gitignore; x.txt.dvc merges cleanly."""
    alice, bob = pair(team)
    alice.write("d/a.txt", "a\n")
    alice.write("d/s/b.txt", "b\n")
    publish(alice, "data", "d")
    alice.git("push", "-q", "origin", "main:feature")
    alice.dvc("move", "d", "e")
    publish(alice, "move d to e")
    alice.git("switch", "-q", "feature")
    alice.git("pull", "-q")
    alice.dvc("remove", "-q", "d.dvc")
    alice.write("x.txt", "x\n")
    publish(alice, "untrack d, add x.txt", "x.txt")
    alice.git("switch", "-q", "main")
    pulled(bob)
    assert tree_digest(bob.repo / "e") == tree_digest(alice.repo / "e")
    bob.git("fetch", "-q")
    return alice, bob


@pytest.mark.parametrize("side", ["ours", "theirs"])
@pytest.mark.parametrize("how", ["squash", "merge"])
def test_conflicted_merge_over_a_moved_output(team: Team, tmp_path: Path, side: str,
                                              how: str) -> None:
    """Found by the differential soak (seed 1195130988). git fires post-merge for a
    squash merge that stops on conflicts: the unmerged e.dvc must not count as deleted
    (which removed e/), and the resolution's commit brings what it chose."""
    from tests.e2e.test_differential import resolve_conflicts

    _alice, bob = _moved_here_untracked_there(team)
    args = ["--squash"] if how == "squash" else ["--no-edit"]
    proc = bob.git("merge", "-q", *args, "origin/feature", check=False)
    assert proc.returncode != 0, "expected a conflict"
    assert (bob.repo / "e" / "a.txt").is_file(), "the conflicted output left the workspace"
    resolve_conflicts(bob, side)
    bob.run("git", "-c", "core.editor=true", "commit", "-q", "--no-edit")
    assert (bob.repo / "x.txt").read_text() == "x\n"
    assert (bob.repo / "e").exists() == (side == "ours")
    assert state(bob) == ("ok", head(bob))
    _oracle_matches(bob, team, tmp_path)


def _git_tracks_inside_output(team: Team, tracked_before: bool) -> tuple[User, User]:
    """main has the output d; feature tracks d/a.txt in git. With `tracked_before`, the
    base tracked d/a.txt too: main untracked it from git into d, feature changed it (a
    modify/delete conflict); else feature added it (no conflict)."""
    alice, bob = pair(team)
    if tracked_before:
        alice.write("d/a.txt", "a in git\n")
        publish(alice, "d/a.txt in git")
    else:
        alice.write("m.txt", "m\n")
        publish(alice, "m", "m.txt")
    alice.git("push", "-q", "origin", "main:feature")
    if tracked_before:
        alice.git("rm", "-q", "--cached", "d/a.txt")
    alice.write("d/s/b.txt", "b\n")
    publish(alice, "d becomes an output", "d")
    alice.git("switch", "-q", "feature")
    alice.git("pull", "-q")
    alice.write("d/a.txt", "a changed in git\n")
    alice.write("f.txt", "feature's own change\n")  # a squash taking "ours" still commits
    publish(alice, "d/a.txt in git, changed")
    # DVC's d/s/b.txt left alice's workspace with the switch (her hooks sync in full: no
    # state file), so `git add -A` did not commit it into git.
    assert alice.git("ls-tree", "-r", "--name-only", "HEAD", "d").stdout == "d/a.txt\n"
    alice.git("switch", "-q", "main")
    pulled(bob)
    assert (bob.repo / "d/s/b.txt").is_file()
    bob.git("fetch", "-q")
    return alice, bob


@pytest.mark.parametrize("how", ["squash", "merge"])
def test_git_writes_a_file_into_an_output(team: Team, how: str) -> None:
    """The other side tracks d/a.txt in git and git overwrites bob's ignored output file:
    no pointer changed, yet d is not what DVC checked out. The hook hands d to DVC,
    which refuses as it does for plain `dvc checkout`: a warning, not "synced"."""
    _alice, bob = _git_tracks_inside_output(team, tracked_before=False)
    args = ["--squash"] if how == "squash" else ["--no-edit"]
    proc = bob.git("merge", "-q", *args, "origin/feature")
    assert (bob.repo / "d/a.txt").read_text() == "a changed in git\n"  # git wrote it
    assert "d/a.txt" in proc.stderr and "dvc-synced pull" in proc.stderr, proc.stderr
    assert state(bob)[0] == "pending", "the workspace was marked synced"
    assert bob.dvc("checkout", check=False).returncode != 0  # plain DVC refuses too


@pytest.mark.parametrize("how", ["squash", "merge"])
def test_conflict_ours_deletes_a_file_git_wrote_into_an_output(
        team: Team, tmp_path: Path, how: str) -> None:
    """A modify/delete conflict on d/a.txt: git writes feature's version over bob's
    output file, resolving "ours" (`git rm` + unlink) deletes it; the commit's sync must
    restore it from DVC, as a fresh clone + `dvc pull` has it."""
    from tests.e2e.test_differential import resolve_conflicts

    _alice, bob = _git_tracks_inside_output(team, tracked_before=True)
    args = ["--squash"] if how == "squash" else ["--no-edit"]
    proc = bob.git("merge", "-q", *args, "origin/feature", check=False)
    assert proc.returncode != 0, "expected a conflict"
    resolve_conflicts(bob, "ours")
    bob.run("git", "-c", "core.editor=true", "commit", "-q", "--no-edit")
    assert (bob.repo / "d/a.txt").read_text() == "a in git\n", "the output file is missing"
    assert state(bob) == ("ok", head(bob))
    _oracle_matches(bob, team, tmp_path)


def test_checkout_where_git_tracks_files_in_a_former_output(team: Team, tmp_path: Path) -> None:
    """`git checkout` of a commit with d/a.txt in git and no output d: git writes its
    d/a.txt, and DVC's other files of d leave (a fresh clone has only git's); back on
    main, d is DVC's again."""
    _alice, bob = _git_tracks_inside_output(team, tracked_before=False)
    bob.git("checkout", "-q", "origin/feature")
    assert (bob.repo / "d/a.txt").read_text() == "a changed in git\n"
    assert not (bob.repo / "d/s").exists(), "DVC's files of d stayed behind"
    _oracle_matches(bob, team, tmp_path)
    bob.git("checkout", "-q", "main")
    assert (bob.repo / "d/s/b.txt").read_text() == "b\n"
    _oracle_matches(bob, team, tmp_path)
