"""Temporary names the next run recognises and removes, even after SIGKILL.

Every file dvc-synced writes before it gets its real name is called
`.<name>.dvcsynced-<pid>-<8 hex>.tmp`: the pid says whether its writer may still be at
work, the marker says it is ours (never a user's file, never DVC's own temporaries).
A `finally` removes it on every error and on SIGINT/SIGTERM/SIGHUP (cli turns those into
an exception); only SIGKILL or a power cut leaves one behind, and `sweep` or the
workspace journal (workspace.py) removes it on the next run.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

MARK = "dvcsynced"
_NAME = re.compile(rf"^\..*\.{MARK}-(\d+)-[0-9a-f]{{8}}\.tmp$", re.DOTALL)


def temp_for(final: Path, token: str = "") -> Path:
    """A temporary name beside `final` (same directory: the rename stays atomic).
    `token`: a fixed `<pid>-<hex>` so a journal can name it in advance."""
    return final.with_name(f".{final.name}.{MARK}-{token or new_token()}.tmp")


def new_token() -> str:
    return f"{os.getpid()}-{os.urandom(4).hex()}"


def is_temp(name: str) -> bool:
    return _NAME.match(name) is not None


def writer_alive(name: str) -> bool:
    """Whether the process named in a temporary name may still be writing it."""
    found = _NAME.match(name)
    if found is None:
        return False
    pid = int(found.group(1))
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(directory: Path, everyone: bool = False, older_than: float = 0.0) -> int:
    """Remove our temporary files in `directory` whose writer is gone; `everyone`: also
    those of live processes (the caller holds the lock all writers there hold) but never
    this process's own. `older_than` seconds: a pid reused since counts as gone. Returns
    how many went."""
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    now = time.time()
    for entry in entries:
        if not is_temp(entry.name):
            continue
        mine = f".{MARK}-{os.getpid()}-" in entry.name
        if mine:
            continue
        if not everyone and writer_alive(entry.name):
            try:
                if not older_than or now - entry.stat(follow_symlinks=False).st_mtime < older_than:
                    continue
            except OSError:
                continue
        try:
            os.unlink(entry.path)
            removed += 1
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            pass
    return removed


def replace(tmp: Path, final: Path) -> None:
    """os.replace, and the temporary name gone afterwards in every case: rename(2) does
    nothing at all when both names are hard links of one inode (POSIX), which would leave
    `tmp` beside `final` (cache.type hardlink, a file already linked to its object)."""
    os.replace(tmp, final)
    if os.path.lexists(tmp):
        os.unlink(tmp)
