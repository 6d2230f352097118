"""The generated blocks of benchmarks/README.md: each benchmark writes its own between its
markers, so no figure there is copied by hand. That page is their only home: the project's
README and docs/performance.md link to it instead of repeating the tables."""

from __future__ import annotations

import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parent / "README.md"


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
