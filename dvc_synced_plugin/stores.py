"""Object stores on this machine: the DVC cache and the local storage (a DVC local remote).

Objects are immutable: a new object is written to a temporary name in its final
directory, checked against its hash, made read-only, then linked to its final name,
which fails rather than replace an object that is already there.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Optional

from dvc_synced_plugin.errors import CorruptObjectError, SyncError
from dvc_synced_plugin.objects import ObjectRef

CHUNK = 1 << 20
WORK_DIR = ".dvc-synced"  # our scratch space inside a store, never an object path
_HEX32 = re.compile(r"[0-9a-f]{32}")


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


def expected_hash(ref: ObjectRef) -> str:
    return ref.oid[:-4] if ref.is_dir else ref.oid


def unsafe_manifest(data: bytes, owner: str = "") -> Optional[str]:
    """Why `dvc checkout` must not act on this `.dir` manifest; None when it is safe.

    DVC joins each entry's relpath to the output path as it is (checked): `../../x` lands
    outside the workspace, `../.git/hooks/post-merge` replaces a git hook. A manifest comes
    from central, which every teammate can write, so it is checked at that door.
    """
    if _plainly_safe(data):
        return None
    try:
        entries = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return "it is not valid JSON"
    if not isinstance(entries, list):
        return "it is not a list of entries"
    for entry in entries:
        md5 = entry.get("md5") if isinstance(entry, dict) else None
        rel = entry.get("relpath") if isinstance(entry, dict) else None
        if not isinstance(md5, str) or not _HEX32.fullmatch(md5):
            return f"the entry {str(entry)[:80]!r} does not name a file by its hash"
        parts = rel.split("/") if isinstance(rel, str) else [""]
        git_like = [p for p in parts if p.lower() == ".git"]
        if git_like and isinstance(rel, str):
            return _git_name_problem(f"{owner}/{rel}" if owner else rel, git_like[0])
        if any(p in ("", ".", "..") or "\0" in p for p in parts):
            return f"the entry {rel!r} is not a plain path inside the directory"
    return None


def _git_name_problem(path: str, name: str) -> str:
    """DVC accepts `.GIT`; git on case-insensitive filesystems (macOS, Windows) takes any
    case of `.git` for its own directory, so such a name is refused, saying which file."""
    return (f"{path!r} is named {name!r}, which git takes for its own .git directory on "
            "case-insensitive filesystems: rename that file (case-insensitive match of "
            "'.git'), `dvc add` the directory again and commit")


# DVC's own layout of a manifest with plain ASCII names and no escapes; in such a text
# the JSON strings are their raw bytes, so the checks below are byte-exact.
_PLAIN_ENTRY = rb'\{"md5": "[0-9a-f]{32}", "relpath": "[^"\\\x00-\x1f]*"\}'
_PLAIN_MANIFEST = re.compile(rb"\[(?:" + _PLAIN_ENTRY + rb"(?:, " + _PLAIN_ENTRY + rb")*)?\]")
_BAD_RELPATH = re.compile(rb'"relpath": "(?:[^"]*/)?(?:|\.|\.\.|\.[gG][iI][tT])(?:/[^"]*)?"')


def _plainly_safe(data: bytes) -> bool:
    """`unsafe_manifest`'s verdict None, proven with two regexes over the bytes.

    Parsing 100,000 entries and checking each in Python takes ~0.2-0.4 s of every pull
    of a big directory; this takes ~50 ms. Anything else (escapes, non-ASCII names, other
    keys) gets the full check.
    """
    return (data.isascii() and _PLAIN_MANIFEST.fullmatch(data) is not None
            and _BAD_RELPATH.search(data) is None)


class ObjectStore:
    """A directory in DVC's object layout."""

    def __init__(self, root: Path, label: str) -> None:
        self.root = root
        self.label = label  # "cache", "local storage": used in messages

    def path(self, ref: ObjectRef) -> Path:
        return self.root / ref.relpath

    def has(self, ref: ObjectRef) -> bool:
        return os.path.isfile(self.path(ref))

    def missing(self, refs: Iterable[ObjectRef]) -> list[ObjectRef]:
        return [r for r in refs if not self.has(r)]

    def read(self, ref: ObjectRef) -> Optional[bytes]:
        try:
            return self.path(ref).read_bytes()
        except OSError:
            return None

    def size(self, ref: ObjectRef) -> int:
        return os.path.getsize(self.path(ref))

    def work_dir(self, name: str) -> Path:
        path = self.root / WORK_DIR / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def add_copy(self, src: Path, ref: ObjectRef, verify: bool = True,
                 share: bool = False) -> bool:
        """Copy `src` in as `ref`; False when the object was there already.

        `share`: `src` is an immutable object no workspace file writes through (a DVC
        cache whose type is reflink or copy), so a reflink or hard link of it serves as
        the copy: no second write of the data, and on ext4 no second copy on disk.
        Either way the bytes are hashed under the temporary name before they get theirs.
        """
        final = self.path(ref)
        if final.exists():
            return False
        tmp = final.parent / f".{final.name}.{uuid.uuid4().hex}.tmp"
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            if share and verify and _share(src, tmp):
                with open(tmp, "rb") as fin:
                    got = content_hash(fin, ref.legacy)
                if got != expected_hash(ref):
                    raise CorruptObjectError(
                        f"{src} does not hash to {ref.oid} (got {got}); it belongs to "
                        f"{ref.owner or ref.oid}: restore it with `dvc add` or re-fetch it"
                    )
                return self._publish(tmp, final)
            with open(src, "rb") as fin, open(tmp, "wb") as fout:
                if verify:
                    got = content_hash(fin, ref.legacy, copy_to=fout)
                    if got != expected_hash(ref):
                        raise CorruptObjectError(
                            f"{src} does not hash to {ref.oid} (got {got}); it belongs to "
                            f"{ref.owner or ref.oid}: restore it with `dvc add` or re-fetch it"
                        )
                else:
                    shutil.copyfileobj(fin, fout, CHUNK)
                fout.flush()
                os.fsync(fout.fileno())
            return self._publish(tmp, final)
        except OSError as exc:
            raise self._write_error(ref, exc) from exc
        finally:
            if tmp.exists():
                tmp.unlink()

    def _write_error(self, ref: ObjectRef, exc: OSError) -> SyncError:
        """A full disk or a permission problem is the user's to fix: one line, no traceback.

        The temporary file is removed by the caller, so nothing half-written keeps a name.
        """
        return SyncError(
            f"cannot write {ref.relpath} ({ref.owner or ref.oid}) into the {self.label} at "
            f"{self.root}: {exc.strerror or exc}: free space or fix permissions there, "
            "then run the command again"
        )

    def adopt(self, staged: Path, ref: ObjectRef,
              checked: Optional[Future[Optional[str]]] = None) -> bool:
        """Verify a file already on this store's filesystem and link it in as `ref`.

        `checked`: `unsafe_manifest` of this manifest's content, computed earlier."""
        with open(staged, "rb") as fin:
            got = content_hash(fin, ref.legacy)
        if got != expected_hash(ref):
            staged.unlink()
            raise CorruptObjectError(
                f"central's copy of {ref.relpath} is corrupt (hashes to {got}); it belongs to "
                f"{ref.owner or ref.oid}: run `dvc-synced verify` and re-push it from a clone "
                "that has it"
            )
        problem = None
        if ref.is_dir:
            problem = checked.result() if checked else unsafe_manifest(staged.read_bytes())
        if problem:
            staged.unlink()
            raise CorruptObjectError(
                f"central's manifest {ref.relpath} of {ref.owner or ref.oid} is refused: "
                f"{problem}; nothing of it was checked out: whoever committed it must "
                "re-add the directory with `dvc add`"
            )
        final = self.path(ref)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            return self._publish(staged, final)
        except OSError as exc:
            raise self._write_error(ref, exc) from exc
        finally:
            if staged.exists():
                staged.unlink()

    @staticmethod
    def _publish(tmp: Path, final: Path) -> bool:
        os.chmod(tmp, 0o444)
        try:
            os.link(tmp, final)
        except FileExistsError:
            return False  # a concurrent writer got there first; objects are immutable
        except OSError:
            # Filesystems without hard links: rename, but never over an existing object.
            if final.exists():
                return False
            os.replace(tmp, final)
        return True


_FICLONE = 0x40049409  # Linux ioctl: the new file shares the extents of another (reflink)
# A link type failing with one of these is not for this filesystem (as in dvc-objects).
LINK_ERRNOS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.ENOTTY,
                errno.ENOSYS, errno.EINVAL, errno.EAGAIN, errno.EMLINK}


def reflink(src: Path, dst: Path) -> None:
    """Make `dst` a copy-on-write clone of `src`; OSError where the filesystem cannot."""
    import fcntl

    fd_src = os.open(src, os.O_RDONLY)
    try:
        fd_dst = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            fcntl.ioctl(fd_dst, _FICLONE, fd_src)
        except OSError:
            os.close(fd_dst)
            os.unlink(dst)
            raise
        os.close(fd_dst)
    finally:
        os.close(fd_src)


def _share(src: Path, tmp: Path) -> bool:
    """`tmp` as a reflink, else a hard link, of `src`; False: copy it instead.

    Empty files are copied: DVC never links them either (ext4's 65,000-link limit)."""
    if os.path.getsize(src) == 0:
        return False
    for make in (reflink, os.link):
        try:
            make(src, tmp)
            return True
        except OSError as exc:
            if exc.errno not in LINK_ERRNOS:
                raise
    return False


def copy_objects(
    src: ObjectStore, dst: ObjectStore, refs: list[ObjectRef], jobs: int, verify: bool
) -> tuple[int, int]:
    """Copy objects dst lacks, files before manifests; returns (count, bytes) copied."""
    count = size = 0
    for ref, wrote in iter_copies(src, dst, refs, jobs, verify):
        if wrote:
            count += 1
            size += src.size(ref)
    return count, size


def iter_copies(
    src: ObjectStore, dst: ObjectStore, refs: list[ObjectRef], jobs: int, verify: bool,
    share: bool = False,
) -> Iterator[tuple[ObjectRef, bool]]:
    """`copy_objects` one object at a time: each ref dst lacked, once dst holds it, and
    whether this call wrote it. Files come in the order given, manifests after all files.

    Copies run `jobs` at a time (hashlib and file I/O release the GIL), so a caller can
    send the first objects on while later ones are still being copied and hashed.
    """
    todo = [r for r in refs if not dst.has(r)]
    missing = [r for r in todo if not src.has(r)]
    if missing:
        first = missing[0]
        raise SyncError(
            f"{len(missing)} object(s) are missing from the {src.label}, e.g. {first.oid} of "
            f"{first.owner or '?'}: run `dvc commit` or `dvc add` for it, or fetch it first"
        )
    for batch in ([r for r in todo if not r.is_dir], [r for r in todo if r.is_dir]):
        if not batch:
            continue
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            futures = [pool.submit(dst.add_copy, src.path(r), r, verify, share)
                       for r in batch]
            for ref, future in zip(batch, futures):
                yield ref, future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def remove_tree(path: Path) -> None:
    """Remove our own scratch directories (never objects): read-only files included."""
    def onerror(func, p, _exc):  # type: ignore[no-untyped-def]
        try:
            os.chmod(os.path.dirname(p), 0o755)
            os.chmod(p, 0o644)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=onerror)
