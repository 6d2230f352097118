"""The one atomic write: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Optional, Union

from dvc_synced_plugin import faults, tempnames


def atomic_write(path: Path, data: Union[str, bytes], mode: Optional[int] = None,
                 fault: str = "") -> None:
    """Write `data` under a temporary name beside `path` (its directory made if missing),
    then rename it over `path`. The temporary name is unique per writer and one the next
    run recognises (`tempnames`); a failed or interrupted write leaves nothing behind.
    `fault`: the kill tests' point between the write and the rename (`faults.point`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempnames.temp_for(path)
    try:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
        if mode is not None:
            os.chmod(tmp, mode)
        if fault:
            faults.point(fault)
        tempnames.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            with contextlib.suppress(OSError):
                tmp.unlink()
