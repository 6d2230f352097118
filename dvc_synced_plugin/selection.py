"""Which outputs a clone fetches: `dvc-synced.fetch-include` / `fetch-exclude`.

A leaf. The patterns are git-lfs's `lfs.fetchinclude`/`lfs.fetchexclude`: comma-separated,
gitignore-style wildcards, matched against an output's path relative to the repository
root. A pattern matches an output when it matches the output's path or one of its parent
directories (`data` selects `data/raw`). A pattern without a slash matches a name at any
depth (`*.csv`, `raw`); one with a slash is anchored at the root (`data/raw*`); `**`
crosses directories. An output is selected when some include pattern matches it (or no
include is set) and no exclude pattern does. Outputs are selected whole: a pattern that
names a path inside a directory output does not select that output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property


class PatternError(ValueError):
    """A pattern that is no valid wildcard; the message names it."""


def split_patterns(text: str) -> tuple[str, ...]:
    """The patterns of a setting's value: comma-separated, blanks dropped (an empty value
    clears the setting, as in git-lfs)."""
    return tuple(p for p in (raw.strip() for raw in text.split(",")) if p)


def _translate(glob: str) -> str:
    """A gitignore wildcard as a regular expression over a slash-separated path."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "*":
            if glob.startswith("**", i):
                before = i == 0 or glob[i - 1] == "/"
                after = i + 2 == n or glob[i + 2] == "/"
                if before and after:
                    if i + 2 == n:
                        out.append(".*")  # `a/**`: everything inside
                        i += 2
                    else:
                        out.append("(?:.*/)?")  # `**/`: zero or more directories
                        i += 3
                    continue
            out.append("[^/]*")
            while i < n and glob[i] == "*":
                i += 1
            continue
        if c == "?":
            out.append("[^/]")
        elif c == "[":
            end = glob.find("]", i + 2 if glob[i + 1:i + 2] in ("!", "^", "]") else i + 1)
            if end < 0:
                raise PatternError(f"{glob!r} has an unclosed '['")
            body = glob[i + 1:end]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(glob[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class _Pattern:
    text: str
    regex: re.Pattern[str]
    anchored: bool  # has a slash: matched from the root; else against any name

    def matches(self, path: str) -> bool:
        parts = path.split("/")
        if not self.anchored:
            return any(self.regex.fullmatch(part) for part in parts)
        return any(self.regex.fullmatch("/".join(parts[:i])) for i in range(len(parts), 0, -1))


def compile_pattern(text: str) -> _Pattern:
    # `./data` is `/data`; a trailing slash (a directory) changes nothing: outputs
    # are matched by their path and their parent directories alike.
    body = "/" + text[2:] if text.startswith("./") else text
    body = body.rstrip("/") or "/"
    anchored = "/" in body
    body = body.lstrip("/") if anchored else body
    try:
        regex = re.compile(_translate(body))
    except re.error as exc:
        raise PatternError(f"{text!r} is no valid wildcard ({exc})") from None
    return _Pattern(text, regex, anchored)


@dataclass(frozen=True)
class Selection:
    """The outputs this clone fetches and checks out; empty: every output."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    # Named outputs (`dvc-synced pull PATH`): exactly these, whatever the patterns say.
    only: tuple[str, ...] = ()

    @classmethod
    def of_paths(cls, paths: Iterable[str]) -> Selection:
        return cls(only=tuple(sorted(set(paths))))

    @property
    def active(self) -> bool:
        return bool(self.include or self.exclude or self.only)

    @cached_property
    def _compiled(self) -> tuple[tuple[_Pattern, ...], tuple[_Pattern, ...]]:
        return (tuple(compile_pattern(p) for p in self.include),
                tuple(compile_pattern(p) for p in self.exclude))

    def check(self) -> None:
        """Raise PatternError for a pattern that does not compile."""
        _ = self._compiled

    def selects(self, path: str) -> bool:
        """Whether the output at `path` (relative to the root, slash-separated) is fetched."""
        if self.only:
            return path in self.only
        include, exclude = self._compiled
        if include and not any(p.matches(path) for p in include):
            return False
        return not any(p.matches(path) for p in exclude)

    @property
    def fingerprint(self) -> str:
        """One line naming the selection: recorded with a sync, so a change of the patterns
        is noticed (`""` for every output)."""
        if not self.active:
            return ""
        return f"include={','.join(self.include)} exclude={','.join(self.exclude)}" + (
            f" only={','.join(self.only)}" if self.only else "")

    def describe(self) -> str:
        parts = []
        if self.include:
            parts.append(f"include {', '.join(self.include)}")
        if self.exclude:
            parts.append(f"exclude {', '.join(self.exclude)}")
        return "; ".join(parts) or "every output"


EVERYTHING = Selection()
