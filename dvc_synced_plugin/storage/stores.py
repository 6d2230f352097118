"""Object stores on this machine: the DVC cache and the local storage (a DVC local remote).

Objects are immutable: a new object is written to a temporary name in its final
directory, checked against its hash, made read-only, then linked to its final name,
which fails rather than replace an object that is already there.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
import stat
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Optional, TypeVar

from dvc_synced_plugin import faults, safety, tempnames
from dvc_synced_plugin.errors import CorruptObjectError, SyncError
from dvc_synced_plugin.fs import atomic_write
from dvc_synced_plugin.oids import OID_RE, ObjectRef
from dvc_synced_plugin.safety import CHUNK, content_hash, expected_hash

T = TypeVar("T")
R = TypeVar("R")

WORK_DIR = ".dvc-synced"  # our scratch space inside a store, never an object path
TMP_DIR = "tmp"  # objects on their way in, under WORK_DIR (see ObjectStore.temp_for)
PLAIN_LIST = "clean-manifests"  # manifests proven clean (safety) on their way in


class ObjectStore:
    """A directory in DVC's object layout."""

    def __init__(self, root: Path, label: str, record_proofs: bool = False) -> None:
        self.root = root
        self.label = label  # "cache", "local storage": used in messages
        self.record_proofs = record_proofs  # may note proven manifests (see manifest_problem)
        self._plain: Optional[set[str]] = None

    def path(self, ref: ObjectRef) -> Path:
        return self.root / ref.relpath

    def has(self, ref: ObjectRef) -> bool:
        return os.path.isfile(os.path.join(self.root, ref.relpath))  # no Path per call

    # Above this many objects, presence is read from directory listings: one readdir per
    # object directory instead of a stat per object (10^6 stats took 15 s, listings 1 s).
    LIST_FROM = 20_000

    def present(self, refs: Iterable[ObjectRef]) -> set[ObjectRef]:
        """Those of `refs` this store holds (as `has` says, faster for many)."""
        refs = list(refs)
        if len(refs) < self.LIST_FROM:
            return {r for r in refs if self.has(r)}
        by_dir: dict[str, list[ObjectRef]] = {}
        for ref in refs:
            head, _, name = ref.relpath.rpartition("/")
            by_dir.setdefault(head, []).append(ref)
        found: set[ObjectRef] = set()
        for head, group in by_dir.items():
            try:
                with os.scandir(os.path.join(self.root, head)) as entries:
                    names = {e.name for e in entries if e.is_file()}
            except (FileNotFoundError, NotADirectoryError):
                continue
            found.update(r for r in group if r.relpath.rpartition("/")[2] in names)
        return found

    def missing(self, refs: Iterable[ObjectRef]) -> list[ObjectRef]:
        refs = list(refs)
        if len(refs) < self.LIST_FROM:
            return [r for r in refs if not self.has(r)]
        here = self.present(refs)
        return [r for r in refs if r not in here]

    def read(self, ref: ObjectRef) -> Optional[bytes]:
        try:
            return self.path(ref).read_bytes()
        except OSError:
            return None

    def size(self, ref: ObjectRef) -> int:
        return os.path.getsize(self.path(ref))

    def manifest_problem(self, ref: ObjectRef, data: bytes) -> Optional[str]:
        """`unsafe_manifest` of `data`, the content of manifest `ref`.

        When this store holds the version the plan compared `ref` with, and that version
        was proven clean on its way in (listed in PLAIN_LIST), only the entries that differ
        are checked: a change of 10 in 10^6 entries no longer costs a regex over 80 MB.
        """
        base = None
        if self.has_clean_base(ref) and not ref.legacy and not safety.proven(ref.oid):
            base = self.read(ObjectRef(safety.base_of(ref.oid) or "", ref.legacy))
        # A legacy (2.x) name is an md5 with CRLF folded: it names more than one text, so
        # neither its verdict nor its proof is kept for the name.
        problem, clean = safety.manifest_check(ref.oid, data, ref.owner, base,
                                               remember=not ref.legacy)
        clean = clean and not ref.legacy
        if problem is None and clean and self.record_proofs:
            self._note_plain(ref.oid)
        return problem

    def has_clean_base(self, ref: ObjectRef) -> bool:
        """Whether `manifest_problem(ref)` can look at the delta alone (it is then cheap)."""
        base_oid = safety.base_of(ref.oid)
        return bool(base_oid) and base_oid in self._plain_list()

    def _plain_list(self) -> set[str]:
        if self._plain is None:
            try:
                text = (self.root / WORK_DIR / PLAIN_LIST).read_text()
                self._plain = {line for line in text.split() if OID_RE.match(line)}
            except (OSError, UnicodeDecodeError):
                self._plain = set()
        return self._plain

    def _note_plain(self, oid: str) -> None:
        plain = self._plain_list()
        if oid in plain:
            return
        try:
            with open(self.work_dir("") / PLAIN_LIST, "a") as fobj:
                fobj.write(f"{oid}\n")
            plain.add(oid)
        except OSError:
            pass  # only a shortcut for the next check is lost

    def work_dir(self, name: str) -> Path:
        path = self.root / WORK_DIR / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def temp_for(self, final: Path) -> Path:
        """A temporary name for an object on its way in: in one directory of our own, so
        one listing finds what a killed run left (`sweep`), not 256 object directories."""
        return tempnames.temp_for(self.work_dir(TMP_DIR) / final.name)

    def sweep(self) -> None:
        """Remove what killed runs left half-written; the caller holds the storage lock,
        which every writer of objects holds."""
        tmp = self.root / WORK_DIR / TMP_DIR
        tempnames.sweep(tmp, everyone=True)
        if self.label == "DVC cache":  # leave DVC's cache as we found it
            with contextlib.suppress(OSError):
                os.rmdir(tmp)
                os.rmdir(tmp.parent)

    def add_copy(self, src: Path, ref: ObjectRef, verify: bool = True,
                 share: bool = False, link_shared: bool = True) -> bool:
        """Copy `src` in as `ref`; False when the object was there already.

        `share`: a reflink or hard link of `src` serves as the copy: no second write of
        the data, and on ext4 no second copy on disk. The bytes are hashed under the
        temporary name before they get theirs: an in-place edit of a workspace file
        hard-linked to `src` (cache.type hardlink) is caught here, before the object
        reaches another store, clone or central.

        `link_shared=False`: hard-link `src` only when no other name shares its inode. The
        local storage is read by every clone of this user: an inode it shares with one
        clone's cache may be that clone's workspace file (a link cache type), so a second
        clone hard-linking it would take every later in-place write of the first into its
        own cache. A reflink is a new inode (copy-on-write) and always safe.
        """
        final = self.path(ref)
        if final.exists():
            return False
        tmp = self.temp_for(final)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            if share and verify and _share(src, tmp, link_shared):
                if _hashed_here(tmp):  # adopted by this process a moment ago: not again
                    _refuse_unsafe(self, tmp, ref)
                    return self._publish(tmp, final)
                # A manifest (80 MB at 10^6 files) is read once, then hashed and checked.
                data = tmp.read_bytes() if ref.is_dir else None
                got = (safety.verify(tmp, ref) if data is None
                       else safety.bytes_hash_problem(data, ref))
                if got is not None:
                    raise changed_in_place(src, ref, got)
                _refuse_unsafe(self, tmp, ref, data)
                return self._publish(tmp, final)
            with open(src, "rb") as fin, open(tmp, "wb") as fout:
                if verify:
                    got = content_hash(fin, ref.legacy, copy_to=fout)
                    if got != expected_hash(ref):
                        if os.fstat(fin.fileno()).st_nlink > 1:  # a linked workspace file?
                            raise changed_in_place(src, ref, got)
                        raise CorruptObjectError(
                            f"{src} does not hash to {ref.oid} (got {got}); it belongs to "
                            f"{ref.owner or ref.oid}: restore it with `dvc add` or re-fetch it"
                        )
                else:
                    shutil.copyfileobj(fin, fout, CHUNK)
                fout.flush()
                os.fsync(fout.fileno())
            if verify:
                _refuse_unsafe(self, tmp, ref)
            return self._publish(tmp, final)
        except OSError as exc:
            raise self._write_error(ref, exc) from exc
        finally:
            if os.path.lexists(tmp):
                tmp.unlink()

    def _publish(self, tmp: Path, final: Path) -> bool:
        if self.label == "DVC cache":
            faults.point("cache")  # an object written or linked in, not yet named
        return self._name(tmp, final)

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

        `checked`: `unsafe_manifest` of this manifest's content, computed earlier, after
        the manifest source hashed this staged file (it is not hashed again)."""
        got = None if checked is not None else safety.verify(staged, ref)
        if got is not None:
            staged.unlink()
            raise CorruptObjectError(
                f"central's copy of {ref.relpath} is corrupt (hashes to {got}); it belongs to "
                f"{ref.owner or ref.oid}: run `dvc-synced verify` and re-push it from a clone "
                "that has it"
            )
        problem = None
        if ref.is_dir:
            problem = checked.result() if checked else self.manifest_problem(
                ref, staged.read_bytes())
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
            published = self._publish(staged, final)
            if published:
                _note_hashed(final)
            return published
        except OSError as exc:
            raise self._write_error(ref, exc) from exc
        finally:
            if staged.exists():
                staged.unlink()

    @staticmethod
    def _name(tmp: Path, final: Path) -> bool:
        st = os.stat(tmp)
        if st.st_nlink == 1:
            os.chmod(tmp, 0o444)
        elif st.st_mode & 0o222:
            # A hard link of a cache object a workspace file may be: read-only as DVC
            # keeps objects, but the x bit DVC's checkout gave it stays.
            os.chmod(tmp, stat.S_IMODE(st.st_mode) & 0o555)
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


GENERATION = "generation"  # under WORK_DIR: changes whenever objects may have left


def generation(root: Path, renew: bool = False) -> str:
    """A token naming this local storage's current contents, for memos that vouch for
    them (`fetch.Fetched`): `gc` renews it before it removes anything, and a storage
    deleted and made again starts without one, so a memo made before is not trusted."""
    path = root / WORK_DIR / GENERATION
    if not renew:
        try:
            token = path.read_text().strip()
            if token:
                return token
        except OSError:
            pass
    token = os.urandom(8).hex()
    atomic_write(path, token + "\n")
    return token


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


def changed_in_place(src: Path, ref: ObjectRef, got: str) -> CorruptObjectError:
    """A shared object whose bytes no longer match its name: nothing of it is passed on."""
    return CorruptObjectError(
        f"{src} does not hash to {ref.oid} (got {got}): it was changed in place (a "
        f"hard-linked or symlinked workspace file written to?); it belongs to "
        f"{ref.owner or ref.oid} and was not passed on: remove that file and run "
        "`dvc-synced pull` to fetch it again, or restore it with `dvc add`"
    )


def _refuse_unsafe(store: ObjectStore, tmp: Path, ref: ObjectRef,
                   data: Optional[bytes] = None) -> None:
    """A manifest passed between stores gets the check a download gets: the local storage
    is filled by every clone of this user, not only through the door from central."""
    if ref.is_dir and not safety.proven(ref.oid):  # not 80 MB read again for a verdict known
        problem = store.manifest_problem(ref, tmp.read_bytes() if data is None else data)
        if problem:
            raise CorruptObjectError(
                f"the manifest {ref.relpath} of {ref.owner or ref.oid} is refused: {problem}; "
                "nothing of it was passed on: re-add the directory with `dvc add`"
            )


AHEAD = 64  # tasks queued per worker beyond the one it runs (ordered_map)


def ordered_map(fn: Callable[[T], R], items: list[T], jobs: int
                ) -> Iterator[tuple[T, R]]:
    """(item, fn(item)) in the order of `items`, `jobs` running at a time; a failure is
    raised when its turn comes, with nothing after it yielded.

    At most `jobs * AHEAD` tasks are queued at once: a future costs about 1.9 KB (its
    condition, lock and work item), so submitting the 100,000 objects of a first push
    up front held 185 MB until the last was done (#23). The window is topped up once
    half of it is done, not per task: a submit per result woke an idle worker each
    time (10% more CPU hashing 30,000 small files than submitting all at once; topped
    up in halves, no more)."""
    if not items:
        return
    workers = max(1, jobs)
    full = workers * AHEAD
    pool = ThreadPoolExecutor(max_workers=workers)
    window: deque[tuple[T, Future[R]]] = deque()
    queued = iter(items)
    try:
        while True:
            if len(window) <= full // 2:
                for item in itertools.islice(queued, full - len(window)):
                    window.append((item, pool.submit(fn, item)))
            if not window:
                return
            item, future = window.popleft()
            yield item, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def verify_objects(store: ObjectStore, refs: Iterable[ObjectRef], jobs: int) -> None:
    """Hash objects of a shared store before they are read out of it (e.g. uploaded).

    A store that shares inodes with a cache whose workspace links into it can hold an
    object edited in place; this is the check that stops it from spreading.
    """
    for _ in iter_verified(store, list(refs), jobs):
        pass


def iter_verified(store: ObjectStore, refs: list[ObjectRef],
                  jobs: int) -> Iterator[ObjectRef]:
    """`verify_objects` one object at a time, in the order given: each ref once its bytes
    hashed to its name, so a caller can send it while later ones are still being hashed.
    An object that does not hash right raises when its turn comes: none after it in the
    order has been yielded."""
    def check(ref: ObjectRef) -> None:
        got = safety.verify(store.path(ref), ref)
        if got is not None:
            raise changed_in_place(store.path(ref), ref, got)

    for ref, _ in ordered_map(check, refs, jobs):
        yield ref


def _share(src: Path, tmp: Path, link_shared: bool = True) -> bool:
    """`tmp` as a reflink, else a hard link, of `src`; False: copy it instead.

    Empty files are copied: DVC never links them either (ext4's 65,000-link limit). So is
    a symlink planted in a store: linking would take in (and chmod) whatever it names.
    `link_shared=False`: no hard link of an inode that has another name already."""
    if os.path.islink(src):
        return False
    st = os.stat(src)
    if st.st_size == 0:
        return False
    dev = os.stat(tmp.parent).st_dev
    for make in (reflink, os.link):
        if make is reflink and dev in _NO_REFLINK:
            continue
        if make is os.link and not link_shared and st.st_nlink > 1:
            return False
        try:
            make(src, tmp)
            return True
        except OSError as exc:
            if exc.errno not in LINK_ERRNOS:
                raise
            if make is reflink and exc.errno in (errno.EOPNOTSUPP, errno.ENOTTY):
                _NO_REFLINK.add(dev)  # ext4: each try costs a file created and removed
    return False


_NO_REFLINK: set[int] = set()  # devices where FICLONE is not supported at all

# Inodes this process hashed on their way into a store (`adopt`): a pull links each into
# the cache next, and hashing it again there (a 76 MB manifest at 10^6 files: 0.13 s)
# would check bytes checked milliseconds before. A write since then changes the mtime.
_HASHED: dict[tuple[int, int], tuple[int, int]] = {}


def _note_hashed(path: Path) -> None:
    st = os.stat(path)
    _HASHED[(st.st_dev, st.st_ino)] = (st.st_size, st.st_mtime_ns)


def _hashed_here(path: Path) -> bool:
    """A hard link of an inode `_note_hashed` saw, unchanged (a reflink is a new inode)."""
    st = os.stat(path)
    return _HASHED.get((st.st_dev, st.st_ino)) == (st.st_size, st.st_mtime_ns)


def copy_objects(
    src: ObjectStore, dst: ObjectStore, refs: list[ObjectRef], jobs: int, verify: bool,
    share: bool = False, link_shared: bool = True,
) -> tuple[int, int]:
    """Copy objects dst lacks, files before manifests; returns (count, bytes) copied."""
    count = size = 0
    for ref, wrote in iter_copies(src, dst, refs, jobs, verify, share, link_shared):
        if wrote:
            count += 1
            size += src.size(ref)
    return count, size


def iter_copies(
    src: ObjectStore, dst: ObjectStore, refs: list[ObjectRef], jobs: int, verify: bool,
    share: bool = False, link_shared: bool = True,
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
        yield from ordered_map(
            lambda r: dst.add_copy(src.path(r), r, verify, share, link_shared), batch, jobs)


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
