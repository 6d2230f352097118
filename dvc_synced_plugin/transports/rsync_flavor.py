"""Which rsync is on PATH, and which of the options the rsync transport uses it has.

macOS ships rsync 2.6.9 (up to 14) or openrsync (15.4 on); neither has `--info` nor
`--ignore-missing-args` (both rsync 3.1.0). The transport keeps its guarantees with
either (see rsync.py); what it cannot do with an rsync is refused with the fix.

Detection runs `rsync --version` once per process (about 3 ms here), cached by the
binary's path, mtime and size, so a swapped binary is seen by the next command.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Optional

from dvc_synced_plugin.errors import ConfigError

OLDEST = (2, 6, 9)  # --out-format, --chmod, --partial-dir, --no-implied-dirs, --files-from
# Characters a remote shell passes through unchanged: an rsync that does not quote remote
# arguments itself (below 3.2.4, openrsync) hands the path to the shell as typed.
_SHELL_SAFE = re.compile(r"^[A-Za-z0-9_./+@%=:,~-]+$")

_RSYNC_RE = re.compile(r"^rsync\s+version\s+v?(\d+)\.(\d+)\.(\d+)\S*\s+protocol version (\d+)")
_OPEN_RE = re.compile(r"^openrsync:\s+protocol version (\d+)")
_COMPAT_RE = re.compile(r"rsync version (\d+)\.(\d+)\.(\d+)\S* compatible")


def install_hint() -> str:
    """How to get rsync 3 on this machine, for the end of a one-line message."""
    if sys.platform == "darwin":
        return ("install rsync 3 (`brew install rsync`, then put /opt/homebrew/bin first on "
                "PATH) and run the command again")
    return "install rsync 3 (apt-get install rsync) and run the command again"


@dataclass(frozen=True)
class Flavor:
    """One rsync binary: what it is and which options it takes."""

    path: str
    kind: str  # "rsync" (samba rsync) or "openrsync"
    version: tuple[int, int, int]  # openrsync: the rsync version it claims to match
    protocol: int

    @property
    def label(self) -> str:
        if self.kind == "openrsync":
            compat = ".".join(map(str, self.version))
            return f"openrsync (protocol {self.protocol}, rsync {compat} compatible)"
        return f"rsync {'.'.join(map(str, self.version))} (protocol {self.protocol})"

    @property
    def _modern(self) -> bool:
        return self.kind == "rsync" and self.version >= (3, 1, 0)

    @property
    def ignore_missing_args(self) -> bool:
        return self._modern

    @property
    def progress_option(self) -> str:
        """Whole-transfer progress where the rsync has it, else per-file progress.

        `--progress` alone is not `-P`: it does not imply `--partial`.
        """
        return "--info=progress2" if self._modern else "--progress"

    @property
    def chmod_readonly(self) -> str:
        """--chmod value that makes sent files 0444; octal modes arrived in rsync 3.1.0
        (2.6.9 refuses `F444`), and `a=r` alone keeps a setgid bit on 2.6.9."""
        return "F444" if self._modern else "Fa=r,Fug-s,F-t"

    def upload_modes(self) -> list[str]:
        """Options that make new objects 0444 and new dirs group-writable, and leave
        existing directories (a teammate's) untouched.

        At protocol 30 on: `--no-implied-dirs`, so no directory is sent at all. At
        protocol 29 (2.6.9, openrsync) an rsync 3 receiver aborts on a nested path whose
        directories were not sent ("invalid path from sender"), so the directories are
        sent, and neither their times (-O) nor their modes (no --perms) are applied to
        existing ones. Without --perms the receiver gives new files and dirs the
        --chmod'ed mode masked by its umask (002): 0444 and 0775.
        """
        if self.protocol >= 30:
            return ["--no-implied-dirs", "--perms", f"--chmod={self.chmod_readonly}"]
        return ["--omit-dir-times", f"--chmod={self.chmod_readonly},Dug=rwx,Do=rx"]

    @property
    def quotes_remote_args(self) -> bool:
        """rsync 3.2.4 on escapes remote paths for the remote shell by default."""
        return self.kind == "rsync" and self.version >= (3, 2, 4)

    def problem(self) -> Optional[str]:
        """Why this rsync cannot keep the guarantees, with the fix; None when it can."""
        if self.kind == "rsync" and self.version < OLDEST:
            return (f"{self.label} at {self.path} is too old for dvc-synced (it needs "
                    f"--out-format, --chmod and --partial-dir): {install_hint()}")
        return None

    def check_remote_path(self, path: str) -> None:
        """Refuse a remote path this rsync would hand to the remote shell unquoted."""
        if self.quotes_remote_args or _SHELL_SAFE.match(path):
            return
        raise ConfigError(
            f"central path {path!r} has characters the remote shell would interpret, and "
            f"{self.label} does not quote them: use a path of letters, digits and ._-/ "
            f"only, or {install_hint()}"
        )

    def note(self) -> str:
        """What `doctor` says about this rsync when it is good enough."""
        if self._modern:
            return f"{self.label} at {self.path}: good"
        return (f"{self.label} at {self.path}: good enough (per-file progress, and a "
                "central path over ssh must be plain; rsync 3 has neither limit)")


def parse_version(path: str, text: str) -> Flavor:
    """A Flavor from `rsync --version` output; ConfigError when it is no rsync we know."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    m = _OPEN_RE.match(first)
    if m:
        c = _COMPAT_RE.search(text)
        version = (int(c[1]), int(c[2]), int(c[3])) if c else OLDEST
        return Flavor(path, "openrsync", version, int(m[1]))
    m = _RSYNC_RE.match(first)
    if m:
        return Flavor(path, "rsync", (int(m[1]), int(m[2]), int(m[3])), int(m[4]))
    raise ConfigError(
        f"{path} answers `--version` with {first[:60]!r}, which is no rsync dvc-synced "
        f"knows: {install_hint()}"
    )


_cache: dict[tuple[str, int, int], Flavor] = {}


def detect(path: Optional[str] = None) -> Flavor:
    """The rsync first on PATH (or at `path`), asked once per process and binary."""
    found = path or shutil.which("rsync")
    if not found:
        raise ConfigError("rsync is not installed: install it (apt-get install rsync)")
    found = os.path.abspath(found)
    try:
        st = os.stat(found)
    except OSError as exc:
        raise ConfigError(f"rsync at {found} cannot be run ({exc.strerror}): "
                          f"{install_hint()}") from None
    key = (found, st.st_mtime_ns, st.st_size)
    if key in _cache:
        return _cache[key]
    try:
        proc = subprocess.run([found, "--version"], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"rsync at {found} cannot be run ({exc}): {install_hint()}") from None
    text = proc.stdout.decode(errors="replace")
    if proc.returncode != 0 and not text.strip():
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ConfigError(
            f"`{found} --version` failed ({detail[-1] if detail else proc.returncode}): "
            f"{install_hint()}"
        )
    flavor = parse_version(found, text)
    _cache[key] = flavor
    return flavor
