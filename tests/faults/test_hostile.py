"""Hostile input from the people who can write to git and to central: manifests and pointer
files naming paths outside the workspace or objects that are not hashes, URLs that smuggle
backend options, and the git states a hook meets (detached HEAD, shallow clone, settings
broken under a hook). Each gives a clear error or the right result; nothing is written
outside the storages and the workspace, nothing is executed.

(CLI bad input, hostile host names and hostile central/local paths: tests/e2e/test_bad_input.py.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Team, User, run
from tests.faults.support import assert_sound, commit, md5, object_path, track


def plant(team: Team, attacker: User, name: str, entries: list[dict], files: dict[str, bytes]
          ) -> str:
    """Put a crafted directory manifest (and file objects) on central, commit a `.dvc`
    pointing at it and push the commit; returns the manifest's object path."""
    central = Path(team.central)
    for data in files.values():
        obj = central / object_path(md5(data))
        obj.parent.mkdir(parents=True, exist_ok=True)
        if not obj.exists():
            obj.write_bytes(data)
    manifest = json.dumps(entries).encode()
    oid = md5(manifest)
    obj = central / f"{object_path(oid)}.dir"
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(manifest)
    attacker.write(f"{name}.dvc", f"outs:\n- md5: {oid}.dir\n  size: 10\n  nfiles: "
                                  f"{len(entries)}\n  hash: md5\n  path: {name}\n")
    commit(attacker, f"plant {name}")
    attacker.run("git", "push", "-q", "origin", "HEAD")
    return f"{object_path(oid)}.dir"


def untouched_outside(base: Path, victim: User, before: set[str]) -> None:
    """Nothing new appeared anywhere under the test's base directory except inside the
    victim's workspace (in .git only dvc-synced's own state), its HOME (local storage) and
    central."""
    allowed = (victim.repo, victim.home, base / "central")
    git, own_state = victim.repo / ".git", victim.repo / ".git" / "dvc-synced"
    after = {str(p) for p in base.rglob("*")}
    new = [p for p in after - before
           if not any(Path(p).is_relative_to(a) for a in allowed)
           or (Path(p).is_relative_to(git) and not Path(p).is_relative_to(own_state))]
    assert not new, f"written outside the workspace and storages: {new}"


@pytest.fixture
def attacker(team: Team) -> User:
    alice = team.founder("alice")
    alice.env["DVC_SYNCED_SKIP"] = "1"  # pushes git only: the data is planted on central
    return alice


GOOD = b"an ordinary file\n"
CASES = {
    # entry md5 that is a path, not a hash
    "md5 path": [{"md5": "../../../../escaped", "relpath": "x"}],
    "md5 absolute": [{"md5": "/etc/passwd", "relpath": "x"}],
    # relpaths that leave the directory output
    "relpath ..": [{"md5": md5(GOOD), "relpath": "../../escaped.txt"}],
    "relpath into .git": [{"md5": md5(GOOD), "relpath": "../.git/hooks/post-merge"}],
    "relpath absolute": [{"md5": md5(GOOD), "relpath": "/tmp/dvc-synced-escaped.txt"}],
    "relpath newline": [{"md5": md5(GOOD), "relpath": "a\n../../escaped.txt"}],
    "not a list": {"md5": md5(GOOD)},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_manifest(team: Team, attacker: User, tmp_path: Path, case: str) -> None:
    rel = plant(team, attacker, "data", CASES[case], {"good": GOOD})  # type: ignore[arg-type]
    victim = team.user("victim")
    victim.synced("install")
    before = {str(p) for p in tmp_path.rglob("*")}
    proc = victim.synced("pull", check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode != 0, (case, proc.stdout, proc.stderr)
    assert "data" in proc.stderr, proc.stderr
    untouched_outside(tmp_path, victim, before)
    assert not Path("/tmp/dvc-synced-escaped.txt").exists()
    hook = victim.repo / ".git" / "hooks" / "post-merge"
    assert "dvc-synced" in hook.read_text(), "a manifest entry replaced a git hook"
    assert rel not in assert_sound(victim.local_storage())


def test_hostile_pointer_files(team: Team, attacker: User, tmp_path: Path) -> None:
    """`.dvc` files whose md5 is a path, or whose output lies outside the repository."""
    central = Path(team.central)
    obj = central / object_path(md5(GOOD))
    obj.parent.mkdir(parents=True)
    obj.write_bytes(GOOD)
    victim = team.user("victim")
    cases = {
        "md5 is a path": ("a.dvc", "outs:\n- md5: ../../../../etc/passwd\n  path: a\n"),
        "output above the repo": ("b.dvc", f"outs:\n- md5: {md5(GOOD)}\n  hash: md5\n"
                                           "  path: ../../escaped.txt\n"),
        "absolute output": ("c.dvc", f"outs:\n- md5: {md5(GOOD)}\n  hash: md5\n"
                                     f"  path: {tmp_path}/escaped-abs.txt\n"),
        "not yaml": ("d.dvc", "outs: [\n"),
    }
    for name, (pointer, text) in cases.items():
        attacker.write(pointer, text)
        commit(attacker, name)
        attacker.run("git", "push", "-q", "origin", "HEAD")
        victim.git("pull", "-q")
        before = {str(p) for p in tmp_path.rglob("*")}
        proc = victim.synced("pull", check=False)
        assert "Traceback" not in proc.stderr, (name, proc.stderr)
        assert proc.returncode != 0, (name, proc.stdout, proc.stderr)
        assert pointer in proc.stderr or "outside" in proc.stderr, (name, proc.stderr)
        untouched_outside(tmp_path, victim, before)
        attacker.run("git", "rm", "-q", pointer)
        commit(attacker, f"drop {name}")
        attacker.run("git", "push", "-q", "origin", "HEAD")
        victim.git("pull", "-q")


def test_symlinks_leading_out_of_the_workspace(team: Team, attacker: User,
                                               tmp_path: Path) -> None:
    """A committed symlink and a pointer whose output goes through it: DVC would write
    there (checked), so the hooks refuse before any checkout."""
    central = Path(team.central)
    obj = central / object_path(md5(GOOD))
    obj.parent.mkdir(parents=True)
    obj.write_bytes(GOOD)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), attacker.repo / "out")
    os.symlink(".git/hooks", attacker.repo / "hooks-link")
    cases = {
        "out.dvc": f"outs:\n- md5: {md5(GOOD)}\n  hash: md5\n  path: out/f.txt\n",
        "hook.dvc": f"outs:\n- md5: {md5(GOOD)}\n  hash: md5\n  path: hooks-link/pre-commit\n",
    }
    victim = team.user("victim")
    victim.synced("install")
    for pointer, text in cases.items():
        attacker.write(pointer, text)
        commit(attacker, pointer)
        attacker.run("git", "push", "-q", "origin", "HEAD")
        proc = victim.git("pull", "-q", check=False)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert pointer in proc.stderr and "outside the workspace" in proc.stderr, proc.stderr
        manual = victim.synced("pull", check=False)
        assert manual.returncode != 0 and pointer in manual.stderr, manual.stderr
        assert list(outside.iterdir()) == []
        assert not (victim.repo / ".git/hooks/pre-commit").exists()
        attacker.run("git", "rm", "-q", pointer)
        commit(attacker, f"drop {pointer}")
        attacker.run("git", "push", "-q", "origin", "HEAD")
        victim.git("pull", "-q")

    # A symlink committed inside a directory output (the attacker dropped its .gitignore).
    plant(team, attacker, "data", [{"md5": md5(GOOD), "relpath": "sub/f.txt"}], {"g": GOOD})
    (attacker.repo / "data").mkdir()
    os.symlink(str(outside), attacker.repo / "data" / "sub")
    attacker.run("git", "add", "-f", "data/sub")
    commit(attacker, "symlink inside the output")
    attacker.run("git", "push", "-q", "origin", "HEAD")
    proc = victim.git("pull", "-q", check=False)
    assert "data/sub is a symlink committed inside a directory output" in proc.stderr, \
        proc.stderr
    assert list(outside.iterdir()) == []


def test_rclone_remote_options_in_url_are_refused(team: Team, tmp_path: Path) -> None:
    """`name,opt=val:path` would let a committed team file set backend options."""
    alice = team.founder("alice")
    track(alice, {"a.bin": b"a"})
    commit(alice, "a")
    for url in ("central,sftp_ssh='touch pwned':data", 'central,key_file="x":data',
                "central,x=1:data"):
        env = {**alice.env, "DVC_SYNCED_TRANSPORT": "rclone", "DVC_SYNCED_CENTRAL": url,
               "RCLONE_CONFIG": "/dev/null", "RCLONE_CONFIG_CENTRAL_TYPE": "local"}
        proc = run([*alice_cmd(), "push"], alice.repo, env, check=False)
        assert proc.returncode == 2, proc.stderr
        assert "not a plain remote name" in proc.stderr, proc.stderr
    assert not (alice.repo / "pwned").exists() and not Path("pwned").exists()


def alice_cmd() -> list[str]:
    import sys

    return [sys.executable, "-m", "dvc_synced_plugin"]


def test_detached_head_and_shallow_clone(team: Team, tmp_path: Path) -> None:
    alice = team.founder("alice")
    alice.synced("install")
    track(alice, {"data/a.bin": b"v1\n"})
    v1 = commit(alice, "v1")
    track(alice, {"data/a.bin": b"v2\n"})
    commit(alice, "v2")
    alice.git("push", "-q", "origin", "main")

    bob = team.user("bob")
    bob.synced("install")
    bob.git("checkout", "-q", "--detach", v1)  # post-checkout brings v1's data
    assert (bob.repo / "data/a.bin").read_bytes() == b"v1\n"
    track(bob, {"data/b.bin": b"made on a detached HEAD\n"})
    detached = commit(bob, "detached work")
    bob.synced("push")  # HEAD is a detached commit: still pushable by revision
    bob.git("push", "-q", "origin", f"{detached}:refs/heads/detached")

    # A shallow clone: one commit, no history behind it.
    home = tmp_path / "home-carol"
    home.mkdir()
    carol = User("carol", home, tmp_path / "carol", {
        **bob.env, "HOME": str(home), "GIT_AUTHOR_NAME": "carol", "GIT_COMMITTER_NAME": "carol",
        "GIT_AUTHOR_EMAIL": "carol@example.com", "GIT_COMMITTER_EMAIL": "carol@example.com"})
    run(["git", "clone", "-q", "--depth", "1", f"file://{team.server}", str(carol.repo)],
        tmp_path, carol.env)
    assert carol.git("rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    carol.synced("install")
    carol.synced("pull")
    assert (carol.repo / "data/a.bin").read_bytes() == b"v2\n"
    track(carol, {"data/c.bin": b"from a shallow clone\n"})
    commit(carol, "shallow work")
    carol.git("push", "-q", "origin", "main")  # the hook walks a history with a boundary
    alice.git("pull", "-q")
    assert (alice.repo / "data/c.bin").read_bytes() == b"from a shallow clone\n"
    alice.git("fetch", "-q", "origin", "detached")
    alice.git("checkout", "-q", "--detach", "FETCH_HEAD")
    assert (alice.repo / "data/b.bin").read_bytes() == b"made on a detached HEAD\n"


def test_hooks_with_broken_settings(team: Team) -> None:
    """Under a hook, a malformed team file refuses the push in one line and never moves the
    git remote; after a pull it names the fix; no traceback either way."""
    alice = team.founder("alice")
    alice.synced("install")
    track(alice, {"data/a.bin": b"a\n"})
    commit(alice, "data")
    before = alice.git("ls-remote", "origin", "main").stdout
    for text in ('[dvc-synced\n\tcentral = "unclosed\n', "[dvc-synced]\n\ttimeout = soon\n",
                 "[dvc-synced]\n\tcentral = /x\n\tcentrall = typo\n", "\0\xff\xfe garbage"):
        (alice.repo / ".dvc-synced").write_bytes(text.encode("latin-1"))
        proc = alice.git("push", "origin", "main", check=False)
        assert proc.returncode != 0 and "push refused" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
        assert alice.git("ls-remote", "origin", "main").stdout == before
    alice.git("checkout", "-q", "--", ".dvc-synced")
    alice.git("push", "-q", "origin", "main")

    bob = team.user("bob")
    bob.synced("install")
    (bob.repo / ".git" / "info" / "exclude").write_text(".dvc-synced\n")
    os.chmod(bob.repo / ".dvc-synced", 0o644)
    bob.git("update-index", "--assume-unchanged", ".dvc-synced")
    team_file = bob.repo / ".dvc-synced"
    team_file.write_text(team_file.read_text() + "\tjobs = -3\n")
    proc = bob.git("checkout", "-q", "-b", "work", check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "jobs" in proc.stderr, proc.stderr
    assert not (bob.repo / "data/a.bin").exists()
