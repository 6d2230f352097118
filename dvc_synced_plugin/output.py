"""Everything dvc-synced tells the user: messages, warnings, progress, the summary line.

One writer, so hooks, flows and locks speak alike (`dvc-synced: ...` on stderr), and one
place decides where live progress goes. Import-light: it sits on the hooks' fast path.
"""

from __future__ import annotations

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


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def summary(verb: str, where: str, moved: int, moved_bytes: int, skipped: int,
            seconds: float) -> str:
    """The one-line summary of a transfer: `uploaded 4 object(s) (1.2 MB) to central, ...`."""
    return (f"{verb} {moved} object(s) ({human_bytes(moved_bytes)}) {where} central, "
            f"{skipped} already there, {seconds:.1f}s")


def progress_stream() -> Optional[TextIO]:
    """Where live transfer progress goes: stderr when it is a terminal, else nothing."""
    return sys.stderr if sys.stderr.isatty() else None
