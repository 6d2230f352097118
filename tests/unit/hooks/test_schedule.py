"""`dvc-synced schedule`: what install writes, that remove restores it byte for byte, and the
job itself (run as the crontab line says, never by waiting on a real timer).

Most tests put a stand-in `crontab` (a file per test) and `systemctl` first on PATH, so the
real user's crontab is never touched; one test uses the real `crontab` binary for a
throwaway OS user.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from dvc_synced_plugin.hooks import schedule
from dvc_synced_plugin.storage.lock import storage_lock
from tests.conftest import Team, User, run, store_objects, tree_digest
from tests.faults.support import commit, md5, object_path, track

FAKE_CRONTAB = """#!/bin/sh
f="$FAKE_CRONTAB"
case "$1" in
  -l) if [ -f "$f" ]; then exec cat "$f"; fi; echo "no crontab for $(id -un)" >&2; exit 1;;
  -r) if [ -f "$f" ]; then rm -f "$f"; exit 0; fi; echo "no crontab for x" >&2; exit 1;;
  -) cat > "$f";;
  *) echo "unexpected $*" >&2; exit 2;;
esac
"""
NO_SYSTEMD = "#!/bin/sh\necho 'Failed to connect to bus: No medium found' >&2\nexit 1\n"
FAKE_SYSTEMD = '#!/bin/sh\necho "$*" >> "$FAKE_SYSTEMCTL_LOG"\nexit 0\n'
MINE = 'MAILTO=""\n# my own jobs\n0 3 * * * /usr/bin/true --nightly\n'


def standin(base: Path, crontab: bool = True, systemd: str = NO_SYSTEMD) -> Path:
    bin_dir = base / "standin-bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, text in (("crontab", FAKE_CRONTAB if crontab else None), ("systemctl", systemd)):
        if text is not None:
            (bin_dir / name).write_text(text)
            os.chmod(bin_dir / name, 0o755)
    return bin_dir


def with_path(user: User, bin_dir: Path, **extra: str) -> None:
    user.env.update(extra, PATH=f"{bin_dir}{os.pathsep}{user.env['PATH']}")


def cron_user(team: Team, name: str = "bob") -> tuple[User, Path]:
    user = team.user(name)
    crontab = team.base / f"crontab-{name}"
    with_path(user, standin(team.base / name), FAKE_CRONTAB=str(crontab))
    return user, crontab


def test_cron_install_is_idempotent_and_remove_restores_bytes(team: Team) -> None:
    team.founder("alice")
    bob, crontab = cron_user(team)
    crontab.write_text(MINE)
    out = bob.synced("schedule", "install").stdout
    assert "installed: cron, every 15 min" in out, out
    text = crontab.read_text()
    assert text.startswith(MINE)
    added = text[len(MINE):].splitlines()
    assert len(added) == 2 and added[0].startswith("# dvc-synced ")
    assert added[1].startswith("*/15 * * * * cd ")
    assert shlex.quote(str(bob.repo)) in added[1]
    assert "schedule run --every 15 --recent 7" in added[1]

    assert "already installed" in bob.synced("schedule", "install").stdout
    assert crontab.read_text() == text
    bob.synced("schedule", "install", "--every", "120", "--recent", "3")
    changed = crontab.read_text()
    assert changed.count("# dvc-synced ") == 2 and "0 */2 * * * cd " in changed
    assert "--every 120 --recent 3" in changed
    assert "installed (cron, every 120 min" in bob.synced("schedule", "status").stdout
    crontab.write_text(MINE)  # the user edited the entry away
    assert "is gone" in bob.synced("schedule", "status").stdout
    bob.synced("schedule", "install", "--every", "120", "--recent", "3")

    assert "removed (crontab entry)" in bob.synced("schedule", "remove").stdout
    assert crontab.read_bytes() == MINE.encode()
    again = bob.synced("schedule", "remove")
    assert again.returncode == 0 and "nothing to remove" in again.stdout
    assert "not installed" in bob.synced("schedule", "status").stdout

    crontab.unlink()  # no crontab at all before: none after
    bob.synced("schedule", "install")
    assert crontab.exists()
    bob.synced("schedule", "remove")
    assert not crontab.exists()


def test_bad_schedule_input(team: Team, tmp_path: Path) -> None:
    team.founder("alice")
    bob, crontab = cron_user(team)
    for args in (["--every", "0"], ["--every", "often"], ["--recent", "-1"],
                 ["--every", "90"]):
        bad = bob.synced("schedule", "install", *args, check=False)
        assert bad.returncode == 2, bad
        assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert not crontab.exists()
    # Neither systemd nor crontab: a PATH with git only.
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    os.symlink(shutil.which("git") or "/usr/bin/git", bare / "git")
    (bare / "systemctl").write_text(NO_SYSTEMD)
    os.chmod(bare / "systemctl", 0o755)
    env = dict(bob.env, PATH=str(bare))
    proc = run([sys.executable, "-m", "dvc_synced_plugin", "schedule", "install"], bob.repo,
               env, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "apt-get install cron" in lines[0], proc.stderr
    assert not (bob.repo / ".git" / "dvc-synced" / "schedule.json").exists()


def job_command(crontab: Path) -> str:
    """The shell command of our crontab line: what cron would run."""
    line = next(ln for ln in crontab.read_text().splitlines()
                if not ln.startswith("#") and "dvc-synced" in ln)
    command = line.split(" ", 5)[5]
    return command[: command.rindex(" # dvc-synced ")]


def test_job_fetches_logs_backs_off_and_skips(team: Team) -> None:
    alice = team.founder("alice")
    alice.synced("install")
    bob, crontab = cron_user(team)
    bob.synced("install")
    alice.git("switch", "-q", "-c", "feature")
    made = track(alice, {"model.bin": b"feature model\n"})
    commit(alice, "feature data")
    alice.git("push", "-q", "origin", "feature")
    bob.synced("schedule", "install")
    command = job_command(crontab)
    job = run(["sh", "-c", command], bob.repo, bob.env, check=False)
    assert job.returncode == 0
    log = bob.repo / ".git" / "dvc-synced" / "schedule.log"
    first = log.read_text().splitlines()
    assert len(first) == 1 and " ok objects=1 bytes=14 " in first[0], first
    assert made["model.bin"] in store_objects(bob.local_storage())  # git fetch ran too
    assert not (bob.repo / "model.bin").exists()
    status = bob.synced("status", check=False).stdout
    assert "background sync: last run" in status and " ok, 1 object(s)" in status, status
    shown = bob.synced("schedule", "status").stdout
    assert "installed (cron, every 15 min" in shown and first[0] in shown

    # Central unreachable: a failure line, then runs skip while backing off.
    broken = dict(bob.env, DVC_SYNCED_CENTRAL=str(team.base / "gone"))
    alice.git("switch", "-q", "main")
    track(alice, {"other.bin": b"other\n"})
    commit(alice, "more data")
    alice.git("push", "-q", "origin", "main")
    stored = store_objects(bob.local_storage())
    failed = run(["sh", "-c", command], bob.repo, broken, check=False)
    assert failed.returncode == 1
    skipped = run(["sh", "-c", command], bob.repo, broken, check=False)
    assert skipped.returncode == 0
    lines = log.read_text().splitlines()
    assert " failed " in lines[1] and " skipped " in lines[2] and "backing off" in lines[2]
    assert "skipped: backing off" in bob.synced("status", check=False).stdout
    failures, until = (log.parent / "schedule-backoff").read_text().split()
    assert failures == "1" and 0 < float(until) - time.time() <= 15 * 60
    (log.parent / "schedule-backoff").write_text("9 0\n")  # many failures: capped at an hour
    run(["sh", "-c", command], bob.repo, broken, check=False)
    failures, until = (log.parent / "schedule-backoff").read_text().split()
    assert failures == "10" and 3500 < float(until) - time.time() <= 3600
    (log.parent / "schedule-backoff").unlink()
    assert store_objects(bob.local_storage()) == stored  # nothing half-written

    # Never twice at once: the previous run still holds the job's lock.
    with open(log.parent / "schedule.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        run(["sh", "-c", command], bob.repo, bob.env)
    assert "previous run is still going" in log.read_text().splitlines()[-1]

    # A hook holds the storage lock for longer than the job waits: it skips, no backoff.
    old_env = dict(os.environ)
    os.environ.clear()
    os.environ.update(bob.env)
    try:
        with storage_lock(bob.local_storage(), 5):
            assert schedule.run_job(bob.repo, 15, 7, lock_wait=0.3) == 0
    finally:
        os.environ.clear()
        os.environ.update(old_env)
    last = log.read_text().splitlines()[-1]
    assert " skipped " in last and "busy" in last, last
    assert not (log.parent / "schedule-backoff").exists()
    run(["sh", "-c", command], bob.repo, bob.env)
    assert " ok objects=1 " in log.read_text().splitlines()[-1]
    assert object_path(md5(b"other\n")) in store_objects(bob.local_storage())

    # The log stays bounded.
    log.write_text("".join(f"2026-01-01T00:00:00Z ok objects=0 bytes=0 seconds=0.0 #{i}\n"
                           for i in range(schedule.LOG_KEEP + 50)))
    run(["sh", "-c", command], bob.repo, bob.env)
    assert len(log.read_text().splitlines()) == schedule.LOG_KEEP


def test_systemd_units_and_restore(team: Team) -> None:
    team.founder("alice")
    bob = team.user("bob")
    calls = team.base / "systemctl.log"
    with_path(bob, standin(team.base / "sd", crontab=False, systemd=FAKE_SYSTEMD),
              FAKE_SYSTEMCTL_LOG=str(calls))
    config = bob.home / ".config"
    config.mkdir(exist_ok=True)
    (config / "other.conf").write_text("keep me\n")
    before = tree_digest(config)
    out = bob.synced("schedule", "install", "--every", "45").stdout
    assert "installed: systemd, every 45 min" in out, out
    units = {p.name: p.read_text() for p in (config / "systemd" / "user").glob("dvc-synced-*")}
    service = next(t for n, t in units.items() if n.endswith(".service"))
    timer_name = next(n for n in units if n.endswith(".timer"))
    assert f"WorkingDirectory={bob.repo}\n" in service
    assert '"schedule" "run" "--every" "45" "--recent" "7"' in service
    assert "OnUnitActiveSec=45min" in units[timer_name]
    assert "WantedBy=timers.target" in units[timer_name]
    logged = calls.read_text().splitlines()
    assert "--user daemon-reload" in logged and f"--user enable --now {timer_name}" in logged
    assert "already installed" in bob.synced("schedule", "install", "--every", "45").stdout
    assert "removed (systemd timer)" in bob.synced("schedule", "remove").stdout
    assert f"--user disable --now {timer_name}" in calls.read_text()
    assert tree_digest(config) == before
    assert not (config / "systemd").exists()
    assert "nothing to remove" in bob.synced("schedule", "remove").stdout


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("crontab")
                    or not shutil.which("useradd"),
                    reason="needs root, crontab (apt-get install cron) and useradd")
def test_real_crontab_of_a_throwaway_user(team: Team) -> None:
    """The real crontab binary and spool, for a user made for this test: our commands reach
    it through `crontab -u NAME` (root may; this venv's Python is not readable by others)."""
    team.founder("alice")
    bob = team.user("bob")
    name = f"dvcs{uuid.uuid4().hex[:8]}"
    real = shutil.which("crontab") or "/usr/bin/crontab"
    run(["useradd", "--no-create-home", "--shell", "/bin/sh", name], team.base)
    try:
        bin_dir = standin(team.base / "real", crontab=False)
        (bin_dir / "crontab").write_text(f'#!/bin/sh\nexec {real} -u {name} "$@"\n')
        os.chmod(bin_dir / "crontab", 0o755)
        with_path(bob, bin_dir)

        def crontab_l() -> subprocess.CompletedProcess:
            return run([real, "-u", name, "-l"], team.base, check=False)

        assert "no crontab" in crontab_l().stderr
        run([real, "-u", name, "-"], team.base, input=MINE)
        assert crontab_l().stdout == MINE
        assert "installed: cron" in bob.synced("schedule", "install").stdout
        listed = crontab_l().stdout
        assert listed.startswith(MINE) and "schedule run --every 15 --recent 7" in listed
        spool = Path("/var/spool/cron/crontabs") / name
        assert not spool.exists() or "dvc-synced" in spool.read_text()
        bob.synced("schedule", "remove")
        assert crontab_l().stdout.encode() == MINE.encode()

        run([real, "-u", name, "-r"], team.base)
        bob.synced("schedule", "install")
        assert "dvc-synced" in crontab_l().stdout
        bob.synced("schedule", "remove")
        assert "no crontab" in crontab_l().stderr
    finally:
        run([real, "-u", name, "-r"], team.base, check=False)
        run(["userdel", name], team.base, check=False)


def test_systemd_failure_leaves_the_unit_directory_as_it_was(team: Team) -> None:
    team.founder("alice")
    bob = team.user("bob")
    refuse = ('#!/bin/sh\ncase "$*" in *enable*) echo "Failed to enable unit" >&2; exit 1;; '
              'esac\nexit 0\n')
    with_path(bob, standin(team.base / "sdfail", crontab=False, systemd=refuse))
    config = bob.home / ".config"
    before = tree_digest(config) if config.exists() else None
    failed = bob.synced("schedule", "install", check=False)
    assert failed.returncode == 1
    assert len(failed.stderr.strip().splitlines()) == 1 and "enable" in failed.stderr
    assert (tree_digest(config) if config.exists() else None) == before
    assert not (config / "systemd").exists()
    assert "not installed" in bob.synced("schedule", "status").stdout
