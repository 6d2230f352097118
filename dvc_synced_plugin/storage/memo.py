"""Commits remembered in the git dir, so repeated work is skipped: those a push confirmed
on central (`hooks.Verified`), those a fetch put in the local storage (`fetch.Fetched`).

Each list has a header naming what it vouches for (a central URL, a local storage); a
list with another header starts afresh. Only the newest entries are kept: a commit that
drops out is merely computed again. Import-light: pushes read it on the fast path.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dvc_synced_plugin.fs import atomic_write


class CommitMemo:
    KEEP = 5000

    def __init__(self, path: Path, header: str) -> None:
        self.path = path
        self.header = header
        self.commits: list[str] = []  # oldest first
        try:
            first, *lines = path.read_text().splitlines()
            if first == header:
                self.commits = lines
        except (OSError, ValueError):
            pass
        self.known = set(self.commits)

    def add(self, commits: Iterable[str]) -> None:
        """Record `commits`, moved to the end in this order (the last is the newest)."""
        new = list(dict.fromkeys(commits))
        taken = set(new)
        kept = ([c for c in self.commits if c not in taken] + new)[-self.KEEP:]
        if kept == self.commits:
            return
        self.commits = kept
        self.known = set(kept)
        atomic_write(self.path, "\n".join([self.header, *kept]) + "\n")
