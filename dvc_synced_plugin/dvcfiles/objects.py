"""DVC objects as data: directory manifests and their deltas, sets of objects.

An object's name and path are `oids.py`'s (`ObjectRef`); directory outputs are `<md5>.dir`
manifests listing their files. Which objects a change needs is `sync/plan.py`'s question.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Callable, Optional

from dvc_synced_plugin.dvcfiles.pointers import Out
from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.manifest_text import SEP, differing_regions
from dvc_synced_plugin.oids import MD5, ObjectRef
from dvc_synced_plugin.safety import check_entry, load_json, plain_layout

# A manifest is named by its hash: a malformed one was written that way by whoever pushed
# it, and only a new commit of that directory replaces it.
UNREADABLE_FIX = ("whoever committed that directory must `dvc add` it again and push; "
                  "`dvc-synced verify` lists what else is affected")


def parse_manifest(data: bytes, legacy: bool, owner: str) -> dict[str, ObjectRef]:
    """Entries of a `.dir` manifest: relative path -> file object.

    Names are validated: a manifest is data from a storage, and an entry that is not a
    hex hash (`../x`, `/etc/passwd`) must never become a path we read or write.
    """
    try:
        entries = load_json(data)
    except (ValueError, UnicodeDecodeError):
        raise SyncError(
            f"the manifest of {owner} is not valid JSON (or nested too deeply): "
            f"{UNREADABLE_FIX}"
        ) from None
    if not isinstance(entries, list):
        raise SyncError(f"the manifest of {owner} is not a list: {UNREADABLE_FIX}")
    result: dict[str, ObjectRef] = {}
    for entry in entries:
        md5 = entry.get("md5") if isinstance(entry, dict) else None
        rel = entry.get("relpath") if isinstance(entry, dict) else None
        check_entry(rel, md5, owner, entry)
        result[rel] = ObjectRef(md5, legacy, f"{owner}/{rel}")
    return result


def manifest_map(data: bytes, legacy: bool, owner: str) -> dict[str, str]:
    """relpath -> md5 of a `.dir` manifest, without an object per entry.

    A 100,000-file manifest parses in a tenth of the time `parse_manifest` takes; callers
    validate (`check_entry`) only the entries they act on. A manifest that is not a list
    of mappings gets `parse_manifest`'s error.
    """
    try:
        result = {e["relpath"]: e["md5"] for e in load_json(data)}
    except (ValueError, UnicodeDecodeError, TypeError, KeyError, AttributeError,
            IndexError):
        parse_manifest(data, legacy, owner)  # raises the precise error
        raise SyncError(f"the manifest of {owner} is unreadable: {UNREADABLE_FIX}") from None
    return result


_ENTRY_MD5 = re.compile(rb'\{"md5": "(' + MD5.encode() + rb')"')


def entry_oids(data: bytes, legacy: bool, owner: str) -> Iterator[str]:
    """The file objects a manifest lists, one at a time, without parsing where it can.

    In DVC's plain layout no name holds a quote, so each `{"md5": "` starts an entry
    (10^6 entries would be ~400 MB of parsed JSON). Any other layout is parsed, with
    `manifest_map`'s errors, before the first md5 is given."""
    if plain_layout(data):
        return (m.group(1).decode() for m in _ENTRY_MD5.finditer(data))
    entries = manifest_map(data, legacy, owner)
    for rel, md5 in entries.items():
        check_entry(rel, md5, owner)
    return iter(entries.values())


@dataclass(frozen=True)
class ManifestDelta:
    """The entries two manifests do not share: as the old one has them, as the new one does.

    A path in both changed content; only in `before` it was removed, only in `after` added.
    """

    before: dict[str, str]  # relpath -> md5
    after: dict[str, str]


def manifest_delta(
    old: Optional[bytes], new: bytes, legacy: bool, owner: str
) -> ManifestDelta:
    """What differs between two versions of a directory's manifest (old None: everything).

    Both texts are compared in blocks and only the entries around differing blocks are
    parsed: for a change of 10 files in 100,000, ~5 ms instead of ~400 ms for parsing both.
    Whatever the shortcut cannot vouch for (another JSON layout, a separator inside a
    name) goes the slow way: both manifests parsed in full.
    """
    if old is not None:
        fast = _text_delta(old, new)
        if fast is not None:
            return fast
    after = manifest_map(new, legacy, owner)
    if old is None:
        return ManifestDelta({}, after)
    before = manifest_map(old, legacy, owner)
    try:
        return ManifestDelta(dict(before.items() - after.items()),
                             dict(after.items() - before.items()))
    except TypeError:  # an unhashable md5: a malformed manifest
        parse_manifest(new, legacy, owner)
        parse_manifest(old, legacy, owner)
        raise


def _text_delta(old: bytes, new: bytes) -> Optional[ManifestDelta]:
    if not (old.startswith(b"[{") and old.endswith(b"}]")
            and new.startswith(b"[{") and new.endswith(b"}]")):
        return None
    gone: set[bytes] = set()
    came: set[bytes] = set()
    for lo, a_hi, b_hi in differing_regions(old, new, 2):
        gone.update(old[lo:a_hi].split(SEP))
        came.update(new[lo:b_hi].split(SEP))
    common = gone & came  # whole entries a region took along unchanged
    before, after = _parse_entries(gone - common), _parse_entries(came - common)
    if before is None or after is None:
        return None
    return ManifestDelta(before, after)


def _parse_entries(chunks: Iterable[bytes]) -> Optional[dict[str, str]]:
    """relpath -> md5 of entry texts; None when one is not a whole {md5, relpath} object."""
    result: dict[str, str] = {}
    for chunk in chunks:
        try:
            entry = load_json(b"{" + chunk + b"}")
        except ValueError:
            return None
        rel = entry.get("relpath") if isinstance(entry, dict) else None
        if not isinstance(rel, str) or rel in result or "md5" not in entry:
            return None
        result[rel] = entry["md5"]
    return result


ManifestReader = Callable[[ObjectRef], Optional[bytes]]


@dataclass
class ObjectSet:
    """Objects to move, file objects apart from `.dir` manifests (which go last)."""

    files: dict[str, ObjectRef] = field(default_factory=dict)  # relpath -> ref
    dirs: dict[str, ObjectRef] = field(default_factory=dict)
    targets: set[str] = field(default_factory=set)  # dvc checkout targets involved
    # (old output or None, new output) per changed output, and per directory expanded the
    # entries that differ, keyed (old oid or "", new oid): a checkout of just the change.
    changed: list[tuple[Optional[Out], Out]] = field(default_factory=list)
    deltas: dict[tuple[str, str], ManifestDelta] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)  # outputs whose manifest is nowhere
    # (revision, output) of changed outputs whose data DVC itself moves (`Out.route`): its
    # own remote or the repository it was imported from; never central's nor the local
    # storage's.
    routed: list[tuple[str, Out]] = field(default_factory=list)
    # Changed outputs the fetch patterns leave out (`selection.py`): nothing moved for them.
    excluded: list[str] = field(default_factory=list)
    # Manifests planned in full whose entries are left out of `files` (`plan_changes`
    # with `stream_whole`): the caller reads them with `entry_oids`, one at a time, as
    # 10^6 refs would hold ~500 MB. They are in `dirs` like any other manifest.
    whole: list[ObjectRef] = field(default_factory=list)

    def add(self, ref: ObjectRef) -> None:
        bucket = self.dirs if ref.is_dir else self.files
        bucket.setdefault(ref.relpath, ref)

    def all(self) -> list[ObjectRef]:
        return [*self.files.values(), *self.dirs.values()]

    def __len__(self) -> int:
        return len(self.files) + len(self.dirs)
