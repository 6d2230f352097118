"""Counting wrappers for ssh and rclone: how many connections, sessions and processes a
command makes, for the benchmarks (issue #14) and the round-trip tests.

A wrapper is a small POSIX shell script (a Python one would add its own start-up to every
session it counts) that appends its arguments to a log and execs the real program. Give
the ssh one as `dvc-synced.ssh-command` (or DVC_SYNCED_SSH_COMMAND); put the rclone one's
directory first on PATH.

How an ssh call is classified, from the options our transport passes (rsync.SshSession):
`ControlMaster=yes` opens the connection (a handshake, no remote shell); `-O` talks to the
master (no network); `ControlMaster=no` is a session over the shared connection (a remote
shell starts); anything else is a connection and a session of its own.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Counts:
    connections: int = 0  # ssh handshakes
    sessions: int = 0  # remote commands run (each starts the server account's shell)
    controls: int = 0  # `ssh -O` requests to a master
    rclone: int = 0  # rclone processes

    def as_dict(self) -> dict[str, int]:
        return {"connections": self.connections, "sessions": self.sessions,
                "controls": self.controls, "rclone": self.rclone}


def _script(path: Path, log: Path, tag: str, real: Sequence[str]) -> None:
    path.write_text(
        "#!/bin/sh\n"
        f"# Written by tests.counting: log, then run {real[0]}.\n"
        f"printf '%s\\n' \"{tag} $*\" >> {shlex.quote(str(log))}\n"
        f"exec {' '.join(shlex.quote(a) for a in real)} \"$@\"\n"
    )
    path.chmod(0o755)


def ssh_wrapper(directory: Path, log: Path, real: Sequence[str] = ("ssh",)) -> str:
    """A counting ssh; returns the value for `ssh-command` (`real`: the ssh and its
    options, e.g. `ssh -F config`)."""
    directory.mkdir(parents=True, exist_ok=True)
    program = shutil.which(real[0]) or real[0]
    script = directory / "counting-ssh"
    _script(script, log, "ssh", [program, *real[1:]])
    return shlex.quote(str(script))


def rclone_wrapper(directory: Path, log: Path) -> Path:
    """A counting `rclone` in `directory`: put it first on PATH. Returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    here = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if Path(p).resolve() != directory.resolve())
    real = shutil.which("rclone", path=here)
    if real is None:
        raise FileNotFoundError("rclone is not on PATH: run scripts/setup.sh")
    _script(directory / "rclone", log, "rclone", [real])
    return directory


def classify(args: Sequence[str]) -> str:
    """'connection', 'session', 'control' or 'both' for one ssh call's arguments."""
    flat = " ".join(args)
    if "-O" in args:
        return "control"
    if "ControlMaster=yes" in flat or "-M" in args:
        return "connection"
    if "ControlMaster=no" in flat:
        return "session"
    return "both"


def read(log: Path) -> Counts:
    """What the wrappers logged so far (no log yet: nothing ran)."""
    try:
        lines = log.read_text().splitlines()
    except FileNotFoundError:
        return Counts()
    connections = sessions = controls = rclone = 0
    for line in lines:
        tag, _, rest = line.partition(" ")
        if tag == "rclone":
            rclone += 1
            continue
        kind = classify(rest.split())
        connections += kind in ("connection", "both")
        sessions += kind in ("session", "both")
        controls += kind == "control"
    return Counts(connections, sessions, controls, rclone)


def take(log: Path) -> Counts:
    """Read and clear: the counts of what ran since the last take."""
    counts = read(log)
    log.unlink(missing_ok=True)
    return counts
