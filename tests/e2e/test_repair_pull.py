"""A full `dvc-synced pull` is a repair (issue #20, item 6 and case 5).

Whatever the history, afterwards the workspace equals a fresh clone that ran plain
`dvc pull`: outputs HEAD no longer has leave (unless they hold unsaved changes, which
are kept, as DVC keeps them), and outputs of the wrong type (a directory where HEAD has a
file) are fixed. The two conflicted merges the differential campaign found are here too.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.conftest import Team, User
from tests.e2e.test_differential import resolve_conflicts
from tests.e2e.test_divergences import _oracle_matches, head, pair, publish, state


def commit_resolution(bob: User) -> None:
    bob.run("git", "-c", "core.editor=true", "commit", "-q", "--no-edit")


def _squash_conflict_over_a_retyped_output(team: Team) -> tuple[User, User]:
    """`git merge --squash` stops on a conflict in d6.dvc; the other side turned the
    directory d6 into a file; "theirs" is taken (the commit is the caller's)."""
    alice, bob = pair(team)
    alice.write("d6/a.txt", "a\n")
    alice.write("d6/s/b.txt", "b\n")
    publish(alice, "d6 is a directory", "d6")
    alice.git("push", "-q", "origin", "main:feature")
    alice.write("d6/a.txt", "a2\n")
    publish(alice, "d6 changes", "d6")
    alice.git("switch", "-q", "feature")
    alice.git("pull", "-q")
    alice.dvc("remove", "-q", "d6.dvc")
    alice.run("rm", "-rf", "d6")
    alice.write("d6", "d6 is a file now\n")
    publish(alice, "d6 becomes a file", "d6")
    alice.git("switch", "-q", "main")

    bob.git("pull", "-q")
    assert (bob.repo / "d6" / "a.txt").read_text() == "a2\n"
    bob.git("fetch", "-q")
    proc = bob.git("merge", "--squash", "origin/feature", check=False)
    assert proc.returncode != 0, "expected a conflict"
    resolve_conflicts(bob, "theirs")
    return alice, bob


def test_squash_conflict_where_the_other_side_made_a_directory_a_file(
        team: Team, tmp_path: Path) -> None:
    _alice, bob = _squash_conflict_over_a_retyped_output(team)
    commit_resolution(bob)
    assert (bob.repo / "d6").is_file(), "the old directory stayed"
    assert state(bob) == ("ok", head(bob))
    _oracle_matches(bob, team, tmp_path)


def forget_sync(bob: User) -> None:
    """No record of what the workspace holds: hooks installed after the fact, a state
    file lost. A full pull must not need one."""
    (bob.repo / ".git" / "dvc-synced" / "workspace").unlink(missing_ok=True)


def test_full_pull_fixes_output_types(team: Team, tmp_path: Path) -> None:
    _alice, bob = _squash_conflict_over_a_retyped_output(team)
    bob.env["DVC_SYNCED_SKIP"] = "1"
    commit_resolution(bob)
    del bob.env["DVC_SYNCED_SKIP"]
    forget_sync(bob)
    assert (bob.repo / "d6").is_dir()
    bob.synced("pull")
    assert (bob.repo / "d6").read_text() == "d6 is a file now\n"
    _oracle_matches(bob, team, tmp_path)


def _two_outputs_dropped_there(team: Team) -> tuple[User, User]:
    """alice drops the directory outputs d1 and d2 and changes m.txt (in git); bob changed
    m.txt too: his `git pull` stops on the conflict."""
    alice, bob = pair(team)
    for name in ("d1", "d2"):
        alice.write(f"{name}/a.txt", f"{name}\n")
    alice.write("m.txt", "m\n")
    publish(alice, "two outputs", "d1", "d2")
    bob.git("pull", "-q")
    assert (bob.repo / "d1" / "a.txt").is_file()
    alice.dvc("remove", "-q", "d1.dvc", "d2.dvc")
    alice.run("rm", "-rf", "d1", "d2")
    alice.write("m.txt", "m from alice\n")
    publish(alice, "drop d1 and d2")
    bob.write("m.txt", "m from bob\n")
    bob.git("commit", "-q", "-am", "bob's m")
    proc = bob.git("pull", "-q", "--no-rebase", check=False)
    assert proc.returncode != 0, "expected a conflict"
    return alice, bob


def _theirs_committed_drops(bob: User, team: Team, tmp_path: Path, *gone: str) -> None:
    """Resolve with theirs, commit: the dropped outputs leave, synced, as DVC has HEAD."""
    resolve_conflicts(bob, "theirs")
    commit_resolution(bob)
    assert not any((bob.repo / name).exists() for name in gone)
    assert state(bob) == ("ok", head(bob))
    _oracle_matches(bob, team, tmp_path)


def test_conflicted_pull_resolved_theirs_drops_the_outputs(team: Team, tmp_path: Path) -> None:
    _alice, bob = _two_outputs_dropped_there(team)
    _theirs_committed_drops(bob, team, tmp_path, "d1", "d2")


def test_full_pull_repairs_whatever_the_history(team: Team, tmp_path: Path) -> None:
    """Hooks skipped (DVC_SYNCED_SKIP) through the conflicted pull and its commit: the
    workspace is in no known state. A full pull removes the outputs HEAD no longer has,
    except one holding unsaved changes, which it keeps and names."""
    _alice, bob = _two_outputs_dropped_there(team)
    bob.env["DVC_SYNCED_SKIP"] = "1"
    resolve_conflicts(bob, "theirs")
    commit_resolution(bob)
    del bob.env["DVC_SYNCED_SKIP"]
    forget_sync(bob)
    assert (bob.repo / "d1").is_dir() and (bob.repo / "d2").is_dir()
    (bob.repo / "d2" / "a.txt").chmod(0o644)
    (bob.repo / "d2" / "a.txt").write_text("bob's unsaved edit\n")
    proc = bob.synced("pull", check=False)
    assert not (bob.repo / "d1").exists(), proc.stderr
    assert (bob.repo / "d2" / "a.txt").read_text() == "bob's unsaved edit\n"
    assert "d2" in proc.stderr, proc.stderr
    assert proc.returncode != 0, "kept unsaved work, yet exit 0 (DVC refuses)"
    (bob.repo / "d2" / "a.txt").unlink()
    (bob.repo / "d2").rmdir()
    bob.synced("pull")
    _oracle_matches(bob, team, tmp_path)


def _rmtree(path: Path) -> None:
    for top, dirs, _files in os.walk(path):
        for d in dirs:
            os.chmod(os.path.join(top, d), 0o755)
    shutil.rmtree(path)


def _write_stages(user: User, stages: dict[str, list[str]], templated: bool) -> None:
    """dvc.yaml with these stages; `templated`: the outputs spelled through `vars`, which
    only DVC's own loading reads (the slow path)."""
    variables, body = [], []
    for name, outs in stages.items():
        body += [f"  {name}:", "    cmd: 'true'", "    deps: [src.txt]", "    outs:"]
        for j, out in enumerate(outs):
            variables.append(f"  - v_{name}_{j}: {out}")
            body.append(f"    - ${{v_{name}_{j}}}" if templated else f"    - {out}")
    head_lines = ["vars:", *variables] if templated else []
    (user.repo / "dvc.yaml").write_text("\n".join([*head_lines, "stages:", *body]) + "\n")


def _stages(alice: User, templated: bool) -> None:
    """Stage s1 (output o1) and s2 (directory outputs p1, p2), committed by `dvc commit`."""
    alice.write("src.txt", "1\n")
    alice.write("o1/a", "o1\n")
    alice.write("p1/a", "p1\n")
    alice.write("p2/b/c", "p2\n")
    _write_stages(alice, {"s1": ["o1"], "s2": ["p1", "p2"]}, templated)
    alice.dvc("commit", "-f", "-q")


def _drop_s2(alice: User, templated: bool) -> None:
    """s2 leaves dvc.yaml by hand; `dvc commit` keeps its dvc.lock entry, which DVC
    ignores from then on (a stage dvc.yaml lacks has no outputs)."""
    _rmtree(alice.repo / "p1")
    _rmtree(alice.repo / "p2")
    _write_stages(alice, {"s1": ["o1"]}, templated)
    alice.dvc("commit", "-f", "-q")
    assert "s2:" in (alice.repo / "dvc.lock").read_text()


def test_conflicted_pull_drops_a_stage_kept_in_dvc_lock(team: Team, tmp_path: Path) -> None:
    """Case 5's conflicted `git pull`: alice drops stage s2 from dvc.yaml (its two
    directory outputs with it) and changes m.txt, which bob changed too; bob takes
    theirs. On 7fcb160 the hooks read dvc.lock alone, so p1 and p2 stayed, and a full
    `dvc-synced pull` left them too."""
    alice, bob = pair(team)
    alice.write("m.txt", "m\n")
    _stages(alice, templated=False)
    publish(alice, "two stages")
    bob.git("pull", "-q")
    assert (bob.repo / "p2/b/c").is_file()
    _drop_s2(alice, templated=False)
    alice.write("m.txt", "m from alice\n")
    publish(alice, "drop s2")
    bob.write("m.txt", "m from bob\n")
    bob.git("commit", "-q", "-am", "bob's m")
    assert bob.git("pull", "-q", "--no-rebase", check=False).returncode != 0
    _theirs_committed_drops(bob, team, tmp_path, "p1", "p2")


def test_conflicted_squash_with_a_templated_pipeline(team: Team, tmp_path: Path) -> None:
    """Case 5's squash: `git merge --squash` stops on d6.dvc (the other side made d6 a
    file) and also brings a templated dvc.yaml that drops s2. Its post-merge read the
    index through DVC, and `git write-tree` refuses an unmerged index: the sync failed,
    the commit's sync then ran in full and left p1 and p2 behind. On 7fcb160 the lock
    entry DVC ignores kept them too."""
    alice, bob = pair(team)
    alice.write("d6/a.txt", "a\n")
    _stages(alice, templated=True)
    publish(alice, "stages and d6", "d6")
    alice.git("push", "-q", "origin", "main:feature")
    alice.write("d6/a.txt", "a2\n")
    publish(alice, "d6 changes", "d6")
    alice.git("switch", "-q", "feature")
    alice.git("pull", "-q")
    _rmtree(alice.repo / "d6")
    alice.write("d6", "d6 is a file now\n")
    _drop_s2(alice, templated=True)
    publish(alice, "d6 becomes a file, s2 goes", "d6")
    alice.git("switch", "-q", "main")
    bob.git("pull", "-q")
    assert (bob.repo / "p2/b/c").is_file()
    bob.git("fetch", "-q")
    proc = bob.git("merge", "--squash", "origin/feature", check=False)
    assert proc.returncode != 0, "expected a conflict"
    assert "warning" not in proc.stderr, proc.stderr
    resolve_conflicts(bob, "theirs")
    commit_resolution(bob)
    assert (bob.repo / "d6").read_text() == "d6 is a file now\n"
    assert not (bob.repo / "p1").exists() and not (bob.repo / "p2").exists()
    assert state(bob) == ("ok", head(bob))
    _oracle_matches(bob, team, tmp_path)


def test_squash_conflict_committed_with_an_own_message(team: Team, tmp_path: Path) -> None:
    """Case 5's squash, its resolution committed with bob's own message: git drops
    SQUASH_MSG before post-commit, so the message cannot tell; the old directory d6 stayed
    and the state said synced. The mark post-merge leaves does tell."""
    _alice, bob = _squash_conflict_over_a_retyped_output(team)
    bob.git("commit", "-q", "-m", "take feature's d6")
    assert (bob.repo / "d6").read_text() == "d6 is a file now\n", "the old directory stayed"
    assert state(bob) == ("ok", head(bob))
    _oracle_matches(bob, team, tmp_path)
    # The mark went with that commit: the next one, bob's own, syncs nothing.
    bob.write("notes.txt", "n\n")
    bob.git("add", "notes.txt")
    bob.git("commit", "-q", "-m", "notes")
    assert state(bob) == ("ok", head(bob))


def test_squash_conflicted_in_dvc_lock_of_a_templated_pipeline(
        team: Team, tmp_path: Path) -> None:
    """`git merge --squash` stops on dvc.lock itself (both sides changed o1 of a
    templated stage): the index has no stage-0 dvc.lock while post-merge reads it through
    DVC. The resolution ("theirs", committed with bob's own message) brings feature's o1."""
    alice, bob = pair(team)
    _stages(alice, templated=True)
    publish(alice, "stages")
    alice.git("push", "-q", "origin", "main:feature")
    alice.write("o1/a", "o1 on main\n")
    alice.dvc("commit", "-f", "-q")
    publish(alice, "o1 changes on main")
    alice.git("switch", "-q", "feature")
    alice.git("pull", "-q")
    alice.write("o1/a", "o1 on feature\n")
    alice.dvc("commit", "-f", "-q")
    publish(alice, "o1 changes on feature")
    alice.git("switch", "-q", "main")

    bob.git("pull", "-q")
    assert (bob.repo / "o1/a").read_text() == "o1 on main\n"
    bob.git("fetch", "-q")
    proc = bob.git("merge", "--squash", "origin/feature", check=False)
    assert proc.returncode != 0, "expected a conflict"
    assert "dvc-synced: error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "dvc.lock" in bob.git("diff", "--name-only", "--diff-filter=U").stdout
    assert (bob.repo / "o1/a").read_text() == "o1 on main\n", "ours stays until resolved"
    resolve_conflicts(bob, "theirs")
    bob.git("commit", "-q", "-m", "take feature's o1")
    assert (bob.repo / "o1/a").read_text() == "o1 on feature\n"
    assert state(bob) == ("ok", head(bob))
    _oracle_matches(bob, team, tmp_path)


def test_first_hook_after_no_known_state_removes_outputs_head_lacks(
        team: Team, tmp_path: Path) -> None:
    """Hooks with no record of the workspace (installed after the fact, or after a failed
    sync) sync in full: HEAD's outputs, and, as a full `dvc-synced pull` does, outputs of
    the commits HEAD was at lately that HEAD lacks. d1 stayed before: only HEAD counted."""
    alice, bob = pair(team)
    alice.write("d1/a.txt", "d1\n")
    alice.write("f.txt", "f1\n")
    publish(alice, "d1 and f", "d1", "f.txt")
    bob.git("pull", "-q")
    assert (bob.repo / "d1/a.txt").is_file()
    alice.dvc("remove", "-q", "d1.dvc")
    _rmtree(alice.repo / "d1")
    alice.write("f.txt", "f2\n")
    publish(alice, "drop d1", "f.txt")
    bob.env["DVC_SYNCED_SKIP"] = "1"
    bob.git("pull", "-q")  # no hooks yet, as far as the workspace knows
    del bob.env["DVC_SYNCED_SKIP"]
    forget_sync(bob)
    alice.write("f.txt", "f3\n")
    publish(alice, "f again", "f.txt")
    bob.git("pull", "-q")
    assert (bob.repo / "f.txt").read_text() == "f3\n"
    assert not (bob.repo / "d1").exists(), "an output HEAD lacks stayed"


def test_revert_conflict_committed_with_an_edited_message(team: Team, tmp_path: Path) -> None:
    """A revert that stops on a pointer file, resolved to the reverted side and committed
    through the editor with bob's own message (the "This reverts commit" line gone): the
    data stayed the old one while the state said synced. git leaves no revert trace by
    post-commit; the message file it edited still holds the "# Conflicts:" hint."""
    bob = team.founder("bob")
    bob.synced("install")
    for text in ("v1\n", "v2\n", "v3\n"):
        bob.write("data.txt", text)
        publish(bob, f"data {text.strip()}", "data.txt")
    bob.git("revert", "--no-edit", "HEAD~1", check=False)  # v2 -> v1 against v3: conflict
    assert bob.git("diff", "--name-only", "--diff-filter=U").stdout.split() == ["data.txt.dvc"]
    resolve_conflicts(bob, "theirs")  # the revert's side: v1
    editor = "sed -i -e 's/^Revert .*/back to v1/' -e '/This reverts commit/d'"
    bob.run("git", "-c", f"core.editor={editor}", "commit", "-q")
    assert "This reverts" not in bob.git("log", "-1", "--format=%B").stdout
    assert (bob.repo / "data.txt").read_text() == "v1\n", "the data stayed v3"
    assert state(bob) == ("ok", head(bob))
    _oracle_matches(bob, team, tmp_path)
