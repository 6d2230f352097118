"""The generated blocks of the READMEs: each benchmark writes its own between its markers,
so no figure there is copied by hand."""

from __future__ import annotations

import sys
from pathlib import Path


def write_block(path: Path, begin: str, end: str, lines: list[str]) -> None:
    """Replace what stands between `begin` and `end` in `path` (append both if missing)."""
    block = "\n".join([begin, *lines, end])
    text = path.read_text()
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
    print(f"updated {path}", file=sys.stderr, flush=True)
