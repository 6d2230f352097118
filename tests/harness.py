"""The one harness of the tests and the benchmarks: real git servers, real DVC clones,
a real sshd on loopback, moto S3.

The team itself (a bare server, teammates with own HOMEs and clones) is the package's
`sandbox.py`, which `dvc-synced demo` runs in too; this adds the servers and helpers only
tests and benchmarks need. The central storage is a directory, reached directly, over
ssh or by rclone. No pytest here: the benchmarks run without it (tests/conftest.py makes
the fixtures).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pty
import shutil
import socket
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from dvc_synced_plugin.sandbox import CommandFailed, Team, User, make_env, run  # noqa: F401


class Unavailable(Exception):
    """A server the harness needs is not installed on this machine."""


class PortTaken(RuntimeError):
    """A server we started did not come up on its port (most often: another test's server
    took the free port first, as parallel workers may); starting again on another helps."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, seconds: float, proc: subprocess.Popen, log: Path) -> None:
    """Until a server we started accepts on loopback; if it never does, kill it and say why."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
        except OSError:
            time.sleep(0.1)
            continue
        # Someone accepts; ours, unless another test's server took the port first (parallel
        # workers) and ours is exiting: then it is gone within a moment.
        time.sleep(0.05)
        if proc.poll() is None:
            return
    if proc.poll() is None:
        proc.kill()
    raise PortTaken(f"{proc.args[0]} did not start on port {port}: {log.read_text()}")


def tree_digest(path: Path) -> dict[str, str]:
    """relative path -> sha256 of every file below `path` (or of `path` itself)."""
    if path.is_file():
        return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()}
    result = {}
    for p in sorted(path.rglob("*")):
        if p.is_file():
            result[str(p.relative_to(path))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return result


def store_objects(root: Path) -> set[str]:
    """Object paths (files/md5/ab/cd..) in a DVC-layout store, ignoring our scratch dir."""
    if not root.exists():
        return set()
    return {
        str(p.relative_to(root)) for p in root.rglob("*")
        if p.is_file() and ".dvc-synced" not in p.relative_to(root).parts
    }


@dataclass
class Sshd:
    port: int
    host_alias: str  # a Host entry in the ssh config, as the seed's `dvc-server`
    ssh_config: Path
    client_key: Path
    proc: subprocess.Popen
    user: str
    log: Optional[Path] = None  # sshd's own log (-e): its LogLevel decides what is in it

    def ssh_command(self) -> str:
        return f"ssh -F {self.ssh_config}"

    def connections_seen(self) -> tuple[int, int]:
        """(accepted, dropped): TCP connections this sshd took on, and those it shed past
        MaxStartups, from its log. Needs log_level VERBOSE (accepted ones are logged
        there, "Connection from ..."; each drop is logged at INFO)."""
        text = self.log.read_text(errors="replace") if self.log else ""
        return (sum(line.startswith("Connection from ") for line in text.splitlines()),
                sum(line.startswith("drop connection #") for line in text.splitlines()))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def start_sshd(base: Path, authorized_for: Optional[list[str]] = None,
               max_startups: Optional[str] = "100:30:200", log_level: str = "ERROR") -> Sshd:
    """A real sshd on 127.0.0.1 with its own host key; root logs in with a fresh user key.

    `max_startups`: unauthenticated connections it takes on before shedding some; high
    by default so tests of other things never meet a shed connection. None: OpenSSH's
    default (10:30:100), as a new team's server has it.
    """
    sshd_bin = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.path.exists(sshd_bin):
        raise Unavailable("openssh-server is not installed")
    base.mkdir(parents=True, exist_ok=True)
    host_key = base / "host_ed25519"
    client_key = base / "client_ed25519"
    for key in (host_key, client_key):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], base)
    authorized = base / "authorized_keys"
    authorized.write_text(client_key.with_suffix(".pub").read_text())
    os.chmod(authorized, 0o600)
    for attempt in range(3):  # another worker's server may take the free port first
        try:
            return _sshd_on(free_port(), base, sshd_bin, host_key, client_key, authorized,
                            max_startups, log_level)
        except PortTaken:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _sshd_on(port: int, base: Path, sshd_bin: str, host_key: Path, client_key: Path,
             authorized: Path, max_startups: Optional[str], log_level: str) -> Sshd:
    config = base / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
        # The fixed file serves every account the sshd may read it as (the tests' root and
        # shared-group users); an account's own ~/.ssh/authorized_keys works too, as on a
        # real server (the benchmark's dedicated server account, benchmarks/accounts.py).
        f"AuthorizedKeysFile {authorized} .ssh/authorized_keys\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n"
        f"PidFile {base / 'sshd.pid'}\nLogLevel {log_level}\n"
        + (f"MaxStartups {max_startups}\n" if max_startups else "")
        + "MaxSessions 100\n"
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    with open(base / "sshd.log", "w") as log:  # the child keeps its own copy of the fd
        proc = subprocess.Popen([sshd_bin, "-D", "-e", "-f", str(config)],
                                stdout=subprocess.DEVNULL, stderr=log)
    known = base / "known_hosts"
    ssh_config = base / "ssh_config"
    user = os.environ.get("USER") or "root"
    ssh_config.write_text(
        "Host dvc-server\n  HostName 127.0.0.1\n"
        f"  Port {port}\n  User {user}\n  IdentityFile {client_key}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {known}\n  StrictHostKeyChecking accept-new\n"
        "  LogLevel ERROR\n"
    )
    wait_for_port(port, 15, proc, base / "sshd.log")
    return Sshd(port, "dvc-server", ssh_config, client_key, proc, user, base / "sshd.log")


# ------------------------------------------------------------------------------- S3 (moto)


@dataclass
class S3Server:
    endpoint: str
    proc: subprocess.Popen

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def start_moto(log: Path) -> S3Server:
    """moto's S3 server on a free loopback port."""
    # Installed beside this Python (the venv's bin), which need not be on PATH.
    exe = shutil.which("moto_server", path=os.pathsep.join(
        [os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    if not exe:
        raise Unavailable("moto[server] is not installed")
    for attempt in range(3):  # another worker's server may take the free port first
        port = free_port()
        with open(log, "w") as out:
            proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],
                                    stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, 30, proc, log)
        except PortTaken:
            if attempt == 2:
                raise
            continue
        return S3Server(f"http://127.0.0.1:{port}", proc)
    raise AssertionError("unreachable")


@dataclass
class RcloneServer:
    """`rclone serve webdav|sftp` of a directory on loopback: a stand-in for providers DVC
    lacks (HTTP APIs, plain sftp servers). `remote` is the rclone remote's settings."""

    kind: str
    root: Path
    port: int
    remote: dict[str, str]
    proc: subprocess.Popen

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def start_rclone_serve(kind: str, root: Path, work: Path) -> RcloneServer:
    """Serve `root` over `kind` (webdav or sftp) on a free loopback port. The sftp server
    takes one fresh key (written under `work`), as a real server takes a user's."""
    if shutil.which("rclone") is None:
        raise Unavailable("rclone is not installed")
    root.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = ["rclone", "serve", kind, "--addr", f"127.0.0.1:{port}"]
    remote: dict[str, str] = {}
    if kind == "webdav":
        remote = {"type": "webdav", "url": f"http://127.0.0.1:{port}/"}
    elif kind == "sftp":
        key = work / "client_ed25519"
        host_key = work / "host_ed25519"
        for path in (key, host_key):
            if not path.exists():
                run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], work)
        args += ["--key", str(host_key), "--authorized-keys", str(key.with_suffix(".pub"))]
        remote = {"type": "sftp", "host": "127.0.0.1", "port": str(port), "user": "dvc",
                  "key_file": str(key)}
    else:
        raise ValueError(f"rclone serves no {kind!r} here")
    log = work / f"serve-{kind}.log"
    env = {**os.environ, "RCLONE_CONFIG": "/dev/null"}
    with open(log, "w") as out:
        proc = subprocess.Popen([*args, str(root)], stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=work)
    wait_for_port(port, 15, proc, log)
    return RcloneServer(kind, root, port, remote, proc)


def rclone_env(name: str, settings: dict[str, str]) -> dict[str, str]:
    """An rclone remote defined through environment variables (no config file needed)."""
    env = {f"RCLONE_CONFIG_{name.upper()}_{k.upper()}": v for k, v in settings.items()}
    env["RCLONE_CONFIG"] = "/dev/null"
    return env


# ------------------------------------------------------------------------------- unit helpers


class GitRepo:
    """A throw-away git repository for unit tests: real git, isolated from the user's config."""

    def __init__(self, root: Path) -> None:
        self.root = root
        home = root.parent / f"{root.name}-home"
        home.mkdir(parents=True, exist_ok=True)
        self.env = make_env(home, {"GIT_AUTHOR_DATE": "2020-01-01T00:00:00Z",
                                   "GIT_COMMITTER_DATE": "2020-01-01T00:00:00Z"})
        run(["git", "init", "-q", "-b", "main", str(root)], root.parent, self.env)
        self.git("config", "user.name", "t")
        self.git("config", "user.email", "t@example.com")

    def git(self, *args: str, check: bool = True) -> str:
        return run(["git", *args], self.root, self.env, check=check).stdout.strip()

    def write(self, rel: str, data: bytes | str) -> str:
        """Write a file and return the blob id git gives it."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return self.git("hash-object", "--", rel)

    def commit(self, message: str, **files: bytes | str | None) -> str:
        """Commit after writing (or, for None, deleting) `files`; keys use `__` for `/`."""
        for key, data in files.items():
            rel = key.replace("__", "/")
            if data is None:
                self.git("rm", "-q", "--", rel)
            else:
                self.write(rel, data)
                self.git("add", "--", rel)
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


def on_terminal(args: list[str], cwd: Path, env: dict[str, str],
                controlling: bool = False) -> tuple[int, str]:
    """Run with a new pseudo-terminal as stdout and stderr, as at a shell; returns the exit
    status and what the terminal showed. `controlling`: also the process's controlling
    terminal (/dev/tty), which a hook run by pre-commit reaches its user through."""
    master, slave = pty.openpty()

    def take_terminal() -> None:  # in the child, after setsid: the pty becomes its tty
        fcntl.ioctl(2, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, start_new_session=controlling,
                            preexec_fn=take_terminal if controlling else None)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every holder of the terminal has gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(), b"".join(chunks).decode(errors="replace")
