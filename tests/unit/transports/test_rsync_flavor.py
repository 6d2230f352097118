"""The rsyncs macOS ships (openrsync, rsync 2.6.9) as the local rsync, through stand-ins
early on PATH (tests/rsync_standins.py) that refuse what the real ones lack and speak
protocol 29 on the wire; central is a local path or rsync 3 over the loopback sshd.

Push, pull and status must keep the same guarantees as with rsync 3, checked on bytes;
an rsync that cannot is refused with one line that names the fix.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dvc_synced_plugin.errors import ConfigError
from dvc_synced_plugin.transports import rsync_flavor
from dvc_synced_plugin.transports.rsync import only_missing
from dvc_synced_plugin.transports.rsync_flavor import Flavor, parse_version
from tests.conftest import Team, User, on_terminal, store_objects, tree_digest
from tests.faults.support import assert_sound, commit, server_ref, track
from tests.rsync_standins import (
    OPENRSYNC_VERSION,
    RSYNC_269_VERSION,
    path_with,
    write_standin,
)

REFUSED_OPTION = ("unrecognized option", "unknown option", "Invalid argument passed")


# ----------------------------------------------------------------------------- unit


def test_parse_version_of_each_flavour() -> None:
    o = parse_version("/usr/bin/rsync", OPENRSYNC_VERSION)
    assert (o.kind, o.version, o.protocol) == ("openrsync", (2, 6, 9), 29)
    assert o.label == "openrsync (protocol 29, rsync 2.6.9 compatible)"
    old = parse_version("/usr/bin/rsync", RSYNC_269_VERSION)
    assert (old.kind, old.version, old.protocol) == ("rsync", (2, 6, 9), 29)
    new = parse_version("/opt/homebrew/bin/rsync",
                        "rsync  version 3.4.1  protocol version 32\nCopyright ...\n")
    assert (new.kind, new.version, new.protocol) == ("rsync", (3, 4, 1), 32)
    assert parse_version("r", "rsync  version v3.2.3  protocol version 31\n").version == (3, 2, 3)
    with pytest.raises(ConfigError, match="install rsync 3"):
        parse_version("/x/rsync", "something else 1.0\n")


def test_options_per_flavour() -> None:
    o = parse_version("r", OPENRSYNC_VERSION)
    old = parse_version("r", RSYNC_269_VERSION)
    r30 = Flavor("r", "rsync", (3, 0, 9), 30)
    new = Flavor("r", "rsync", (3, 5, 0), 32)
    for f in (o, old, r30):
        assert not f.ignore_missing_args
        assert f.progress_option == "--progress"  # not -P: no --partial
        assert f.chmod_readonly == "Fa=r,Fug-s,F-t"  # no octal modes before 3.1.0
        assert f.problem() is None
    assert new.ignore_missing_args and new.progress_option == "--info=progress2"
    assert new.chmod_readonly == "F444"
    for f in (o, old):  # protocol 29: dirs are sent, never applied to existing ones
        modes = f.upload_modes()
        assert "--no-implied-dirs" not in modes and "--perms" not in modes
        assert "--omit-dir-times" in modes
    assert new.upload_modes()[:2] == ["--no-implied-dirs", "--perms"]
    assert "--no-implied-dirs" in r30.upload_modes()
    ancient = Flavor("/usr/bin/rsync", "rsync", (2, 6, 3), 28)
    assert "too old" in (ancient.problem() or "") and "install rsync 3" in ancient.problem()


def test_the_fix_named_on_macos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    problem = Flavor("/usr/bin/rsync", "rsync", (2, 6, 3), 28).problem() or ""
    assert "`brew install rsync`, then put /opt/homebrew/bin" in problem
    assert "\n" not in problem


def test_remote_path_must_be_plain_without_quoting() -> None:
    o = parse_version("r", OPENRSYNC_VERSION)
    o.check_remote_path("/srv/dvc-central/team_1")
    o.check_remote_path("~/central")
    for bad in ("/srv/my data", "/srv/$(id)", "/srv/a;b", "/srv/it's"):
        with pytest.raises(ConfigError, match="install rsync 3"):
            o.check_remote_path(bad)
    Flavor("r", "rsync", (3, 2, 4), 31).check_remote_path("/srv/my data")  # quotes itself


def test_exit_23_listing_is_an_answer_only_when_every_gap_is_named() -> None:
    listed = ["files/md5/ab/1111", "files/md5/ab/0000", "files/md5/zz/9999"]
    out = b"4096 files/\n4096 files/md5/ab/\n6 files/md5/ab/1111\n"
    gone = (b'rsync: [sender] link_stat "/srv/c/files/md5/ab/0000" failed: '
            b"No such file or directory (2)\n")
    gone2 = gone.replace(b"ab/0000", b"zz/9999")
    summary = (b"rsync error: some files/attrs were not transferred (see previous errors) "
               b"(code 23) at main.c(1394) [sender=3.5.0]\n")
    assert only_missing(out, gone + gone2 + summary, listed)
    assert only_missing(out, b"Warning: Permanently added 'x' to known hosts\n" + gone + gone2,
                        listed)
    assert not only_missing(out, gone + summary, listed)  # 9999 neither listed nor named
    denied = (b'rsync: [sender] link_stat "/srv/c/files/md5/zz/9999" failed: '
              b"Permission denied (13)\n")
    assert not only_missing(out, gone + denied + summary, listed)
    other = b'rsync: [sender] send_files failed to open "/srv/c/x": Permission denied (13)\n'
    assert not only_missing(out, gone + gone2 + other, listed)
    foreign = gone.replace(b"ab/0000", b"cd/7777")
    assert not only_missing(out, gone + gone2 + foreign, listed)


def test_detect_asks_once_per_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = tmp_path / "calls"
    script = write_standin(tmp_path / "bin", "openrsync", calls=calls)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    first = rsync_flavor.detect()
    assert first.kind == "openrsync" and first.path == str(script)
    assert rsync_flavor.detect() is first
    assert calls.read_text().count("x") == 1
    script.write_text(script.read_text().replace(OPENRSYNC_VERSION, RSYNC_269_VERSION))
    os.utime(script, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new binary
    again = rsync_flavor.detect()
    assert (again.kind, again.version) == ("rsync", (2, 6, 9))
    assert calls.read_text().count("x") == 2


# ----------------------------------------------------------------------------- end to end


def central_dir(team: Team) -> Path:
    return Path(team.central.split(":", 1)[1] if team.central.startswith("dvc-server:")
                else team.central)


def use_standin(team: Team, flavor: str, version_text: str = "") -> Path:
    """Every teammate made from now on has the stand-in first on PATH; returns the
    file that counts its `--version` calls."""
    calls = team.base / f"rsync-{flavor}-calls"
    bin_dir = write_standin(team.base / f"rsync-{flavor}", flavor, version_text, calls).parent
    team.extra_env = {**team.extra_env, "PATH": path_with(bin_dir)}
    return calls


def no_refused_option(*procs: subprocess.CompletedProcess) -> None:
    for proc in procs:
        text = proc.stdout + proc.stderr
        for bad in (*REFUSED_OPTION, "checking central failed", "Traceback"):
            assert bad not in text, text


def assert_central_exact(team: Team, *users: User) -> None:
    """Central holds exactly the cache objects of `users`, read-only, in group-writable
    directories, with no partial bytes under a final name."""
    central = central_dir(team)
    want: set[str] = set()
    for user in users:
        want |= {p for p in store_objects(user.repo / ".dvc" / "cache")
                 if not p.startswith("runs/")}
    assert store_objects(central) == want
    assert_sound(central)
    for rel in want:
        assert stat.S_IMODE(os.lstat(central / rel).st_mode) == 0o444, rel
        assert stat.S_IMODE(os.lstat((central / rel).parent).st_mode) & 0o070 == 0o070, rel


def share_and_check(team: Team, calls: Path) -> None:
    alice = team.founder("alice")
    alice.synced("install")
    for i in range(4):
        alice.write(f"data/part {i}.txt", f"part {i}\n" * (i + 1))
    alice.write("model.bin", bytes(range(256)) * 300)
    alice.dvc("add", "-q", "data", "model.bin")
    commit(alice, "data and model")

    # status before the push: central lacks all (a probe where every object is missing)
    before = alice.synced("status", check=False)
    assert before.returncode == 1 and "central" in before.stdout and "missing" in before.stdout
    push = alice.git("push", "origin", "main")
    after = alice.synced("status")
    assert "central  complete" in after.stdout, after.stdout
    no_refused_option(before, push, after)
    assert_central_exact(team, alice)

    bob = team.user("bob")
    bob.synced("install")
    pull = bob.synced("pull")
    no_refused_option(pull)
    assert tree_digest(bob.repo / "data") == tree_digest(alice.repo / "data")
    assert (bob.repo / "model.bin").read_bytes() == (alice.repo / "model.bin").read_bytes()

    # a change: the probe sees some objects there and some not
    alice.write("data/part 1.txt", "changed\n")
    alice.dvc("add", "-q", "data")
    commit(alice, "change one file")
    push2 = alice.git("push", "origin", "main")
    pull2 = bob.git("pull", "-q")
    no_refused_option(push2, pull2)
    assert (bob.repo / "data/part 1.txt").read_text() == "changed\n"
    assert_central_exact(team, alice)

    # a truncated copy on central is not taken for the object: the push is refused
    objs = track(alice, {"extra/e.bin": b"0123456789" * 500})
    commit(alice, "extra")
    target = central_dir(team) / objs["extra/e.bin"]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"0123456789" * 10)
    remote = server_ref(alice)
    refused = alice.git("push", "origin", "main", check=False)
    assert refused.returncode != 0
    assert "wrong size on central" in refused.stderr and "extra/e.bin" in refused.stderr
    assert server_ref(alice) == remote
    no_refused_option(refused)
    assert calls.exists(), "the stand-in was never asked"


@pytest.mark.parametrize("flavor", ["openrsync", "2.6.9"])
def test_local_central(team: Team, flavor: str) -> None:
    share_and_check(team, use_standin(team, flavor))


@pytest.mark.parametrize("flavor", ["openrsync", "2.6.9"])
@pytest.mark.usefixtures("sshd")
def test_ssh_central(ssh_team: Team, flavor: str) -> None:
    share_and_check(ssh_team, use_standin(ssh_team, flavor))


def test_progress_on_a_terminal_with_openrsync(team: Team) -> None:
    """On a terminal rsync is asked for progress: openrsync has no --info=progress2."""
    use_standin(team, "openrsync")
    alice = team.founder("alice")
    alice.write("big.bin", os.urandom(300_000))
    alice.dvc("add", "-q", "big.bin")
    commit(alice, "big")
    code, out = on_terminal([sys.executable, "-m", "dvc_synced_plugin", "push"], alice.repo,
                            alice.env)
    assert code == 0, out
    assert not any(bad in out for bad in REFUSED_OPTION), out
    assert "100%" in out, out  # rsync's own per-file progress reached the terminal
    assert_central_exact(team, alice)


def founder_refused_by_init(team: Team, words: str) -> User:
    """`init` checks what doctor checks: an rsync that cannot keep the guarantees is
    refused there already, in one line; `--no-check` writes the settings anyway."""
    alice = team.user("alice")
    alice.dvc("init", "-q")
    proc = alice.synced("init", "--central", team.central, check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and words in lines[0], proc.stderr
    alice.synced("init", "--central", team.central, "--no-check")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "Set up DVC and dvc-synced")
    alice.git("push", "-q", "origin", "main")
    return alice


def test_too_old_rsync_is_refused_with_the_fix(team: Team) -> None:
    use_standin(team, "custom", "rsync  version 2.6.3  protocol version 28\n")
    alice = founder_refused_by_init(team, "install rsync 3")
    alice.synced("install")
    track(alice, {"a.bin": b"abc" * 100})
    commit(alice, "data")
    remote = server_ref(alice)
    proc = alice.synced("push", check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "too old" in lines[0] and "install rsync 3" in lines[0], lines
    hook = alice.git("push", "origin", "main", check=False)
    assert hook.returncode != 0 and "install rsync 3" in hook.stderr
    assert server_ref(alice) == remote
    assert store_objects(central_dir(team)) == set()
    doctor = alice.synced("doctor", check=False)
    assert doctor.returncode == 1
    assert "FAIL  rsync version: rsync 2.6.3 (protocol 28)" in doctor.stdout, doctor.stdout


@pytest.mark.usefixtures("sshd")
def test_unquotable_remote_path_is_refused(ssh_team: Team) -> None:
    """openrsync hands the remote path to the remote shell as typed: a path with a space
    would be split (or worse), so it is refused before anything moves."""
    spaced = central_dir(ssh_team).parent / "central dir"
    spaced.mkdir()
    ssh_team.central = f"dvc-server:{spaced}"
    use_standin(ssh_team, "openrsync")
    alice = founder_refused_by_init(ssh_team, "remote shell")
    track(alice, {"a.bin": b"abc" * 100})
    commit(alice, "data")
    proc = alice.synced("push", check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "remote shell" in lines[0] and "install rsync 3" in lines[0]
    assert store_objects(spaced) == set()
    doctor = alice.synced("doctor", check=False)
    assert doctor.returncode == 1 and "FAIL  rsync version" in doctor.stdout, doctor.stdout


@pytest.mark.parametrize("flavor,label,verdict", [
    ("openrsync", "openrsync (protocol 29, rsync 2.6.9 compatible)", "good enough"),
    ("2.6.9", "rsync 2.6.9 (protocol 29)", "good enough"),
    (None, "rsync 3.", ": good"),
])
def test_doctor_reports_the_rsync(team: Team, flavor: str | None, label: str,
                                  verdict: str) -> None:
    if flavor:
        use_standin(team, flavor)
    alice = team.founder("alice")
    alice.synced("install")  # doctor checks the hooks too
    proc = alice.synced("doctor")
    line = next(ln for ln in proc.stdout.splitlines() if "rsync version" in ln)
    assert line.startswith("ok    rsync version: " + label) and verdict in line, line
    assert "all checks passed" in proc.stdout
