"""Upload at commit time (`dvc-synced.upload-on-commit`): post-commit starts a background
job that puts the data of unpushed commits on central, so `git push` only confirms.

- The hook returns at once: the job runs in a session of its own (no terminal, so closing
  one sends it no SIGHUP), stdin from /dev/null, its output in `<git-dir>/dvc-synced/
  upload.log`, live progress in `upload.progress`.
- One job at a time: each hook appends its commit to `upload.todo` and starts a job only
  when none holds `upload.lock`; the running job takes the list again until it is empty
  (it looks once more after letting go of the lock, so no commit is missed).
- The job runs the push's own upload (`flows.push_changes`: storage lock, nothing replaced
  on central, verified) over the pointer changes of commits no remote-tracking ref has;
  commits it finished are remembered, so an amended or rebased commit sends only what is
  new (what is already on central is skipped by the upload itself).
- `upload.json` says what the job does or did: pid, commit, start, result. `status` shows
  it; a failure is told once, by the next hook or push, which then retries it.
- `git push` still checks central itself (promise 1 does not rest on this file): it waits
  for a running job, showing its progress, then pushes as always, which moves nothing when
  the job finished and uploads the rest when it died.

Import-light: post-commit reads the setting here on its fast path; config, flows (dvc,
yaml, sh) are imported only by the job and the push.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.fs import atomic_write
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.output import progress_note, progress_to, say
from dvc_synced_plugin.settings import SECTION, TEAM_FILE, parse_bool
from dvc_synced_plugin.storage.memo import CommitMemo

KEY = "upload-on-commit"
ENV = "DVC_SYNCED_UPLOAD_ON_COMMIT"
LOG_KEEP = 256 << 10  # bytes of upload.log kept when a job starts
WAIT_NOTE_EVERY = 5.0  # seconds between the progress lines of a push that waits


def _dir(root: Path) -> Path:
    return gitinfo.state_dir(root)


def state_file(root: Path) -> Path:
    return _dir(root) / "upload.json"


def log_file(root: Path) -> Path:
    return _dir(root) / "upload.log"


def _todo(root: Path) -> Path:
    return _dir(root) / "upload.todo"


def _lock(root: Path) -> Path:
    return _dir(root) / "upload.lock"


def _progress(root: Path) -> Path:
    return _dir(root) / "upload.progress"


# ------------------------------------------------------------------------- the setting


def enabled(root: Path, env: Optional[dict[str, str]] = None) -> bool:
    """The setting, with config.load's precedence (environment, git config, team file), in
    one git call (two when the team file names the key), without the transport registry.
    A value that is no boolean counts as off here; `config.load` names it as an error."""
    env = os.environ if env is None else env
    if ENV in env:
        return _bool(env[ENV])
    name = f"{SECTION}.{KEY}"
    proc = subprocess.run(["git", "config", "--get", name], cwd=root, capture_output=True)
    if proc.returncode == 0:
        return _bool(proc.stdout.decode(errors="replace"))
    try:  # `config.load` reads the team file without includes: absent here, not set
        if KEY not in (root / TEAM_FILE).read_text(errors="replace").lower():
            return False
    except OSError:
        return False
    proc = subprocess.run(["git", "config", "--file", TEAM_FILE, "--get", name], cwd=root,
                          capture_output=True)
    return proc.returncode == 0 and _bool(proc.stdout.decode(errors="replace"))


def _bool(text: str) -> bool:
    try:
        return parse_bool(text)
    except ValueError:
        return False


# ------------------------------------------------------------------------- the state


def read_state(root: Path) -> dict[str, Any]:
    try:
        data = json.loads(state_file(root).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_state(root: Path, **fields: Any) -> dict[str, Any]:
    state = {**read_state(root), **fields}
    atomic_write(state_file(root), json.dumps(state, indent=1) + "\n")
    return state


def running(root: Path) -> bool:
    """Whether a job holds the job lock now (the kernel drops it when the job dies)."""
    try:
        fd = os.open(_lock(root), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also lets go of a lock taken just now
    return False


def outcome(root: Path) -> dict[str, Any]:
    """The state, with a job that is recorded as running but holds no lock any more (it was
    killed, or the machine went down) called "died"."""
    state = read_state(root)
    if state.get("result") == "running" and not running(root):
        state["result"] = "died"
    return state


def status_line(root: Path) -> Optional[str]:
    """One line for `dvc-synced status`; None when no upload ever ran here."""
    state = outcome(root)
    result = state.get("result")
    if not result:
        return None
    commit = str(state.get("commit", ""))[:10]
    started = float(state.get("started", 0) or 0)
    when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(started))
    if result == "running":
        return (f"upload on commit: running for {time.time() - started:.0f}s "
                f"(pid {state.get('pid')}, commit {commit}; log {log_file(root)})")
    if result == "ok":
        return f"upload on commit: {commit} done at {when}: {state.get('summary', '')}"
    if result == "died":
        return (f"upload on commit: the job for {commit} (pid {state.get('pid')}, started "
                f"{when}) stopped before it finished: the next commit or `git push` uploads "
                "the rest")
    return (f"upload on commit: {commit} failed at {when}: {state.get('message', '')} "
            f"(retried by the next commit or `git push`; log {log_file(root)})")


def tell_failure_once(root: Path, doing: str) -> None:
    """A failed or dead job is told once (by the next hook or push); `doing` says what
    happens now. Later hooks stay quiet; `status` keeps showing it."""
    state = outcome(root)
    if state.get("reported") or state.get("result") not in ("failed", "died"):
        return
    commit = str(state.get("commit", ""))[:10]
    if state["result"] == "failed":
        say(f"the background upload of {commit} failed: {state.get('message', '')}; {doing}")
    else:
        say(f"the background upload of {commit} (pid {state.get('pid')}) stopped before it "
            f"finished; {doing}")
    with contextlib.suppress(OSError):
        _write_state(root, reported=True)


# ------------------------------------------------------------------------- the hook side


def start(root: Path, commit: str) -> None:
    """Queue `commit` and start a job unless one runs (that one takes the queue next)."""
    directory = _dir(root)
    directory.mkdir(parents=True, exist_ok=True)
    tell_failure_once(root, "uploading again in the background")
    with open(_todo(root), "a", encoding="ascii") as todo:  # one short line: atomic append
        todo.write(f"{commit}\n")
    if running(root):
        return
    log = open(log_file(root), "ab")  # noqa: SIM115 - handed to the job, closed below
    try:
        env = {k: v for k, v in os.environ.items()
               if k not in ("GIT_INDEX_FILE", "PRE_COMMIT") and not k.startswith("PRE_COMMIT_")}
        subprocess.Popen(
            [sys.executable, "-m", "dvc_synced_plugin.hooks.upload", str(root)],
            cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True)
    finally:
        log.close()


# ------------------------------------------------------------------------- the job


def _take_todo(root: Path) -> list[str]:
    """The queued commits, taken (a hook appending meanwhile writes to a new file)."""
    taken = _todo(root).with_name(f"upload.todo.{os.getpid()}")
    try:
        os.replace(_todo(root), taken)
    except FileNotFoundError:
        return []
    try:
        return list(dict.fromkeys(taken.read_text(encoding="ascii", errors="replace").split()))
    finally:
        taken.unlink(missing_ok=True)


@contextlib.contextmanager
def _job_lock(root: Path) -> Iterator[bool]:
    fd = os.open(_lock(root), os.O_RDWR | os.O_CREAT, 0o664)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _trim_log(root: Path) -> None:
    path = log_file(root)
    with contextlib.suppress(OSError):
        if path.stat().st_size > LOG_KEEP:
            data = path.read_bytes()[-LOG_KEEP // 2:]
            atomic_write(path, data[data.find(b"\n") + 1:])


def run_job(root: Path) -> int:
    """The background job: upload what the queue names until it stays empty."""
    status = 0
    while True:
        with _job_lock(root) as mine:
            if not mine:
                return status  # another job runs: it takes the queue
            _trim_log(root)
            while True:
                tips = _take_todo(root)
                if not tips:
                    break
                status = _upload_once(root, tips)
        # A hook that queued a commit while we were letting go saw the lock held and
        # started no job: look once more.
        if not _todo(root).exists():
            return status


def _upload_once(root: Path, tips: list[str]) -> int:
    retry = [str(c) for c in read_state(root).get("retry", [])]
    queued = list(dict.fromkeys(retry + tips))  # oldest first: the last is the newest
    known = set(gitinfo.known_commits(root, queued))  # an amended-away one may be gone
    tips = [c for c in queued if c in known]
    head = tips[-1] if tips else ""
    _write_state(root, result="running", pid=os.getpid(), commit=head, started=time.time(),
                 finished=None, reported=False, message="", summary="", retry=tips)
    print(time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
          f"upload of {head[:10]} started (pid {os.getpid()})", flush=True)
    progress = open(_progress(root), "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        progress_to(progress)
        summary = upload(root, tips)
    except (SyncError, OSError) as exc:  # OSError: a full disk, a vanished directory
        _write_state(root, result="failed", message=str(exc), finished=time.time())
        print(f"upload of {head[:10]} failed: {exc}", flush=True)
        return 1
    except KeyboardInterrupt as exc:  # SIGTERM: unwound, nothing half-written
        _write_state(root, result="failed", message=f"stopped ({exc or 'SIGINT'})",
                     finished=time.time())
        print(f"upload of {head[:10]} stopped ({exc or 'SIGINT'})", flush=True)
        raise
    finally:
        progress_to(None)
        progress.close()
    _write_state(root, result="ok", summary=summary, finished=time.time(), retry=[])
    print(f"upload of {head[:10]}: {summary}", flush=True)
    return 0


def uploaded_memo(root: Path, central: str) -> CommitMemo:
    """Commits whose data a job put on central (narrows the next job, never the push)."""
    return CommitMemo(_dir(root) / "uploaded-on-commit", f"central {central}")


def upload(root: Path, tips: list[str]) -> str:
    """Put the data of the commits reachable from `tips` that no remote-tracking ref has
    (and no earlier job finished) on central; returns the summary line."""
    # here: the settings' registry and the flows (dvc, yaml, sh) stay off the fast path
    from dvc_synced_plugin import config  # here: off the fast path (see above)
    from dvc_synced_plugin.sync import flows  # here: loads dvc, yaml, sh; off the fast path

    settings = config.load(root)
    done = uploaded_memo(root, settings.central)
    changes = [c for c in gitinfo.changes_in_commits(root, tips, exclude_remote="*")
               if c.commit not in done.known]
    if not changes:
        return "nothing new to upload"
    report = flows.push_changes(settings, changes)
    done.add(sorted({c.commit for c in changes if c.commit}))
    return report.line("uploaded", "to")


# ------------------------------------------------------------------------- the push side


def before_push(root: Path, poll: float = 0.2) -> None:
    """Called by pre-push before it uploads: wait for a running job (its progress shown),
    then tell once what a failed or dead one left. The push then checks central itself."""
    if running(root):
        state = read_state(root)
        commit = str(state.get("commit", ""))[:10]
        say(f"waiting for the background upload of {commit} (pid {state.get('pid')}); "
            "the push then confirms central has everything")
        last = time.monotonic()
        while running(root):
            time.sleep(poll)
            if time.monotonic() - last >= WAIT_NOTE_EVERY:
                last = time.monotonic()
                progress_note(f"background upload: {_last_progress(root) or 'working'}")
        done = outcome(root)
        if done.get("result") == "ok":
            say(f"background upload finished: {done.get('summary', '')}")
    tell_failure_once(root, "this push uploads it")


def _last_progress(root: Path) -> str:
    """The newest progress segment the job wrote (rsync's or rclone's own line)."""
    try:
        with open(_progress(root), "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            tail = f.read().decode(errors="replace")
    except OSError:
        return ""
    parts = [p.strip() for p in tail.replace("\r", "\n").split("\n") if p.strip()]
    return parts[-1][:120] if parts else ""


def main(argv: list[str]) -> int:
    """`python -m dvc_synced_plugin.hooks.upload ROOT`: the job post-commit starts."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # no terminal; never stopped by one closing

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)
    try:
        return run_job(Path(argv[0]))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
