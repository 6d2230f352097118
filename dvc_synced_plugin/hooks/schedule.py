"""`dvc-synced schedule`: a per-user periodic `git fetch` + `dvc-synced fetch --recent`.

A systemd user timer where `systemctl --user` works, else a crontab entry. Whatever
install adds is marked with this clone's id, so remove takes out exactly that: the
crontab (or the unit directory) is left byte for byte as it was before.

The job (`schedule run`) never prompts (no terminal: its own session, stdin /dev/null,
ssh in BatchMode), never runs twice at once (a flock of its own), waits a while for a
hook holding the storage lock and otherwise skips, and backs off while central stays
unreachable (the interval doubles per failure, up to an hour). Each run appends one line
to `<git-dir>/dvc-synced/schedule.log`, which keeps the newest LOG_KEEP lines.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from dvc_synced_plugin import config
from dvc_synced_plugin.errors import ConfigError, SyncError
from dvc_synced_plugin.fs import atomic_write
from dvc_synced_plugin.git import gitinfo, remotes
from dvc_synced_plugin.imports import importer
from dvc_synced_plugin.output import human_bytes
from dvc_synced_plugin.sync import fetch

LOG_KEEP = 200
MAX_BACKOFF = 3600  # seconds
LOCK_WAIT = 120.0  # how long the job waits for a hook's transfer before skipping the run
SYSTEMD = "systemd"
CRON = "cron"


def _dir(root: Path) -> Path:
    return gitinfo.state_dir(root)


def log_path(root: Path) -> Path:
    return _dir(root) / "schedule.log"


def job_id(root: Path) -> str:
    return hashlib.sha256(str(root).encode()).hexdigest()[:12]


# ------------------------------------------------------------------------- what runs


def job_args(every: int, days: int) -> list[str]:
    return [sys.executable, "-m", "dvc_synced_plugin", "schedule", "run",
            "--every", str(every), "--recent", str(days)]


def _check_path(root: Path) -> None:
    # cron turns `%` into a newline; systemd treats it as a specifier; a newline ends a line.
    for text in (str(root), sys.executable):
        if any(c in text for c in "%\n\r"):
            raise ConfigError(f"{text!r} contains % or a line break, which cron and systemd "
                              "lines cannot carry: move the clone or the venv to a plainer path")


def cron_lines(root: Path, every: int, days: int) -> str:
    if every < 60:
        when = f"*/{every} * * * *"
    elif every % 60 == 0 and every <= 1440:
        when = f"0 */{every // 60} * * *" if every < 1440 else "0 0 * * *"
    else:
        raise ConfigError(f"cron cannot run every {every} minutes: use 1-59 minutes or "
                          "whole hours (60, 120, ...)")
    command = " ".join(shlex.quote(a) for a in job_args(every, days))
    path = shlex.quote(os.environ.get("PATH", "/usr/bin:/bin"))
    tag = f"# dvc-synced {job_id(root)}"
    return (f"{tag}: background fetch for {root} (`dvc-synced schedule remove` removes it)\n"
            f"{when} cd {shlex.quote(str(root))} && PATH={path} exec {command} "
            f">/dev/null 2>&1 {tag}\n")


def _unit_quote(arg: str) -> str:
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$") + '"'


def unit_files(root: Path, every: int, days: int) -> dict[str, str]:
    name = f"dvc-synced-{job_id(root)}"
    return {
        f"{name}.service": (
            "[Unit]\n"
            f"Description=dvc-synced background fetch for {root}\n\n"
            "[Service]\nType=oneshot\n"
            f"WorkingDirectory={root}\n"
            f"ExecStart={' '.join(_unit_quote(a) for a in job_args(every, days))}\n"
        ),
        f"{name}.timer": (
            "[Unit]\n"
            f"Description=dvc-synced background fetch for {root}, every {every} min\n\n"
            f"[Timer]\nOnActiveSec=1min\nOnUnitActiveSec={every}min\n\n"
            "[Install]\nWantedBy=timers.target\n"
        ),
    }


# ------------------------------------------------------------------------- backends


def _run(args: list[str], input: Optional[str] = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, input=input, text=True, capture_output=True, timeout=60,
                          stdin=None if input is not None else subprocess.DEVNULL)


def systemd_usable() -> bool:
    if not shutil.which("systemctl"):
        return False
    try:
        return _run(["systemctl", "--user", "show-environment"]).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def unit_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "systemd" / "user"


def read_crontab() -> Optional[str]:
    """The user's crontab, None when there is none."""
    proc = _run(["crontab", "-l"])
    if proc.returncode == 0:
        return proc.stdout
    if "no crontab" in proc.stderr.lower():
        return None
    raise SyncError(f"crontab -l failed ({proc.stderr.strip() or proc.returncode}): "
                    "check that cron is installed and you may use it (/etc/cron.allow)")


def write_crontab(text: Optional[str]) -> None:
    proc = _run(["crontab", "-r"]) if text is None else _run(["crontab", "-"], input=text)
    if proc.returncode != 0:
        raise SyncError(f"crontab failed ({proc.stderr.strip() or proc.returncode}): "
                        "your crontab is unchanged; check `crontab -l`")


def strip_block(text: str, root: Path) -> tuple[str, bool]:
    """`text` without our tagged lines for this clone; whether any were there."""
    tag = f"# dvc-synced {job_id(root)}"
    kept = [ln for ln in text.splitlines(keepends=True)
            if not (ln.startswith(f"{tag}:") or ln.rstrip("\n").endswith(f" {tag}"))]
    return "".join(kept), len(kept) != len(text.splitlines())


def _systemctl(*args: str) -> None:
    proc = _run(["systemctl", "--user", *args])
    if proc.returncode != 0:
        raise SyncError(f"systemctl --user {' '.join(args)} failed: "
                        f"{proc.stderr.strip() or proc.returncode}")


# ------------------------------------------------------------------------- state


@dataclass
class Installed:
    kind: str
    every: int
    days: int
    had_crontab: bool = True  # cron: whether a crontab existed before the first install
    made_dirs: tuple[str, ...] = ()  # systemd: directories install created

    @classmethod
    def load(cls, root: Path) -> Optional[Installed]:
        try:
            data = json.loads((_dir(root) / "schedule.json").read_text())
            return cls(data["kind"], int(data["every"]), int(data["days"]),
                       bool(data.get("had_crontab", True)), tuple(data.get("made_dirs", ())))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, root: Path) -> None:
        atomic_write(_dir(root) / "schedule.json", json.dumps(self.__dict__ | {
            "made_dirs": list(self.made_dirs)}) + "\n")


def install(root: Path, every: int, days: int) -> str:
    _check_path(root)
    config.load(root)  # a clone without settings would fail every run: say it now
    before = Installed.load(root)
    if systemd_usable():
        kind = SYSTEMD
        units = unit_files(root, every, days)
        made = []
        wants = unit_dir() / "timers.target.wants"  # `enable` makes it, `disable` leaves it
        for parent in [*reversed(unit_dir().parents), unit_dir(), wants]:
            if not parent.exists():
                made.append(str(parent))
        if before and before.kind == SYSTEMD:
            made = list(before.made_dirs)
        same = all((unit_dir() / n).is_file() and (unit_dir() / n).read_text() == t
                   for n, t in units.items())
        previous = {n: (unit_dir() / n).read_text() if (unit_dir() / n).is_file() else None
                    for n in units}
        try:
            for name, text in units.items():
                atomic_write(unit_dir() / name, text)
            _systemctl("daemon-reload")
            _systemctl("enable", "--now", f"dvc-synced-{job_id(root)}.timer")
        except (SyncError, OSError, subprocess.TimeoutExpired):
            for name, text in previous.items():  # leave the unit directory as it was
                if text is None:
                    (unit_dir() / name).unlink(missing_ok=True)
                else:
                    atomic_write(unit_dir() / name, text)
            for made_dir in sorted(made, key=len, reverse=True):
                with contextlib.suppress(OSError):
                    Path(made_dir).rmdir()
            raise
        state = Installed(kind, every, days, made_dirs=tuple(made))
    elif shutil.which("crontab"):
        kind = CRON
        current = read_crontab()
        lines = cron_lines(root, every, days)
        rest, _ = strip_block(current or "", root)
        same = current is not None and lines in current
        if not same:
            sep = "" if not rest or rest.endswith("\n") else "\n"
            write_crontab(rest + sep + lines)
        had = current is not None
        if before and before.kind == CRON:
            had = before.had_crontab
        state = Installed(kind, every, days, had_crontab=had)
    else:
        raise ConfigError(
            "neither `systemctl --user` works nor is crontab installed: install cron "
            "(`apt-get install cron`), or use a login with a systemd user session"
        )
    state.save(root)
    verb = "already installed" if same else "installed"
    return (f"background sync {verb}: {kind}, every {every} min, `git fetch` + "
            f"`dvc-synced fetch --recent {days}` (`dvc-synced schedule status` shows its runs)")


def remove(root: Path) -> str:
    state = Installed.load(root)
    removed: list[str] = []
    name = f"dvc-synced-{job_id(root)}"
    units = [unit_dir() / f"{name}.service", unit_dir() / f"{name}.timer"]
    if any(u.exists() for u in units):
        if shutil.which("systemctl"):
            subprocess.run(["systemctl", "--user", "disable", "--now", f"{name}.timer"],
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
        for unit in units:
            if unit.exists():
                unit.unlink()
        if shutil.which("systemctl"):
            subprocess.run(["systemctl", "--user", "daemon-reload"], capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        for made in sorted(state.made_dirs if state else (), key=len, reverse=True):
            with contextlib.suppress(OSError):
                Path(made).rmdir()  # only if empty: anything else there is not ours
        removed.append("systemd timer")
    if shutil.which("crontab"):
        current = read_crontab()
        if current is not None:
            rest, found = strip_block(current, root)
            if found:
                had = state.had_crontab if state and state.kind == CRON else True
                write_crontab(None if not rest and not had else rest)
                removed.append("crontab entry")
    (_dir(root) / "schedule.json").unlink(missing_ok=True)
    if not removed:
        return "no background sync is installed for this clone: nothing to remove"
    return f"background sync removed ({' and '.join(removed)})"


# ------------------------------------------------------------------------- the job


def log_line(root: Path, outcome: str, objects: int = 0, size: int = 0, seconds: float = 0.0,
             detail: str = "") -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    detail = " ".join(detail.split())[:300]
    line = (f"{stamp} {outcome} objects={objects} bytes={size} seconds={seconds:.1f}"
            + (f" {detail}" if detail else ""))
    path = log_path(root)
    try:
        lines = path.read_text().splitlines()[-(LOG_KEEP - 1):]
    except OSError:
        lines = []
    atomic_write(path, "\n".join([*lines, line]) + "\n")
    return line


def last_runs(root: Path, count: int = 5) -> list[str]:
    try:
        return log_path(root).read_text().splitlines()[-count:]
    except OSError:
        return []


def run_job(root: Path, every: int, days: int, lock_wait: float = LOCK_WAIT) -> int:
    """One run of the periodic job; returns its exit status (0 unless it failed)."""
    _dir(root).mkdir(parents=True, exist_ok=True)
    fd = os.open(_dir(root) / "schedule.lock", os.O_RDWR | os.O_CREAT, 0o664)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log_line(root, "skipped", detail="the previous run is still going")
            return 0
        return _run_locked(root, every, days, lock_wait)
    finally:
        os.close(fd)


def _run_locked(root: Path, every: int, days: int, lock_wait: float) -> int:
    backoff_file = _dir(root) / "schedule-backoff"
    failures, until = 0, 0.0
    try:
        failures_s, until_s = backoff_file.read_text().split()
        failures, until = int(failures_s), float(until_s)
    except (OSError, ValueError):
        pass
    now = time.time()
    if now < until:
        left = time.strftime("%H:%M:%SZ", time.gmtime(until))
        log_line(root, "skipped", detail=f"backing off after {failures} failure(s) until {left}")
        return 0
    start = time.monotonic()
    try:
        remote = remotes.upstream_remote(root)
        remotes.require_remote(root, remote)
        remotes.git_fetch(root, remote, timeout=300, detach=True)
        report = fetch.fetch(config.load(root), [], days, remote=remote, lock_timeout=lock_wait)
    except fetch.StorageBusy as exc:
        log_line(root, "skipped", seconds=time.monotonic() - start, detail=str(exc))
        return 0
    except (SyncError, OSError) as exc:  # OSError: a full disk, a vanished directory
        failures += 1
        delay = min(MAX_BACKOFF, every * 60 * 2 ** (failures - 1))
        atomic_write(backoff_file, f"{failures} {time.time() + delay}\n")
        log_line(root, "failed", seconds=time.monotonic() - start, detail=str(exc))
        return 1
    backoff_file.unlink(missing_ok=True)  # central answered: no reason to wait longer
    seconds = time.monotonic() - start
    check_upstreams(root)
    if report.problems:
        log_line(root, "partial", report.fetched, report.fetched_bytes, seconds,
                 f"{report.missing} object(s) not on central; {report.problems[0]}")
        return 1
    log_line(root, "ok", report.fetched, report.fetched_bytes, seconds)
    return 0


def check_upstreams(root: Path) -> None:
    """Imported data (`dvc-synced import-url`) is watched too: `update --check` of every
    import, one log line when an upstream changed. It never updates or commits: a new
    version is the user's to take, with `dvc-synced update --commit`."""
    if not importer.find_imports(root):
        return
    start = time.monotonic()
    try:
        results = importer.check(root, [])
    except (SyncError, OSError) as exc:
        log_line(root, "upstream-failed", seconds=time.monotonic() - start, detail=str(exc))
        return
    changed = [f"{r.path}: {r.diff.count} changed" for r in results if not r.diff.empty]
    if changed:
        log_line(root, "upstream-changed", seconds=time.monotonic() - start,
                 detail="; ".join(changed) + " (use dvc-synced update)")


# ------------------------------------------------------------------------- CLI


def status_lines(root: Path) -> list[str]:
    state = Installed.load(root)
    if state is None:
        head = "background sync: not installed (`dvc-synced schedule install` sets it up)"
    else:
        head = (f"background sync: installed ({state.kind}, every {state.every} min, "
                f"fetch --recent {state.days})")
        if not _still_there(root, state):
            head += (f"; but its {'crontab entry' if state.kind == CRON else 'timer'} is gone: "
                     "run `dvc-synced schedule install` again")
    runs = last_runs(root)
    if not runs:
        return [head, "no runs yet"]
    return [head, "last runs:", *(f"  {r}" for r in runs)]


def _still_there(root: Path, state: Installed) -> bool:
    if state.kind == SYSTEMD:
        return (unit_dir() / f"dvc-synced-{job_id(root)}.timer").is_file()
    try:
        return strip_block(read_crontab() or "", root)[1]
    except (OSError, SyncError, subprocess.TimeoutExpired):
        return True  # cannot tell: say nothing rather than something wrong


def last_run_summary(root: Path) -> Optional[str]:
    """One line about the newest run, for `dvc-synced status`; None if it never ran."""
    runs = last_runs(root, 1)
    if not runs:
        return None
    stamp, outcome, *rest = runs[0].split(" ")
    fields = dict(f.split("=", 1) for f in rest[:3] if "=" in f)
    detail = " ".join(rest[3:])
    if outcome not in ("ok", "partial"):
        return f"background sync: last run {stamp} {outcome}" + (f": {detail}" if detail else "")
    size = human_bytes(int(fields.get("bytes", "0") or 0))
    text = f"background sync: last run {stamp} {outcome}, {fields.get('objects', '0')} object(s)"
    return f"{text} ({size})" + (f": {detail}" if detail else "")
