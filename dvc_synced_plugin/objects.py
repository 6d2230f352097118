"""Which DVC objects revisions need, as paths inside an object store.

A store (DVC cache, local storage, central) lays objects out as `files/md5/ab/cdef...`
(3.x) or `ab/cdef...` (legacy 2.x). Directory outputs are `<md5>.dir` manifests listing
their files. Sets are computed from pointer *changes* so the cost follows the change.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

from dvc_synced_plugin import gitinfo
from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.gitinfo import PointerChange
from dvc_synced_plugin.pointers import Out, parse_pointer

HEX32 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class ObjectRef:
    """One content-addressed object and the workspace path it belongs to (for messages)."""

    oid: str
    legacy: bool
    owner: str = field(default="", compare=False, hash=False)

    @property
    def is_dir(self) -> bool:
        return self.oid.endswith(".dir")

    @property
    def relpath(self) -> str:
        prefix = "" if self.legacy else "files/md5/"
        return f"{prefix}{self.oid[:2]}/{self.oid[2:]}"


def parse_manifest(data: bytes, legacy: bool, owner: str) -> dict[str, ObjectRef]:
    """Entries of a `.dir` manifest: relative path -> file object.

    Names are validated: a manifest is data from a storage, and an entry that is not a
    hex hash (`../x`, `/etc/passwd`) must never become a path we read or write.
    """
    try:
        entries = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SyncError(f"the manifest of {owner} is not valid JSON: run `dvc-synced verify`") from exc
    if not isinstance(entries, list):
        raise SyncError(f"the manifest of {owner} is not a list: run `dvc-synced verify`")
    result: dict[str, ObjectRef] = {}
    for entry in entries:
        md5 = entry.get("md5") if isinstance(entry, dict) else None
        rel = entry.get("relpath") if isinstance(entry, dict) else None
        if not isinstance(md5, str) or not HEX32.match(md5) or not isinstance(rel, str):
            raise SyncError(
                f"the manifest of {owner} has an entry {str(entry)[:80]!r} that is not "
                "a file hash: the directory must be re-added with `dvc add`"
            )
        result[rel] = ObjectRef(md5, legacy, f"{owner}/{rel}")
    return result


ManifestReader = Callable[[ObjectRef], Optional[bytes]]


@dataclass
class ObjectSet:
    """Objects to move, file objects apart from `.dir` manifests (which go last)."""

    files: dict[str, ObjectRef] = field(default_factory=dict)  # relpath -> ref
    dirs: dict[str, ObjectRef] = field(default_factory=dict)
    targets: set[str] = field(default_factory=set)  # dvc checkout targets involved

    def add(self, ref: ObjectRef) -> None:
        bucket = self.dirs if ref.is_dir else self.files
        bucket.setdefault(ref.relpath, ref)

    def all(self) -> list[ObjectRef]:
        return [*self.files.values(), *self.dirs.values()]

    def __len__(self) -> int:
        return len(self.files) + len(self.dirs)


def outs_of_changes(
    root: Path, changes: list[PointerChange]
) -> list[tuple[list[Out], list[Out]]]:
    """(old outs, new outs) per changed pointer file, reading all blobs in one git call."""
    names: list[str] = []
    for ch in changes:
        names += [b for b in (ch.old_blob, ch.new_blob) if b]
        if ch.path.endswith("dvc.lock") and ch.commit and "\n" not in ch.path:
            names.append(f"{ch.commit}:{ch.path[: -len('lock')]}yaml")
    blobs = gitinfo.read_blobs(root, names)
    result = []
    for ch in changes:
        def sibling(path: str, ch: PointerChange = ch) -> Optional[bytes]:
            return blobs.get(f"{ch.commit}:{path}") if ch.commit else None

        old = parse_pointer(ch.path, blobs.get(ch.old_blob or ""), sibling)
        new = parse_pointer(ch.path, blobs.get(ch.new_blob or ""), sibling)
        result.append((old, new))
    return result


def needed_for_changes(
    root: Path,
    changes: list[PointerChange],
    read_manifest: ManifestReader,
) -> tuple[ObjectSet, list[Out]]:
    """Objects the new side of `changes` adds over the old side.

    Returns the object set and the new-side directory outputs whose manifest could not be
    read (the caller fetches those manifests and calls `expand_dirs`).
    """
    objs = ObjectSet()
    unresolved: list[Out] = []
    for old_outs, new_outs in outs_of_changes(root, changes):
        old_by_key = {o.key: o for o in old_outs}
        old_oids = {o.oid for o in old_outs}
        for out in new_outs:
            if out.oid in old_oids:
                continue
            objs.targets.add(out.target)
            ref = ObjectRef(out.oid, out.legacy, out.path)
            objs.add(ref)
            if not out.is_dir:
                continue
            previous = old_by_key.get(out.key)
            base = ObjectRef(previous.oid, previous.legacy, previous.path) if previous else None
            if not _expand_dir(objs, ref, base, read_manifest):
                unresolved.append(out)
    return objs, unresolved


def _expand_dir(
    objs: ObjectSet, ref: ObjectRef, base: Optional[ObjectRef], read_manifest: ManifestReader
) -> bool:
    """Add the entries of manifest `ref` that manifest `base` does not already have."""
    data = read_manifest(ref)
    if data is None:
        return False
    entries = parse_manifest(data, ref.legacy, ref.owner)
    known: set[str] = set()
    if base is not None and base.is_dir:
        old = read_manifest(base)
        if old is not None:
            known = {r.oid for r in parse_manifest(old, base.legacy, base.owner).values()}
    for entry in entries.values():
        if entry.oid not in known:
            objs.add(entry)
    return True


def needed_for_revision(root: Path, rev: str, read_manifest: ManifestReader) -> tuple[
    ObjectSet, list[Out]
]:
    """Every object a revision needs (all its pointers, all entries of its directories)."""
    return needed_for_changes(root, gitinfo.changes_between(root, None, rev), read_manifest)


def expand_dirs(objs: ObjectSet, outs: Iterable[Out], read_manifest: ManifestReader) -> None:
    """Second pass for directories whose manifest has arrived since; all entries count."""
    for out in outs:
        ref = ObjectRef(out.oid, out.legacy, out.path)
        if not _expand_dir(objs, ref, None, read_manifest):
            raise SyncError(
                f"the manifest of {out.path} ({out.oid}) is on no storage: "
                "whoever committed it must `git push` again with dvc-synced installed"
            )
