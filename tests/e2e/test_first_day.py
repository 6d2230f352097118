"""A team's first day (#22): missing hooks are caught, central is never created by
accident and looks the same whatever reaches it, `init` checks what `doctor` checks and
picks rclone for an rclone remote. Real git, DVC, rsync, rclone, sshd, pre-commit."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from tests.conftest import Sshd, Team, User, rclone_env, store_objects


def founder_without_init(team: Team, name: str = "alice") -> User:
    user = team.user(name)
    user.dvc("init", "-q")
    return user


def one_line(text: str) -> str:
    """The error a user sees: one line, no raw tool output."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return lines[0]


# ------------------------------------------------------------------ missing hooks (case 4)


def test_doctor_fails_without_hooks_and_names_the_fix(team: Team) -> None:
    alice = team.founder("alice")
    out = alice.synced("doctor", check=False)
    assert out.returncode == 1, out.stdout
    line = next(ln for ln in out.stdout.splitlines() if "git hooks installed" in ln)
    # init wrote the team's .pre-commit-config.yaml: its command is the fix
    assert line.startswith("FAIL") and line.endswith("run `pre-commit install`"), line
    alice.synced("install")
    out = alice.synced("doctor")
    assert "ok    git hooks installed: through dvc-synced install" in out.stdout, out.stdout
    assert "all checks passed" in out.stdout


def test_doctor_checks_pre_commit_scripts_and_config(team: Team) -> None:
    """pre-commit's own scripts count only when the config lists our hook ids."""
    alice = team.founder("alice")
    config = alice.repo / ".pre-commit-config.yaml"
    config.write_text(
        "default_install_hook_types: [pre-commit, pre-push, post-checkout, post-merge, "
        "post-rewrite, post-commit]\nrepos:\n  - repo: local\n    hooks:\n"
        "      - id: whitespace\n        name: whitespace\n        entry: 'true'\n"
        "        language: system\n")
    alice.run(sys.executable, "-m", "pre_commit", "install")
    out = alice.synced("doctor", check=False)
    assert out.returncode == 1, out.stdout
    line = next(ln for ln in out.stdout.splitlines() if "git hooks installed" in ln)
    assert ".pre-commit-config.yaml lists no dvc-synced-pre-push" in line, line
    assert "list the dvc-synced hook ids in .pre-commit-config.yaml" in line, line
    hooks = "".join(f"      - id: dvc-synced-{n}\n" for n in
                    ("pre-push", "post-checkout", "post-merge", "post-rewrite", "post-commit"))
    config.write_text("default_install_hook_types: [pre-push]\nrepos:\n"
                      "  - repo: https://example.invalid/dvc-synced\n    rev: main\n"
                      "    hooks:\n" + hooks)
    for name in ("post-checkout", "post-merge", "post-rewrite", "post-commit"):
        (alice.repo / ".git" / "hooks" / name).unlink()
    out = alice.synced("doctor", check=False)
    line = next(ln for ln in out.stdout.splitlines() if "git hooks installed" in ln)
    assert line.startswith("FAIL") and "missing post-checkout" in line, line
    assert "pre-commit install -t post-checkout -t post-merge" in line, line
    alice.run(sys.executable, "-m", "pre_commit", "install", "-t", "post-checkout", "-t",
              "post-merge", "-t", "post-rewrite", "-t", "post-commit")
    out = alice.synced("doctor")
    assert "ok    git hooks installed: through pre-commit" in out.stdout, out.stdout


def test_status_blames_missing_hooks(team: Team) -> None:
    """Carol skipped the hooks: after `git pull` her status names them as the cause."""
    alice = team.founder("alice")
    alice.synced("install")
    carol = team.user("carol")
    carol.synced("pull")
    alice.write("data/a.bin", b"a" * 100)
    alice.dvc("add", "-q", "data/a.bin")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "a")
    alice.git("push", "-q")
    carol.git("pull", "-q")
    out = carol.synced("status", check=False)
    assert "(the git hooks are not installed)" in out.stderr, out.stderr
    assert "pre-commit install" in out.stderr, out.stderr
    assert "a git command that fires no hook" not in out.stderr, out.stderr


# ------------------------------------------------- one rule for every central (cases 5, 7)


def test_mistyped_ssh_central_is_never_created(tmp_path: Path, sshd: Sshd) -> None:
    real = tmp_path / "project.cache"
    real.mkdir()
    typo = tmp_path / "projcet.cache"
    team = Team(tmp_path, f"dvc-server:{typo}",
                extra_env={"DVC_SYNCED_SSH_COMMAND": sshd.ssh_command()})
    alice = founder_without_init(team)
    out = alice.synced("init", "--central", team.central, check=False)
    assert out.returncode != 0 and not typo.exists(), out.stdout + out.stderr
    error = one_line(out.stderr)
    assert "does not exist" in error and "--create" in error, error
    assert not (alice.repo / ".dvc-synced").exists()  # bad input changes nothing
    # Settings written by hand (or an old init): no command creates it, each says so.
    alice.run("git", "config", "--file", ".dvc-synced", "dvc-synced.central", team.central)
    alice.synced("install")
    alice.write("data.bin", b"x" * 1000)
    alice.dvc("add", "-q", "data.bin")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "data")
    for args in (["doctor"], ["status"], ["verify", "--rev", "HEAD"], ["push"]):
        out = alice.synced(*args, check=False)
        assert out.returncode != 0, (args, out.stdout, out.stderr)
        text = out.stdout + out.stderr
        assert "rsync exit" not in text and "change_dir" not in text, (args, text)
        assert f"central storage dvc-server:{typo}/ does not exist" in text, (args, text)
        assert not typo.exists(), args
    push = alice.git("push", "-q", "origin", "main", check=False)
    assert push.returncode != 0 and not typo.exists(), push.stderr
    # The one explicit step creates it, group-writable, and says what it found.
    out = alice.synced("init", "--central", team.central, "--create")
    assert typo.is_dir() and stat.S_IMODE(typo.stat().st_mode) & 0o070 == 0o070
    assert f"Central: created dvc-server:{typo}/" in out.stdout, out.stdout
    assert "exists, writable" in out.stdout and "dvc-synced doctor" in out.stdout, out.stdout
    alice.git("push", "-q", "origin", "main")
    assert store_objects(typo)


def test_init_checks_what_doctor_checks(team: Team, tmp_path: Path) -> None:
    alice = founder_without_init(team)
    for central, words in ((str(tmp_path / "nowhere"), ("does not exist", "--create")),
                           ("no-such-host.invalid:/srv/x", ("cannot reach central",))):
        out = alice.synced("init", "--central", central, check=False)
        assert out.returncode != 0, out.stdout
        error = one_line(out.stderr)
        assert all(w in error for w in words), error
        assert not (alice.repo / ".dvc-synced").exists()
        assert not (alice.repo / ".pre-commit-config.yaml").exists()
    out = alice.synced("init", "--central", team.central).stdout
    assert f"central {team.central} via rsync (a path)" in out, out
    assert f"Central: rsync to {team.central}: exists, writable." in out, out
    assert "Hooks: not installed in this clone yet: run `pre-commit install`" in out, out
    assert "`dvc-synced doctor` checks all of this again" in out, out


def test_missing_rclone_central_gets_the_same_error(team: Team, tmp_path: Path,
                                                    sshd: Sshd) -> None:
    env = rclone_env("teamsftp", {
        "type": "sftp", "host": "127.0.0.1", "port": str(sshd.port), "user": sshd.user,
        "key_file": str(sshd.client_key), "shell_type": "unix",
        "md5sum_command": "none", "sha1sum_command": "none"})
    missing = tmp_path / "gone"
    alice = founder_without_init(team)
    alice.env.update(env)
    out = alice.synced("init", "--central", f"teamsftp:{missing}", check=False)
    error = one_line(out.stderr)
    assert out.returncode != 0 and "does not exist" in error and "--create" in error, error
    alice.run("git", "config", "--file", ".dvc-synced", "dvc-synced.central",
              f"teamsftp:{missing}")
    alice.run("git", "config", "--file", ".dvc-synced", "dvc-synced.transport", "rclone")
    alice.write("data.bin", b"y" * 1000)
    alice.dvc("add", "-q", "data.bin")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "data")
    for args in (["status"], ["push"]):
        out = alice.synced(*args, check=False)
        assert out.returncode != 0, (args, out.stdout, out.stderr)
        assert f"central storage teamsftp:{missing} does not exist" in out.stderr, out.stderr
        assert not missing.exists(), args


# ------------------------------------------------------- rclone remotes by name (case 6)


def test_init_picks_rclone_for_an_rclone_remote(team: Team, tmp_path: Path) -> None:
    store = tmp_path / "teamstore"
    (store / "objects").mkdir(parents=True)
    alice = founder_without_init(team)
    alice.env.update(rclone_env("teamstore", {"type": "alias", "remote": str(store)}))
    out = alice.synced("init", "--central", "teamstore:objects").stdout
    assert "via rclone (teamstore is an rclone remote)" in out, out
    assert "Central: rclone to teamstore:objects: exists" in out, out
    team_file = (alice.repo / ".dvc-synced").read_text()
    assert "transport = rclone" in team_file, team_file
    alice.synced("install")
    alice.write("data.bin", b"z" * 1000)
    alice.dvc("add", "-q", "data.bin")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "data")
    alice.git("push", "-q", "origin", "main")
    assert store_objects(store / "objects")
    assert not os.path.exists(alice.repo / "teamstore:objects")
    # A host name that is no rclone remote stays an ssh host for rsync, and says so.
    out = alice.synced("init", "--central", "elsewhere:objects", "--no-check").stdout
    assert "via rsync (elsewhere is no rclone remote, so an ssh host)" in out, out




# --------------------------------------------- a pull brings everything that is there (case 4)


def add_data(user: User, files: dict[str, bytes], message: str) -> None:
    for rel, data in files.items():
        user.write(rel, data)
        user.dvc("add", "-q", rel)
    user.git("add", "-A")
    user.git("commit", "-q", "-m", message)


def test_pull_brings_what_central_has_and_names_who_must_push(team: Team) -> None:
    alice = team.founder("alice")
    alice.synced("install")
    add_data(alice, {"data/a.bin": b"a1" * 500, "data/b.bin": b"b1" * 500}, "a and b")
    alice.git("push", "-q")
    bob = team.user("bob")
    bob.synced("install")
    bob.synced("pull")
    carol = team.user("carol")  # skipped the hooks: her push publishes no data
    add_data(carol, {"data/carol.bin": b"c" * 3000}, "carol's data")
    carol.git("push", "-q")
    alice.git("pull", "-q")
    add_data(alice, {"data/a.bin": b"a2" * 700, "data/b.bin": b"b2" * 700}, "a and b v2")
    alice.git("push", "-q")

    pulled = bob.git("pull", "-q", check=False)  # git's pull itself succeeds
    assert pulled.returncode == 0, pulled.stderr
    for rel in ("data/a.bin", "data/b.bin"):  # alice's data arrived despite carol's
        assert (bob.repo / rel).read_bytes() == (alice.repo / rel).read_bytes(), rel
    assert not (bob.repo / "data/carol.bin").exists()
    sha = carol.git("log", "-1", "--format=%h", "--", "data/carol.bin.dvc").stdout.strip()
    named = f"data/carol.bin is not on central: committed in {sha} by carol <carol@example.com>"
    assert named in pulled.stderr, pulled.stderr

    dry = bob.synced("pull", "--dry-run", check=False)
    assert dry.returncode == 1, dry.stdout
    assert "would download 0 object(s) (0 B) from central" in dry.stdout, dry.stdout
    assert named in dry.stdout, dry.stdout
    out = bob.synced("pull", check=False)
    assert out.returncode == 1 and named in out.stderr, out.stderr
    assert "Traceback" not in out.stderr

    carol.synced("push")  # carol pushes; bob's next pull finishes
    dry = bob.synced("pull", "--dry-run")
    assert "would download 1 object(s) (3.0 KB) from central" in dry.stdout, dry.stdout
    bob.synced("pull")
    assert (bob.repo / "data/carol.bin").read_bytes() == b"c" * 3000
    assert bob.synced("status").returncode == 0


# ------------------------------------------------------------------ smaller things (case 8)


def test_push_dry_run_and_status_after_gc_and_a_switch(team: Team) -> None:
    """A dry run moves nothing; `status` exits 0 when only the local storage lacks what
    central and the cache hold (after `gc --keep-recent 0` and a `git switch`)."""
    alice = team.founder("alice")
    alice.synced("install")
    alice.git("switch", "-q", "-c", "exp")
    add_data(alice, {"x.bin": b"x" * 2000, "y.bin": b"y" * 1000}, "data")
    central = Path(team.central)
    out = alice.synced("push", "--dry-run")
    assert "dry run: would upload 2 object(s) (3.0 KB) to central, 0 already there" in \
        out.stdout, out.stdout
    assert store_objects(central) == set()
    assert store_objects(alice.local_storage()) == set()
    alice.git("push", "-q", "origin", "exp")
    out = alice.synced("push", "--dry-run")
    assert "would upload 0 object(s) (0 B) to central, 2 already there" in out.stdout, out.stdout
    alice.git("switch", "-q", "main")
    add_data(alice, {"main.bin": b"m" * 1000}, "main data")
    alice.git("push", "-q", "origin", "main")
    alice.synced("gc", "--keep-recent", "0")
    alice.git("switch", "-q", "exp")
    out = alice.synced("status", check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "central  complete" in out.stdout and "local    2 missing" in out.stdout, out.stdout


def test_post_commit_hook_name_claims_no_merge() -> None:
    """pre-commit prints every always_run hook's name on every commit: it must be true."""
    import yaml

    from tests.conftest import REPO_ROOT

    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    names = [h["name"] for h in hooks if h["id"].startswith("dvc-synced-post-commit")]
    assert names and all("merge" not in n for n in names), names


def test_import_url_hint_names_the_gitignore(team: Team, tmp_path: Path) -> None:
    """The hint's `git add` is the commit teammates need: the .dvc file and the .gitignore
    `dvc add` changed (without it the data shows as untracked for them)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.txt").write_text("x\n")
    alice = team.founder()
    out = alice.synced("import-url", str(src), "data/ds").stdout
    assert "share it: git add data/ds.dvc data/.gitignore && git commit" in out, out
    alice.git("add", "data/ds.dvc", "data/.gitignore")
    left = [ln for ln in alice.git("status", "--porcelain").stdout.splitlines()
            if not ln.startswith("A  ")]
    assert not left, left  # nothing else for the commit to miss
