"""The one atomic write: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Optional, Union


def atomic_write(path: Path, data: Union[str, bytes], mode: Optional[int] = None) -> None:
    """Write `data` to a temporary name beside `path` (its directory made if missing),
    then rename it over `path`. The temporary name is unique per writer, so concurrent
    writers never share one; a failed write leaves nothing behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
