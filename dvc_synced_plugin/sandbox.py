"""A throwaway team on this machine: a bare git server and teammates, each with an own
HOME (so an own git identity and local storage, as on two machines) and a clone.

`dvc-synced demo` runs in one; the test suite and the benchmarks build on it (their
harness adds sshd, moto and the rest). Only the standard library and subprocesses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


class CommandFailed(AssertionError):
    """A command of the harness failed; its output is in the message."""


def run(args: list[str], cwd: Path | str, env: Optional[dict[str, str]] = None,
        check: bool = True, input: Optional[str | bytes] = None,
        text: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env, input=input, text=text, capture_output=True)
    if check and proc.returncode != 0:
        out, err = (proc.stdout, proc.stderr) if text else (
            b.decode(errors="replace")[-2000:] for b in (proc.stdout, proc.stderr))
        raise CommandFailed(
            f"{args} failed ({proc.returncode}) in {cwd}\nstdout:\n{out}\nstderr:\n{err}")
    return proc


@dataclass
class User:
    """One teammate: an own HOME (so own local storage and git identity) and a clone."""

    name: str
    home: Path
    repo: Path
    env: dict[str, str] = field(default_factory=dict)
    text = True  # outputs as str (the benchmarks take bytes)

    def run(self, *args: str, check: bool = True, input: Optional[str | bytes] = None,
            cwd: Optional[Path] = None, env: Optional[dict[str, str]] = None
            ) -> subprocess.CompletedProcess:
        return run(list(args), cwd or self.repo, env=env or self.env, check=check, input=input,
                   text=self.text)

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("git", *args, check=check)

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "dvc", *args, check=check)

    def synced(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "dvc_synced_plugin", *args, check=check)

    def write(self, rel: str, data: bytes | str) -> Path:
        path = self.repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            os.chmod(path, 0o644)
            path.unlink()
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def local_storage(self) -> Path:
        out = self.dvc("config", "--local", "remote.synced-storage.url", check=False)
        return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else Path(
            "/nonexistent")


def make_env(home: Path, extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_", "DVC_SYNCED_", "PRE_COMMIT"))}
    # The tools of this venv (dvc, pre-commit, dvc-synced) come first on PATH, as they do
    # for a user who installed them: DVC's own hooks run a bare `dvc`.
    venv_bin = os.path.dirname(sys.executable)
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin]
    env.update({
        "PATH": os.pathsep.join([venv_bin, *path]),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(home / ".dvc-site-cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


class Team:
    """A bare git server, a central storage and any number of teammates' clones."""

    def __init__(self, base: Path, central: str, transport: str = "rsync",
                 extra_env: Optional[dict[str, str]] = None) -> None:
        self.base = base
        self.server = base / "server.git"
        self.central = central
        self.transport = transport
        self.extra_env = extra_env or {}
        run(["git", "init", "-q", "--bare", "-b", "main", str(self.server)], base)
        self.users: dict[str, User] = {}

    def user(self, name: str) -> User:
        if name in self.users:
            return self.users[name]
        home = self.base / f"home-{name}"
        home.mkdir()
        env = make_env(home, self.extra_env)
        run(["git", "config", "--global", "user.name", name], home, env)
        run(["git", "config", "--global", "user.email", f"{name}@example.com"], home, env)
        run(["git", "config", "--global", "init.defaultBranch", "main"], home, env)
        run(["git", "config", "--global", "advice.detachedHead", "false"], home, env)
        run(["git", "config", "--global", "pull.rebase", "false"], home, env)
        repo = self.base / name
        run(["git", "clone", "-q", str(self.server), str(repo)], self.base, env)
        user = User(name, home, repo, env)
        self.users[name] = user
        return user

    def founder(self, name: str = "alice") -> User:
        """The first teammate: dvc init, dvc-synced init, first commit pushed (no data yet)."""
        user = self.user(name)
        user.dvc("init", "-q")
        user.synced("init", "--central", self.central, "--transport", self.transport)
        user.git("add", "-A")
        user.git("commit", "-q", "-m", "Set up DVC and dvc-synced")
        user.git("push", "-q", "origin", "main")
        return user
