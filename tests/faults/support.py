"""Helpers for the fault-injection tests (tests/faults/); this file holds no tests.

Faults are injected with real processes only: a wrapper `rsync` earlier on PATH that
records its pid and throttles the real one, rclone throttled through RCLONE_BWLIMIT,
SIGKILL of real process ids, a stopped sshd, a full tmpfs. Data is tracked by writing
what `dvc add` writes (the cache object and the .dvc file) so the slow tests stay fast.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import termios
import time
from pathlib import Path
from typing import Callable, Optional

from tests.conftest import User

OBJECT_RE = re.compile(r"^(files/md5/)?[0-9a-f]{2}/[0-9a-f]{30}(\.dir)?$")
REAL_RSYNC = shutil.which("rsync") or "/usr/bin/rsync"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def object_path(oid: str) -> str:
    return f"files/md5/{oid[:2]}/{oid[2:]}"


def track(user: User, files: dict[str, bytes]) -> dict[str, str]:
    """Write files into the workspace and track each as `dvc add` does; path -> relpath.

    The cache object (read-only, like DVC's) and a `.dvc` pointer with `hash: md5`.
    """
    cache = user.repo / ".dvc" / "cache"
    result = {}
    for rel, data in files.items():
        oid = md5(data)
        user.write(rel, data)
        obj = cache / object_path(oid)
        if not obj.exists():
            obj.parent.mkdir(parents=True, exist_ok=True)
            tmp = obj.with_name(obj.name + ".tmp")
            tmp.write_bytes(data)
            os.chmod(tmp, 0o444)
            os.replace(tmp, obj)
        name = rel.rsplit("/", 1)[-1]
        user.write(f"{rel}.dvc", f"outs:\n- md5: {oid}\n  size: {len(data)}\n  hash: md5\n"
                                 f"  path: {name}\n")
        ignore = (user.repo / rel).parent / ".gitignore"
        lines = ignore.read_text().splitlines() if ignore.exists() else []
        if f"/{name}" not in lines:
            ignore.write_text("".join(f"{ln}\n" for ln in [*lines, f"/{name}"]))
        result[rel] = object_path(oid)
    return result


def commit(user: User, message: str) -> str:
    user.git("add", "-A")
    user.git("commit", "-q", "-m", message)
    return user.git("rev-parse", "HEAD").stdout.strip()


def server_ref(user: User, ref: str = "refs/heads/main") -> str:
    out = user.git("ls-remote", "origin", ref).stdout.split()
    return out[0] if out else ""


def scan_store(root: Path) -> tuple[dict[str, int], list[str], list[str]]:
    """(sound objects: relpath -> inode, corrupt final names, other files in object dirs).

    A file under an object's final name must hash to that name; anything else in the
    object directories must be a hidden temporary name, never a final one.
    """
    sound: dict[str, int] = {}
    corrupt: list[str] = []
    other: list[str] = []
    if not root.exists():
        return sound, corrupt, other
    for path in root.rglob("*"):
        rel = str(path.relative_to(root))
        if ".dvc-synced" in path.relative_to(root).parts or not path.is_file():
            continue
        if OBJECT_RE.match(rel):
            oid = rel.replace("files/md5/", "").replace("/", "")
            want = oid[:-4] if oid.endswith(".dir") else oid
            if md5(path.read_bytes()) == want:
                sound[rel] = path.stat().st_ino
            else:
                corrupt.append(rel)
        else:
            other.append(rel)
    return sound, corrupt, other


def assert_sound(root: Path) -> dict[str, int]:
    """No truncated or foreign bytes under a final object name; returns relpath -> inode."""
    sound, corrupt, other = scan_store(root)
    assert not corrupt, f"objects under their final name with wrong bytes in {root}: {corrupt}"
    bad_temp = [o for o in other if not o.rsplit("/", 1)[-1].startswith(".")]
    assert not bad_temp, f"non-object files in object dirs of {root}: {bad_temp}"
    return sound


def wait_for(pred: Callable[[], object], timeout: float, what: str, step: float = 0.02) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Throttle:
    """A `rsync` wrapper earlier on PATH: records each real rsync's pid and throttles it.

    `exec` keeps the pid, so the recorded pid is the real rsync client; killing it is
    what a crash or a dropped connection does to a transfer.
    """

    def __init__(self, base: Path, kbps: int) -> None:
        self.dir = base / "throttle-bin"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.pids = self.dir / "pids"
        script = self.dir / "rsync"
        script.write_text(
            "#!/bin/sh\n"
            f"echo $$ >> '{self.pids}'\n"
            f"exec '{REAL_RSYNC}' --bwlimit={kbps} \"$@\"\n"
        )
        os.chmod(script, 0o755)

    def env(self, base_env: dict[str, str]) -> dict[str, str]:
        return {**base_env, "PATH": f"{self.dir}:{base_env.get('PATH', os.defpath)}"}

    def running(self) -> list[int]:
        if not self.pids.exists():
            return []
        return [int(p) for p in self.pids.read_text().split() if alive(int(p))]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fobj:
            return fobj.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc), to kill exactly what a test started."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as fobj:
                    kids = [int(k) for k in fobj.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def kill(pids: list[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def kill_tree(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """SIGKILL a command and everything it started, as a crash or `kill -9` would."""
    kill([proc.pid, *children(proc.pid)], sig)
    proc.wait(timeout=30)


def reap_ssh_masters(marker: str) -> None:
    """Kill ssh master connections that a killed command left (their cmdline has `marker`)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmd and "ControlMaster=yes" in cmd:
            kill([int(entry)])


def run_with_tty(args: list[str], cwd: Path, env: dict[str, str], timeout: float,
                 input_bytes: Optional[bytes] = None) -> tuple[int, str, float]:
    """Run with a pseudo-terminal as controlling tty, so any prompt would block.

    ssh and rclone read passwords and host-key answers from /dev/tty: without one a
    test would pass even if they tried to prompt. A run that outlives `timeout` is
    killed and reported as a hang (rc None -> -999).
    """
    master, slave = os.openpty()

    def preexec() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    start = time.monotonic()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                            preexec_fn=preexec, close_fds=True)
    os.close(slave)
    out = b""
    rc: Optional[int] = None
    os.set_blocking(master, False)
    while True:
        try:
            chunk = os.read(master, 65536)
            out += chunk
        except BlockingIOError:
            pass
        except OSError:
            pass
        rc = proc.poll()
        if rc is not None:
            break
        if time.monotonic() - start > timeout:
            kill_tree(proc)
            rc = -999
            break
        time.sleep(0.05)
    try:
        while chunk := os.read(master, 65536):
            out += chunk
    except OSError:
        pass
    os.close(master)
    return rc, out.decode(errors="replace"), time.monotonic() - start


def synced_cmd(*args: str) -> list[str]:
    import sys

    return [sys.executable, "-m", "dvc_synced_plugin", *args]
