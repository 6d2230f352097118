"""Every rule about untrusted input, in one place.

Pointer files come from git and manifests from central, which every teammate can write;
object paths become rsync/rclone arguments; outputs become paths we write. Each rule here
says what may pass and is the only copy of itself, so a fix lands everywhere at once.
"""

from __future__ import annotations

import hashlib
import json
import re
import reprlib
import shutil
import sys
from pathlib import Path
from typing import Any, BinaryIO, Optional

from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.manifest_text import SEP, differing_regions
from dvc_synced_plugin.oids import HEX32, MD5, ObjectRef

CHUNK = 1 << 20


# ---------------------------------------------------------------------------- integrity


def content_hash(fobj: BinaryIO, legacy: bool, copy_to: Optional[BinaryIO] = None) -> str:
    """md5 as DVC names the object; legacy 2.x files hash text with CRLF folded to LF."""
    if legacy:
        from dvc_data.hashfile.hash import fobj_md5

        if copy_to is not None:
            shutil.copyfileobj(fobj, copy_to, CHUNK)
            copy_to.flush()
            fobj.seek(0)
        return fobj_md5(fobj, name="md5-dos2unix")
    md5 = hashlib.md5(usedforsecurity=False)
    while chunk := fobj.read(CHUNK):
        md5.update(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
    return md5.hexdigest()


def bytes_hash_problem(data: bytes, ref: ObjectRef) -> Optional[str]:
    """`verify` of content already in memory (a manifest read once, hashed and checked)."""
    if ref.legacy:
        import io

        got = content_hash(io.BytesIO(data), legacy=True)
    else:
        got = hashlib.md5(data, usedforsecurity=False).hexdigest()
    return None if got == expected_hash(ref) else got


def expected_hash(ref: ObjectRef) -> str:
    return ref.oid[:-4] if ref.is_dir else ref.oid


def verify(path: Path, ref: ObjectRef) -> Optional[str]:
    """None when the file at `path` hashes to `ref`'s name, else the hash it has."""
    with open(path, "rb") as fobj:
        got = content_hash(fobj, ref.legacy)
    return None if got == expected_hash(ref) else got


# ---------------------------------------------------------------------------- any shape

# A value from a pointer file or a manifest may be of any shape: nested a thousand levels
# deep (`repr` and `json` recurse), or a YAML alias bomb (a 10-element list of aliases,
# eight levels down, printed as 10^8 items: 25 s and a message of megabytes). Messages
# show a bounded excerpt; parsing turns too deep into an ordinary ValueError.
_EXCERPT = reprlib.Repr()
_EXCERPT.maxlevel, _EXCERPT.maxlist, _EXCERPT.maxdict = 2, 4, 4
_EXCERPT.maxstring = _EXCERPT.maxother = 60


def excerpt(value: object, limit: int = 80) -> str:
    """A repr of untrusted `value` that costs O(limit) whatever its shape."""
    text = _EXCERPT.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def load_json(data: bytes | str) -> Any:
    """`json.loads` of untrusted text: deep nesting raises ValueError, not RecursionError."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply") from None


# ---------------------------------------------------------------------------- manifests


def check_entry(rel: object, md5: object, owner: str, entry: object = None) -> None:
    """One manifest entry must name a file by its hex hash before we act on it."""
    if not isinstance(md5, str) or not HEX32.match(md5) or not isinstance(rel, str):
        entry = {"md5": md5, "relpath": rel} if entry is None else entry
        raise SyncError(
            f"the manifest of {owner} has an entry {excerpt(entry)} that is not "
            "a file hash: the directory must be re-added with `dvc add`"
        )


def unsafe_manifest(data: bytes, owner: str = "") -> Optional[str]:
    """Why `dvc checkout` must not act on this `.dir` manifest; None when it is safe.

    DVC joins each entry's relpath to the output path as it is (checked): `../../x` lands
    outside the workspace, `../.git/hooks/post-merge` replaces a git hook. A manifest comes
    from central, which every teammate can write, so it is checked at that door.
    """
    if _plainly_safe(data):
        return None
    try:
        entries = load_json(data)
    except (ValueError, UnicodeDecodeError):
        return "it is not valid JSON (or nested too deeply)"
    if not isinstance(entries, list):
        return "it is not a list of entries"
    for entry in entries:
        md5 = entry.get("md5") if isinstance(entry, dict) else None
        rel = entry.get("relpath") if isinstance(entry, dict) else None
        if not isinstance(md5, str) or not HEX32.match(md5):
            return f"the entry {excerpt(entry)} does not name a file by its hash"
        parts = rel.split("/") if isinstance(rel, str) else [""]
        git_like = [p for p in parts if p.lower() == ".git"]
        if git_like and isinstance(rel, str):
            return _git_name_problem(f"{owner}/{rel}" if owner else rel, git_like[0])
        if any(p in ("", ".", "..") or "\0" in p for p in parts):
            return f"the entry {excerpt(rel)} is not a plain path inside the directory"
    return None


def _git_name_problem(path: str, name: str) -> str:
    """DVC accepts `.GIT`; git on case-insensitive filesystems (macOS, Windows) takes any
    case of `.git` for its own directory, so such a name is refused, saying which file."""
    return (f"{path!r} is named {name!r}, which git takes for its own .git directory on "
            "case-insensitive filesystems: rename that file")


# DVC's own layout of a manifest with plain ASCII names and no escapes; in such a text
# the JSON strings are their raw bytes, so the checks below are byte-exact.
_PLAIN_ENTRY = rb'\{"md5": "' + MD5.encode() + rb'", "relpath": "[^"\\\x00-\x1f]*"\}'
# Possessive repeats (Python 3.11+) keep no backtracking state per entry: the backtracking
# form holds ~190 MB of it while it matches 10^6 entries. Giving back a whole `, {...}`
# can never let `]` match, so both forms accept the same texts.
_MANY = b"*+" if sys.version_info >= (3, 11) else b"*"
_PLAIN_MANIFEST = re.compile(rb"\[(?:" + _PLAIN_ENTRY + rb"(?:, " + _PLAIN_ENTRY + rb")" + _MANY +
                             rb")?\]")
_PLAIN_ENTRIES = re.compile(_PLAIN_ENTRY + rb"(?:, " + _PLAIN_ENTRY + rb")" + _MANY)
_BAD_RELPATH = re.compile(rb'"relpath": "(?:[^"]*/)?(?:|\.|\.\.|\.[gG][iI][tT])(?:/[^"]*)?"')


# Content is named by its hash, so a verdict holds for every copy of a manifest: one
# proven safe in this process is not proven again (a pull checks it on its way into the
# local storage and again into the cache). `_BASES`: the version the plan compared each
# new manifest with, a hint for `manifest_check` (a wrong one only costs the full check).
_PROVEN: set[str] = set()
_BASES: dict[str, str] = {}


def note_base(new_oid: str, old_oid: str) -> None:
    _BASES[new_oid] = old_oid


def base_of(oid: str) -> Optional[str]:
    return _BASES.get(oid)


def proven(oid: str) -> bool:
    return oid in _PROVEN


def manifest_check(oid: str, data: bytes, owner: str = "", base: Optional[bytes] = None,
                   remember: bool = True) -> tuple[Optional[str], bool]:
    """(`unsafe_manifest`'s verdict, whether `data` is *clean*: in DVC's plain layout, with
    `}, {` only between entries, never inside a name).

    `base`: an older version of this manifest already proven clean. A change of 10
    entries in 10^6 then costs a byte comparison and a regex over the entries that differ
    (~30 ms) instead of a regex over all 80 MB of it (~1.1 s), on every push and pull.
    """
    if oid in _PROVEN:
        return None, False
    if base is not None and _clean_edit(base, data):
        problem, clean = None, True
    elif _plainly_safe(data):
        problem, clean = None, _separators_only(data)
    else:
        problem, clean = unsafe_manifest(data, owner), False
    if problem is None and remember:
        _PROVEN.add(oid)
    return problem, clean


_ENTRY_START = b'{"md5": "'


def _separators_only(text: bytes) -> bool:
    """In a plain text `{"md5": "` occurs once per entry (a relpath holds no `"`): when
    `}, {` occurs once less, no relpath holds a separator."""
    return text.count(_ENTRY_START) == text.count(SEP) + 1


def _clean_edit(base: bytes, new: bytes) -> bool:
    """`new` is `base`, a clean manifest, with runs of whole entries replaced by clean ones.

    Outside the differing regions both texts are byte-equal, and each region starts and
    ends at a separator of `base`, which in a clean text is an entry boundary: every
    region of `base` is a run of whole entries. When the new text of each region is a run
    of plain entries holding no separator in a name, `new` is clean too:
    `[{E1}, ..., {R}, ..., {En}]`. Only the regions are matched, never all of `new`.
    """
    if not (base.startswith(b"[{") and base.endswith(b"}]")
            and new.startswith(b"[{") and new.endswith(b"}]")):
        return False
    for lo, _a_hi, b_hi in differing_regions(base, new, 2):
        region = b"{" + new[lo:b_hi] + b"}"
        if not (region.isascii() and _PLAIN_ENTRIES.fullmatch(region) is not None
                and _BAD_RELPATH.search(region) is None and _separators_only(region)):
            return False
    return True


def _plainly_safe(data: bytes) -> bool:
    """`unsafe_manifest`'s verdict None, proven with two regexes over the bytes.

    Parsing 100,000 entries and checking each in Python takes ~0.2-0.4 s of every pull
    of a big directory; this takes ~50 ms. Anything else (escapes, non-ASCII names, other
    keys) gets the full check.
    """
    return plain_layout(data) and _BAD_RELPATH.search(data) is None


def plain_layout(data: bytes) -> bool:
    """DVC's own layout with plain names: no entry's name holds a quote or an escape."""
    return data.isascii() and _PLAIN_MANIFEST.fullmatch(data) is not None


def plain_relpath(rel: str) -> bool:
    """A path inside an output that our own workspace update may write: no `..`, no
    empty or `.` parts, not absolute, no `.git`. Anything else goes to `dvc checkout`."""
    parts = rel.split("/")
    return bool(rel) and "\0" not in rel and not rel.startswith("/") and all(
        p not in ("", ".", "..", ".git") for p in parts
    )


# ---------------------------------------------------------------------------- object paths


def check_object_path(rel: str) -> None:
    """An object path that becomes a line of a --files-from list.

    Object paths are built from validated hex names; this guards the invariant at the
    last door before a transfer tool reads them.
    """
    if "\n" in rel or "\r" in rel or rel.startswith(("/", "-")) or ".." in rel.split("/"):
        raise SyncError(f"refusing to transfer a malformed object path {rel!r}")
