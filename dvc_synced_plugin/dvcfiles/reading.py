"""One reading of DVC's files for every command: what each changed pointer means.

A change names a pointer file (.dvc, or a dvc.lock / dvc.yaml pair) and the revisions
its old and new sides are read at. All blobs a command needs come in one `git cat-file`
call and each is parsed once per process. The fast parser (`pointers.py`) takes what it
can prove it reads as DVC does; every other file, and every file below a non-trivial
`.dvcignore`, goes to DVC's own stage loading of that revision (`dvcstages.py`): slower,
never a guess. A project without such files never imports DVC here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from dvc_synced_plugin.dvcfiles.pointers import (
    EMPTY,
    SHAPE_ERRORS,
    NeedsDvc,
    Out,
    Pointer,
    check_bounded,
    parse_dvc_file,
    parse_pipeline,
    unexpected_shape,
)
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.git.gitinfo import INDEX, PointerChange

# Parsed once per process (one command): (pointer, contents...) -> meaning.
_FAST: dict[tuple[object, ...], Optional[Pointer]] = {}
_SLOW: dict[tuple[str, str], Pointer] = {}
STATS = {"fast": 0, "slow": 0}  # pointer sides read each way (measured by the benchmark)


def _pipeline(path: str) -> bool:
    return path.rsplit("/", 1)[-1] in ("dvc.lock", "dvc.yaml")


def _lock_of(path: str) -> str:
    return path[: -len("yaml")] + "lock" if path.endswith("dvc.yaml") else path


def _ignore_files(pointer: str) -> list[str]:
    parts = pointer.split("/")[:-1]
    return [".dvcignore"] + ["/".join(parts[: i + 1]) + "/.dvcignore" for i in range(len(parts))]


def _trivial(ignore: Optional[bytes]) -> bool:
    """A .dvcignore of comments and blank lines only (`dvc init`'s) ignores nothing."""
    if ignore is None:
        return True
    return all(not line.strip() or line.lstrip().startswith(b"#")
               for line in ignore.splitlines())


class _Side:
    """One side of one change: a pointer read at a revision (or from a blob alone)."""

    def __init__(self, pointer: str, rev: str, blob: Optional[str], yaml_rev: str) -> None:
        self.pointer = pointer
        self.rev = rev  # "" when only the blob is known (its dvc.yaml is read at yaml_rev)
        self.blob = blob
        self.yaml_rev = yaml_rev

    def names(self) -> list[str]:
        names = []
        if _pipeline(self.pointer):
            yaml_path = self.pointer[: -len("lock")] + "yaml"
            names.append(f"{self.rev}:{self.pointer}" if self.rev else self.blob or "")
            names.append(f"{self.rev or self.yaml_rev}:{yaml_path}"
                         if (self.rev or self.yaml_rev) else "")
        else:
            names.append(self.blob or "")
        rev = self.rev or self.yaml_rev
        if rev:
            names += [f"{rev}:{p}" for p in _ignore_files(self.pointer)]
        return names


def read_changes(root: Path, changes: list[PointerChange]) -> list[tuple[Pointer, Pointer]]:
    """(old, new) meaning per change, in order; a dvc.yaml and its dvc.lock changed
    together count once (the second gives two empty sides)."""
    sides: list[tuple[Optional[_Side], Optional[_Side]]] = []
    seen: set[tuple[str, str, str]] = set()
    for ch in changes:
        pointer = _lock_of(ch.path)
        if _pipeline(ch.path):
            unit = (pointer, ch.base, ch.commit)
            if unit in seen:
                sides.append((None, None))
                continue
            seen.add(unit)
            old = (_Side(pointer, ch.base, None, ch.base) if ch.base else
                   _Side(pointer, "", ch.old_blob, ch.commit) if ch.old_blob and
                   ch.path == pointer else None)
            new = _Side(pointer, ch.commit, None, ch.commit) if ch.commit else (
                _Side(pointer, "", ch.new_blob, "") if ch.new_blob and ch.path == pointer
                else None)
        else:
            old = _Side(pointer, ch.base, ch.old_blob, ch.base) if ch.old_blob else None
            new = _Side(pointer, ch.commit, ch.new_blob, ch.commit) if ch.new_blob else None
        sides.append((old, new))
    names = [n for pair in sides for s in pair if s is not None for n in s.names()]
    blobs = gitinfo.read_blobs(root, [n for n in names if n])

    readings: dict[int, Optional[Pointer]] = {}
    slow: dict[str, set[str]] = {}  # revision -> pointers DVC must read there
    for side in (s for pair in sides for s in pair if s is not None):
        meaning = _fast(side, blobs)
        readings[id(side)] = meaning
        if meaning is None:
            slow.setdefault(side.rev or side.yaml_rev, set()).add(side.pointer)
    if slow:
        _resolve_slow(root, slow)
    result = []
    for pair in sides:
        result.append(tuple(EMPTY if s is None else readings[id(s)] or _slow_of(root, s)
                            for s in pair))
    return result  # type: ignore[return-value]


def _fast(side: _Side, blobs: dict[str, bytes]) -> Optional[Pointer]:
    """The fast parser's meaning, or None when DVC must read it."""
    got = [blobs.get(n) if n else None for n in side.names()]
    if _pipeline(side.pointer):
        lock, spec, ignores = got[0], got[1], got[2:]
    else:
        lock, spec, ignores = got[0], None, got[1:]
    if lock is None and spec is None:
        return EMPTY
    if not all(_trivial(i) for i in ignores):
        STATS["slow"] += 1
        return None
    key = (side.pointer, lock, spec)
    if key not in _FAST:
        try:
            _FAST[key] = (parse_pipeline(side.pointer, lock, spec) if _pipeline(side.pointer)
                          else parse_dvc_file(side.pointer, lock or b""))
        except NeedsDvc:
            for content, name in ((lock, side.pointer), (spec, side.pointer[:-4] + "yaml")):
                check_bounded(content, name)  # what would hang DVC is refused here
            _FAST[key] = None
        except SHAPE_ERRORS:
            raise unexpected_shape(side.pointer) from None
    STATS["fast" if _FAST[key] is not None else "slow"] += 1
    return _FAST[key]


def _resolve_slow(root: Path, wanted: dict[str, set[str]]) -> None:
    """DVC reads these pointers at these revisions (the index: as a commit of it)."""
    shas = _commits(root, sorted(wanted))
    todo: dict[str, set[str]] = {}
    for rev, pointers in wanted.items():
        for pointer in pointers:
            if (shas[rev], pointer) not in _SLOW:
                todo.setdefault(shas[rev], set()).add(pointer)
    if todo:
        # dvcstages imports DVC: only here, never on the fast path
        from dvc_synced_plugin.dvcfiles import dvcstages

        _SLOW.update(dvcstages.resolve(root, todo))
    for rev, pointers in wanted.items():
        for pointer in pointers:
            _SLOW[(rev, pointer)] = _SLOW[(shas[rev], pointer)]


def _slow_of(root: Path, side: _Side) -> Pointer:
    return _SLOW[(side.rev or side.yaml_rev, side.pointer)]


def _commits(root: Path, revs: list[str]) -> dict[str, str]:
    """Full shas; the index becomes a commit of its tree (DVC reads commits, not indexes)."""
    result = {}
    named = [r for r in revs if r != INDEX]
    if named:
        out = gitinfo.git(root, "rev-parse", *[
            f"{r}^{{commit}}" for r in named]).decode().split()
        result.update(zip(named, out))
    if INDEX in revs:
        tree = gitinfo.index_tree(root)  # a squash stopped on conflicts: ours for those
        result[INDEX] = gitinfo.git(root, "commit-tree", tree, "-m", "dvc-synced: the index",
                                    input=b"").decode().strip()
    return result


def read_pointers(root: Path, changes: list[PointerChange]
                  ) -> list[tuple[list[Out], list[Out]]]:
    """(old outs, new outs) per change: every cached output, whatever its route."""
    return [(list(old.outs), list(new.outs)) for old, new in read_changes(root, changes)]


def out_paths(pointers: list[Pointer]) -> set[str]:
    return {p for pointer in pointers for p in pointer.paths}
