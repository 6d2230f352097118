"""Bring the workspace to a pulled revision by touching only the entries that changed.

`dvc checkout` of a directory output walks the whole directory, looking up or computing the
hash of every file, to find what differs: seconds at 100,000 files for a change of ten.
The pointer diff already says what differs (old and new manifest), so this module applies
exactly that delta the way DVC does: link types from `cache.type` in order, each file
made under a temporary name and renamed in, copies with the umask's mode, hard links to
the read-only cache object, empty files never hard-linked, empty directories pruned.

It never overwrites what it cannot prove is the old version (or already the new one):
an output with a local change, an unusual path, a legacy 2.x object or a missing manifest
goes to `dvc checkout` instead, which decides as it always did.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from dvc_synced_plugin.objects import ManifestDelta, ObjectRef, check_entry
from dvc_synced_plugin.pointers import Out
from dvc_synced_plugin.stores import LINK_ERRNOS, ObjectStore, content_hash, reflink

DEFAULT_LINKS = ("reflink", "copy")  # DVC's default `cache.type`


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass
class Plan:
    """What one target needs: paths to remove and (path, md5) to create from the cache."""

    remove: list[Path] = field(default_factory=list)
    create: list[tuple[Path, str]] = field(default_factory=list)
    prune_below: set[Path] = field(default_factory=set)  # output roots: prune empty dirs


def _safe_rel(rel: str) -> bool:
    parts = rel.split("/")
    return bool(rel) and "\0" not in rel and not rel.startswith("/") and all(
        p not in ("", ".", "..", ".git") for p in parts
    )


class _Checker:
    """Which version a workspace file holds, cheapest proof first."""

    def __init__(self, cache: ObjectStore) -> None:
        self.cache = cache
        self.safe_dirs: set[Path] = set()

    def _object_stat(self, md5: str) -> Optional[os.stat_result]:
        try:
            return os.stat(self.cache.path(ObjectRef(md5, False)))
        except OSError:
            return None

    def holds(self, path: Path, candidates: tuple[Optional[str], ...]) -> Optional[str]:
        """"" when `path` is absent, the candidate md5 it holds, None for anything else."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return ""
        wanted = [c for c in candidates if c]
        if stat.S_ISLNK(st.st_mode):
            try:
                st = os.stat(path)  # a symlink is ours only when it points at the object
            except OSError:
                return None
            for md5 in wanted:
                obj = self._object_stat(md5)
                if obj is not None and os.path.samestat(st, obj):
                    return md5
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        sizes = []
        for md5 in wanted:
            obj = self._object_stat(md5)
            if obj is not None and os.path.samestat(st, obj):
                return md5  # a hard link to the object
            sizes.append(obj.st_size if obj is not None else None)
        if all(size is not None and size != st.st_size for size in sizes):
            return None  # no candidate has this size: a local change
        with open(path, "rb") as fobj:
            got = content_hash(fobj, legacy=False)
        return got if got in wanted else None

    def parents_safe(self, root: Path, path: Path) -> bool:
        """No directory between the output root and `path` is a symlink or a file."""
        parent = path.parent
        chain = []
        while parent != root and parent not in self.safe_dirs:
            chain.append(parent)
            parent = parent.parent
        for directory in chain:
            try:
                st = os.lstat(directory)
            except FileNotFoundError:
                continue  # made on the way
            if not stat.S_ISDIR(st.st_mode):
                return False
        self.safe_dirs.update(chain)
        return True


def _plan_entries(
    checker: _Checker, root: Path, delta: ManifestDelta, owner: str, plan: Plan
) -> bool:
    """Plan one directory output's delta; False when any entry is not provably safe."""
    before, after = delta.before, delta.after
    for rel, md5 in after.items():
        check_entry(rel, md5, owner)
        if not _safe_rel(rel):
            return False
        path = root.joinpath(*rel.split("/"))
        if not checker.parents_safe(root, path):
            return False
        held = checker.holds(path, (before.get(rel), md5))
        if held is None:
            return False  # changed locally, or an untracked file in the way
        if held != md5:  # absent or the old version; the new one is there after a cut pull
            plan.create.append((path, md5))
    for rel in before.keys() - after.keys():
        if not isinstance(rel, str) or not _safe_rel(rel):
            return False
        path = root.joinpath(*rel.split("/"))
        if not checker.parents_safe(root, path):
            return False
        held = checker.holds(path, (before[rel],))
        if held is None:
            return False  # changed locally: DVC asks or refuses, as it always did
        if held:
            plan.remove.append(path)
    plan.prune_below.add(root)
    return True


def plan_output(
    repo: Path, checker: _Checker, old: Optional[Out], new: Out,
    deltas: dict[tuple[str, str], ManifestDelta], plan: Plan,
) -> bool:
    """Add the delta of one changed output to `plan`; False: leave it to `dvc checkout`."""
    if new.legacy or (old is not None and old.legacy) or not _safe_rel(new.path):
        return False
    if new.path.startswith(".dvc/"):
        return False
    path = repo.joinpath(*new.path.split("/"))
    if not checker.parents_safe(repo, path):
        return False
    if new.is_dir:
        if old is None or not old.is_dir:
            delta = deltas.get(("", new.oid))
            if delta is None or os.path.lexists(path):
                return False  # something is there already: DVC decides
            return _plan_entries(checker, path, delta, new.path, plan)
        delta = deltas.get((old.oid, new.oid))
        try:
            is_dir = stat.S_ISDIR(os.lstat(path).st_mode)
        except FileNotFoundError:
            return False  # the whole output is gone: a plain `dvc checkout` restores it
        if delta is None or not is_dir:
            return False
        return _plan_entries(checker, path, delta, new.path, plan)
    if old is not None and old.is_dir:
        return False
    held = checker.holds(path, (old.oid if old else None, new.oid))
    if held is None:
        return False
    if held != new.oid:
        plan.create.append((path, new.oid))
    return True


class _Linker:
    """Materialize cache objects in the workspace like dvc-objects' `transfer`."""

    def __init__(self, cache: ObjectStore, links: list[str]) -> None:
        self.cache = cache
        self.links = [t for t in links if t in ("reflink", "hardlink", "symlink", "copy")]
        if not self.links:
            self.links = list(DEFAULT_LINKS)
        self.mode = 0o666 & ~_umask()

    def _make(self, link: str, src: Path, tmp: Path) -> None:
        if link == "copy":
            shutil.copyfile(src, tmp)
        elif link == "reflink":
            reflink(src, tmp)
            os.chmod(tmp, self.mode)  # a clone may carry the object's read-only mode
        elif link == "hardlink":
            if os.path.getsize(src) == 0:
                tmp.touch()  # DVC never hard-links empty files (the link limit)
            else:
                os.link(src, tmp)
        else:
            os.symlink(src, tmp)

    def put(self, path: Path, md5: str) -> None:
        src = self.cache.path(ObjectRef(md5, False))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:16]}.tmp"
        while True:
            link = self.links[0]
            try:
                self._make(link, src, tmp)
                break
            except OSError as exc:
                if tmp.exists() or tmp.is_symlink():
                    tmp.unlink()
                if link == "copy" or exc.errno not in LINK_ERRNOS or len(self.links) == 1:
                    raise
                del self.links[0]
        os.replace(tmp, path)


def _prune(path: Path, root: Path) -> None:
    parent = path.parent
    while parent != root and root in parent.parents:
        try:
            os.rmdir(parent)
        except OSError:
            return
        parent = parent.parent


def update(
    repo: Path, cache: ObjectStore, links: list[str],
    changed: list[tuple[Optional[Out], Out]], deltas: dict[tuple[str, str], ManifestDelta],
) -> set[str]:
    """Apply the changed outputs to the workspace; returns the targets left to DVC.

    A target (a .dvc file or a dvc.yaml stage) is done here only when all its changed
    outputs are; otherwise DVC checks out the whole target, untouched by us.
    """
    checker = _Checker(cache)
    plans: dict[str, Plan] = {}
    left: set[str] = set()
    for old, new in changed:
        if new.target in left:
            continue
        plan = plans.setdefault(new.target, Plan())
        if not plan_output(repo, checker, old, new, deltas, plan):
            left.add(new.target)
            plans.pop(new.target, None)
    linker = _Linker(cache, links)
    for target, plan in plans.items():
        if any(not cache.has(ObjectRef(md5, False)) for _, md5 in plan.create):
            left.add(target)  # not after a complete pull; DVC names what is missing
            continue
        for path in plan.remove:
            path.unlink()
            for root in plan.prune_below:
                if root in path.parents:
                    _prune(path, root)
        for path, md5 in plan.create:
            linker.put(path, md5)
    return left
