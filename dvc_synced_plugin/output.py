"""Everything dvc-synced tells the user: messages, warnings, progress, the summary line.

One writer, so hooks, flows and locks speak alike (`dvc-synced: ...` on stderr), and one
place decides where live progress goes. Import-light: it sits on the hooks' fast path.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Optional, TextIO

PREFIX = "dvc-synced: "


def say(message: str, stream: Optional[TextIO] = None) -> None:
    """One line for the user, on stderr (stdout belongs to a command's result)."""
    print(f"{PREFIX}{message}", file=stream or sys.stderr, flush=True)


def warn(message: str) -> None:
    say(message)


def result(message: str) -> None:
    """A command's own answer (its summary line), on stdout."""
    print(f"{PREFIX}{message}", flush=True)


def line(text: str = "") -> None:
    """A line of a command's own output as it is (a report, a table, JSON), on stdout."""
    print(text)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def summary(verb: str, where: str, moved: int, moved_bytes: int, skipped: int,
            seconds: float, retries: int = 0) -> str:
    """The one-line summary of a transfer: `uploaded 4 object(s) (1.2 MB) to central, ...`,
    with the connection retries it took when there were any."""
    line = (f"{verb} {moved} object(s) ({human_bytes(moved_bytes)}) {where} central, "
            f"{skipped} already there, {seconds:.1f}s")
    if retries:
        line += f", {retries} retr{'y' if retries == 1 else 'ies'}"
    return line


_TTY: list[Optional[TextIO]] = []  # the opened /dev/tty (or None), once per process


def terminal() -> Optional[TextIO]:
    """The user's terminal, where live progress goes; None when there is none.

    A plain hook's stderr is the terminal. Under pre-commit (it sets PRE_COMMIT=1) a
    hook's output is captured, through a pipe or a pty of its own, and shown only after
    the hook ends: a long upload would be minutes of silence. The controlling terminal,
    /dev/tty, still reaches the user. In an IDE or CI there is none ("No such device or
    address"): then nothing extra is written, and nothing fails because of it.
    """
    if os.environ.get("PRE_COMMIT") == "1":
        if not _TTY:
            try:
                # Kept open for the process: progress writes to it many times.
                _TTY.append(open("/dev/tty", "w", encoding="utf-8", errors="replace"))  # noqa: SIM115
            except OSError:
                _TTY.append(None)
        return _TTY[0]
    return sys.stderr if sys.stderr.isatty() else None


_PROGRESS: list[TextIO] = []  # set by `progress_to`: a file instead of the terminal


def progress_to(stream: Optional[TextIO]) -> None:
    """Send live progress to `stream` from now on (None: back to the terminal): the
    background upload has no terminal, and a `git push` waiting for it shows its progress
    from this file. Reset before the file is closed: no later write may meet a closed file."""
    _PROGRESS[:] = [stream] if stream is not None else []


def progress_stream() -> Optional[TextIO]:
    """Where live transfer progress goes (see `terminal`, `progress_to`)."""
    return _PROGRESS[0] if _PROGRESS else terminal()


def progress_on_terminal() -> bool:
    """Whether live progress goes to a terminal, where parallel transfers would garble its
    one line (a file from `progress_to` keeps every line: the transfers stay parallel)."""
    return not _PROGRESS and terminal() is not None


def progress_note(message: str) -> None:
    """A line among the live progress, on the user's terminal only: scripts and CI keep
    their one-line results (a retry shows there as a count in the summary)."""
    tty = progress_stream()
    if tty is not None:
        with contextlib.suppress(OSError):  # a terminal that went away
            say(message, tty)


def announce(message: str) -> None:
    """A hook's one-line summary: on stderr as always, and on the user's terminal when
    stderr does not reach it (pre-commit)."""
    say(message)
    tty = terminal()
    if tty is not None and tty is not sys.stderr:
        with contextlib.suppress(OSError):  # gone: the summary is on stderr all the same
            say(message, tty)
