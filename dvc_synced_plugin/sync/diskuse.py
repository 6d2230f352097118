"""`dvc-synced du`: what the data costs on this disk, and the cache.type that would cost less.

Bytes are counted per inode, once: a hard link of the cache in the local storage, or a
workspace file hard-linked or symlinked to the cache, costs nothing more. Reflinked copies
are separate inodes that share extents, which this count cannot see: where reflinks work,
the figure is an upper bound and `df` shows the truth.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from dvc_synced_plugin.dvcfiles import dvcrepo
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.output import human_bytes
from dvc_synced_plugin.storage.stores import WORK_DIR, reflink
from dvc_synced_plugin.sync.plan import outs_of_changes

# What each cache.type costs and risks, said the same way by du, init and doctor.
HARDLINK_TRADE = (
    "workspace files become read-only hard links to the cache; edit a file only after "
    "`dvc unprotect FILE`: written in place it changes "
    "the cached version too (dvc-synced hashes every object before passing it on, so the "
    "damage stays in this clone, but that version must be fetched again). "
    "Relink existing files with `dvc checkout --relink`"
)
REFLINK_TRADE = (
    "copy-on-write clones: one copy on disk, and editing a workspace file is safe"
)


@dataclass
class Place:
    label: str
    files: int = 0
    bytes: int = 0  # every file's size, as `du --apparent-size` would add them up
    own: int = 0  # bytes of inodes no place counted before this one
    shared: dict[str, int] = field(default_factory=dict)  # earlier place -> bytes shared


@dataclass
class Advice:
    command: str
    saves: int  # bytes, estimated from the current figures
    trade: str


@dataclass
class DiskUse:
    data_bytes: int  # the size of HEAD's data in the workspace, each file once
    places: list[Place]
    cache_types: list[str]
    reflink: bool  # reflinks work on the cache's filesystem (tried, not guessed)
    local_shares: bool  # local storage and cache are on one filesystem: links possible
    advice: Optional[Advice] = None
    notes: list[str] = field(default_factory=list)
    blocks: Optional[int] = None  # where reflinks work: disk blocks used, each block once

    @property
    def total(self) -> int:
        return sum(p.own for p in self.places)

    @property
    def ratio(self) -> float:
        return self.total / self.data_bytes if self.data_bytes else 0.0

    def as_dict(self) -> dict:
        result = asdict(self)
        result.update(total=self.total, ratio=round(self.ratio, 3),
                      blocks_ratio=round(self.blocks / self.data_bytes, 3)
                      if self.blocks is not None and self.data_bytes else None)
        return result


def _walk(path: Path) -> list[Path]:
    if path.is_symlink() or path.is_file():
        return [path]
    found: list[Path] = []
    for top, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d != WORK_DIR]
        found += [Path(top, f) for f in files]
    return found


def _count(place: Place, paths: list[Path], seen: dict[tuple[int, int], str]) -> None:
    for path in paths:
        try:
            st = path.stat()  # follows a symlinked workspace file into the cache
        except OSError:
            continue
        place.files += 1
        place.bytes += st.st_size
        key = (st.st_dev, st.st_ino)
        owner = seen.setdefault(key, place.label)
        if owner == place.label:
            place.own += st.st_size
        else:
            place.shared[owner] = place.shared.get(owner, 0) + st.st_size


def workspace_paths(root: Path) -> list[Path]:
    """The files of HEAD's outputs in the work tree (those that exist)."""

    head = gitinfo.git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
    if not head.strip():
        return []  # no commit yet (right after `init`)
    changes = gitinfo.changes_between(root, None, head.decode().strip())
    paths: list[Path] = []
    for _old, outs in outs_of_changes(root, changes):
        for out in outs:
            target = root / out.path
            if target.exists() or target.is_symlink():
                paths += _walk(target)
    return paths


def reflink_works(directory: Path) -> bool:
    """Try a reflink between two scratch files in `directory` (never guess from fs names)."""
    try:
        with tempfile.TemporaryDirectory(dir=directory, prefix=".dvc-synced-reflink-") as tmp:
            src = Path(tmp, "a")
            src.write_bytes(b"dvc-synced reflink probe\n")
            try:
                reflink(src, Path(tmp, f"b-{uuid.uuid4().hex}"))
            except OSError:
                return False
            return True
    except OSError:
        return False


_FIEMAP = 0xC020660B  # Linux FS_IOC_FIEMAP: a file's extents and where they are on disk
_FIEMAP_HEAD = "=QQIIII"  # fm_start, fm_length, fm_flags, fm_mapped_extents, fm_extent_count
_FIEMAP_EXTENT = "=QQQQQIIII"  # fe_logical, fe_physical, fe_length, 2 reserved, fe_flags, 3
_EXTENT_LAST, _EXTENT_UNMAPPED = 0x1, 0x2 | 0x4 | 0x200  # unknown, delalloc, inline


def extents(path: Path) -> Optional[list[tuple[int, int]]]:
    """(physical start, length) of a file's data; None where the filesystem cannot say."""
    import fcntl
    import struct

    head, ext = struct.calcsize(_FIEMAP_HEAD), struct.calcsize(_FIEMAP_EXTENT)
    count, start, found = 128, 0, []
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        while True:
            buf = bytearray(struct.pack(_FIEMAP_HEAD, start, 2**64 - 1 - start, 1, 0, count, 0)
                            + bytes(ext * count))
            try:
                fcntl.ioctl(fd, _FIEMAP, buf)
            except OSError:
                return None
            mapped = struct.unpack_from(_FIEMAP_HEAD, buf)[3]
            last = False
            for i in range(mapped):
                logical, physical, length, *_rest, flags, _a, _b, _c = struct.unpack_from(
                    _FIEMAP_EXTENT, buf, head + i * ext)
                if flags & _EXTENT_UNMAPPED:
                    return None  # data not yet placed or stored inline: no physical range
                found.append((physical, length))
                start = logical + length
                last = bool(flags & _EXTENT_LAST)
            if last or not mapped:
                return found
    finally:
        os.close(fd)


def unique_extent_bytes(paths: list[Path]) -> Optional[int]:
    """Bytes of disk blocks the files use, each block once however many files share it
    (reflinks); None when a file's extents are unknown."""
    ranges: dict[int, list[tuple[int, int]]] = {}
    for path in paths:
        try:
            dev = path.stat().st_dev
        except OSError:
            continue
        found = extents(path)
        if found is None:
            return None
        ranges.setdefault(dev, []).extend(found)
    total = 0
    for spans in ranges.values():
        end = -1
        for start, length in sorted(spans):
            if start + length > end:
                total += start + length - max(start, end)
                end = start + length
    return total


def _same_fs(a: Path, b: Path) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return False


def measure(root: Path, cache: Path, local: Path, cache_types: list[str]) -> DiskUse:
    seen: dict[tuple[int, int], str] = {}
    places = [Place("workspace"), Place("DVC cache"), Place("local storage")]
    work = workspace_paths(root)
    _count(places[0], work, seen)
    data = sum({(st.st_dev, st.st_ino): st.st_size for st in _stats(work)}.values())
    every = list(work)
    for place, store in zip(places[1:], (cache, local)):
        if store.is_dir():
            files = _walk(store)
            every += files
            _count(place, files, seen)
    # Before the first `dvc add` the cache does not exist: ask the directory it will be in.
    probe = next(p for p in (cache, *cache.parents) if p.is_dir())
    use = DiskUse(data, places, cache_types, reflink_works(probe), _same_fs(probe, local))
    use.advice = advise(use, _same_fs(root, probe))
    if use.reflink:
        # Reflinked copies are separate inodes sharing blocks: count the blocks instead.
        os.sync()  # delayed allocation: blocks of fresh files get their place
        use.blocks = unique_extent_bytes(every)
        if use.blocks is None:
            use.notes.append("reflinked copies share blocks, which a count of inodes cannot "
                             "see, and this filesystem does not map them: `df` shows the truth")
    if not use.local_shares and local.is_dir() and cache.is_dir():
        use.notes.append("the local storage is on another filesystem than the DVC cache, so "
                         "each object is stored twice: put it next to the cache with "
                         "`dvc-synced init --local PATH`")
    return use


def _stats(paths: list[Path]) -> list[os.stat_result]:
    result = []
    for path in paths:
        with contextlib.suppress(OSError):
            result.append(path.stat())
    return result


def effective_type(types: list[str], reflink_ok: bool, same_fs: bool) -> str:
    """The link type DVC ends up using for workspace files: the first in `types` that works."""
    for kind in types:
        if kind == "reflink" and reflink_ok:
            return kind
        if kind == "hardlink" and same_fs:
            return kind
        if kind in ("symlink", "copy"):
            return kind
    return "copy"


def advise(use: DiskUse, work_same_fs: bool) -> Optional[Advice]:
    """The one `dvc config` command that would save space here, or that removes a risk."""
    kind = effective_type(use.cache_types, use.reflink, work_same_fs)
    if use.reflink and kind != "reflink":
        saves = use.places[0].own if kind == "copy" else 0
        return Advice("dvc config cache.type reflink,copy", saves, REFLINK_TRADE)
    if kind == "copy" and work_same_fs:
        return Advice("dvc config cache.type hardlink", use.places[0].own, HARDLINK_TRADE)
    return None


def advice_line(use: DiskUse) -> Optional[str]:
    if use.advice is None:
        return None

    if use.advice.saves:
        gain = f"would save about {human_bytes(use.advice.saves)}"
    elif "hardlink" in use.advice.command or effective_type(
            use.cache_types, use.reflink, True) == "copy":
        gain = "keeps one copy of the data on disk instead of two"
    else:
        gain = "saves no space but removes the risk of editing a linked file"
    return f"`{use.advice.command}` {gain}: {use.advice.trade}"


def for_settings(settings) -> DiskUse:  # type: ignore[no-untyped-def]
    root = settings.root
    return measure(root, dvcrepo.cache_dir(root), dvcrepo.local_storage(settings),
                   dvcrepo.cache_types(root))


def render(use: DiskUse) -> list[str]:
    if use.blocks is not None:
        head = (f"on disk {human_bytes(use.blocks)} ({use.blocks / max(use.data_bytes, 1):.2f}x)"
                f", each disk block counted once (reflinked copies share theirs; "
                f"{human_bytes(use.total)} counting inodes)")
    else:
        head = f"on disk {human_bytes(use.total)} ({use.ratio:.2f}x), each inode counted once"
    lines = [f"data of HEAD {human_bytes(use.data_bytes)}; {head}"]
    for place in use.places:
        extra = "".join(f", {human_bytes(n)} shared with the {label}"
                        for label, n in place.shared.items())
        lines.append(f"  {place.label:<14} {human_bytes(place.own):>9} own  "
                     f"({place.files} file(s), {human_bytes(place.bytes)}{extra})")
    lines.append(f"  cache.type {','.join(use.cache_types)}; reflinks "
                 f"{'work' if use.reflink else 'do not work'} on the cache's filesystem")
    line = advice_line(use)
    if line:
        lines.append(f"  tip: {line}")
    lines += [f"  note: {n}" for n in use.notes]
    return lines
