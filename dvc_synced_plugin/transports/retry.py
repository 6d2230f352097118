"""Retrying what is transient, and only that: the one retry policy of every transport.

A busy sshd sheds unauthenticated connections beyond `MaxStartups` (OpenSSH's default
10:30:100 drops some from the 11th at once), a restarting server refuses for a moment, an
rclone backend reports an error it calls retryable. The same server answers a second
later, so giving up on the first reset turns a busy server into a failed CI run.

What counts as transient is read from the tool's own stderr, with the strings OpenSSH 9.2,
rsync 3.5 and rclone 1.60 print (collected against a real sshd; the unit tests hold them).
A failure that is not recognised fails at once, as before; a failure that names a
permanent cause (an authentication refusal, an unknown host or host key, a missing path)
fails at once even when a transient line comes with it. Only failures before anything was
written are retried (ssh's connection set-up, rsync with 0 bytes received, rclone failing
to create its remote), or ones rclone itself calls retryable (its exit 5): the transports'
no-replace rules keep a repeated upload harmless either way.

Each retry shows on the user's terminal beside the transfer progress, and the command's
summary line counts them ("..., 2 retries"); scripts and CI see the count only.

Backoff is exponential with jitter (half fixed, half random, so a fleet shed at the same
moment comes back spread out), and a step's retries end `timeout` seconds (the setting)
after its first failure.
"""

from __future__ import annotations

import random
import re
import threading
import time
from typing import Callable, Optional, TypeVar

from dvc_synced_plugin import output
from dvc_synced_plugin.errors import SyncError

T = TypeVar("T")

# Causes no retry can fix: the user must act (a key, a host name, a path, a config).
_PERMANENT = re.compile(
    r"Permission denied"  # ssh: `root@host: Permission denied (publickey).`
    r"|Too many authentication failures"
    r"|Could not resolve hostname|Name or service not known|nodename nor servname"
    r"|no such host"  # rclone: `dial tcp: lookup HOST on ...: no such host`
    r"|Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED"
    r"|unable to authenticate"  # rclone: `ssh: unable to authenticate, attempted methods`
    r"|No such file or directory|directory not found"
    r"|didn't find section in config file"  # rclone: an undefined remote
    r"|command not found",  # no rsync on the server
)

# ssh's own lines for a connection that ended before authentication.
_SSH_TRANSIENT = re.compile(
    # sshd shedding load (MaxStartups), or closing before it sent its banner; the
    # `ssh_exchange_identification` spelling is OpenSSH before 8.0.
    r"(?:kex|ssh)_exchange_identification: (?:read: Connection reset by peer"
    r"|Connection closed by remote host)"
    r"|connect to host \S+ port \d+: Connection refused"
    # at LogLevel INFO (ssh's default) the same events also end in this line
    r"|^Connection (?:closed|reset) by \S+ port \d+\s*$",
    re.MULTILINE,
)

# rclone (Go's net and x/crypto/ssh) for the same events; and its integrity check when
# one side's hash is empty: over sftp that is the remote `md5sum` session that gave no
# output (seen with 16 pulls at once against a default sshd), not bytes that differ.
_RCLONE_TRANSIENT = re.compile(
    r"connect: connection refused"
    r"|ssh: handshake failed: (?:EOF|.*connection reset by peer)"
    r'|corrupted on transfer: \w+ hash differ (?:"" vs "\w+"|"\w+" vs "")',
)

RCLONE_RETRYABLE_EXIT = 5  # rclone's own "temporary error (one that more retries might fix)"
_RSYNC_NOTHING_SENT = "(0 bytes received so far)"


def _cause(text: str, pattern: re.Pattern[str]) -> Optional[str]:
    """The line that shows `pattern`, unless a permanent cause is named anywhere."""
    if _PERMANENT.search(text):
        return None
    for line in text.splitlines():
        if pattern.search(line.strip()):
            return line.strip()
    return None


def ssh_cause(stderr: str) -> Optional[str]:
    """The transient cause of a failed `ssh` connection set-up, or None: fail at once."""
    return _cause(stderr, _SSH_TRANSIENT)


def rsync_cause(stderr: str, exit_code: int) -> Optional[str]:
    """The transient cause of a failed rsync over ssh, or None.

    Only when ssh failed before rsync's protocol started: rsync says "connection
    unexpectedly closed (0 bytes received so far)" with code 12 or 255, so nothing was
    written anywhere; the ssh line before it says why.
    """
    if exit_code not in (12, 255) or _RSYNC_NOTHING_SENT not in stderr:
        return None
    return ssh_cause(stderr)


def rclone_cause(stderr: str, exit_code: int) -> Optional[str]:
    """The transient cause of a failed rclone run, or None.

    A connection refused or reset while rclone creates its remote (before it does
    anything), or an error rclone itself calls retryable (exit 5), after its own
    `--retries` were spent.
    """
    if _PERMANENT.search(stderr):
        return None
    found = _cause(stderr, _RCLONE_TRANSIENT)
    if found is not None:
        return _strip_log_prefix(found)
    if exit_code == RCLONE_RETRYABLE_EXIT:
        lines = [ln for ln in stderr.strip().splitlines() if "NOTICE" not in ln]
        return _strip_log_prefix(lines[-1]) if lines else f"rclone exit {exit_code}"
    return None


def _strip_log_prefix(line: str) -> str:
    """rclone's `2026/12/06 02:35:00 ` timestamp says nothing to the user."""
    return re.sub(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ", "", line.strip())


class Transient(SyncError):
    """A failure another attempt may fix. `str()` is the full one-line error (as without
    retries); `cause` is the tool's own line, for the retry notice."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


class GaveUp(SyncError):
    """Transient failures went on for longer than the `timeout` setting allows."""


class Retry:
    """Jittered exponential backoff bounded by a time budget; counts the retries.

    One per transport (so per command): `retries` is what the summary line reports.
    Thread-safe: upload lanes retry independently and count into the same total.
    """

    def __init__(self, budget: float, *, base: float = 0.5, cap: float = 8.0,
                 rand: Callable[[], float] = random.random,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 notify: Optional[Callable[[str], None]] = None) -> None:
        self.budget = budget
        self.base = base
        self.cap = cap
        self.rand = rand
        self.clock = clock
        self.sleep = sleep
        self.notify = notify or output.progress_note
        self.retries = 0
        self._count = threading.Lock()

    def delay(self, attempt: int) -> float:
        """Wait before retry number `attempt` (1, 2, ...): half of an exponential step
        fixed, half random."""
        step = min(self.cap, self.base * 2 ** (attempt - 1))
        return step / 2 + self.rand() * step / 2

    def call(self, attempt: Callable[[], T]) -> T:
        """`attempt()` until it returns, raises anything but Transient, or the budget
        (counted from the first failure) would be exceeded by the next wait."""
        first: Optional[float] = None
        tries = 0
        while True:
            try:
                return attempt()
            except Transient as exc:
                now = self.clock()
                first = now if first is None else first
                wait = self.delay(tries + 1)
                if now + wait - first > self.budget:
                    if tries == 0:
                        raise SyncError(str(exc)) from None
                    raise GaveUp(
                        f"{exc}; gave up after {tries} retr{'y' if tries == 1 else 'ies'} "
                        f"in {now - first:.0f}s (central busy or down: raise "
                        "dvc-synced.timeout to wait longer)") from None
                tries += 1
                with self._count:
                    self.retries += 1
                self.notify(f"central did not answer ({exc.cause}): retry {tries} "
                            f"in {wait:.1f}s")
                self.sleep(wait)
