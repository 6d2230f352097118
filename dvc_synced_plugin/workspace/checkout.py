"""Bring the workspace to a pulled revision by touching only the entries that changed.

`dvc checkout` of a directory output walks the whole directory, looking up or computing the
hash of every file, to find what differs: seconds at 100,000 files for a change of ten.
The pointer diff already says what differs (old and new manifest), so this module applies
exactly that delta the way DVC does: link types from `cache.type` in order, each file
made under a temporary name and renamed in, copies with the umask's mode, hard links to
the read-only cache object, empty files never hard-linked, empty directories pruned.

It never overwrites what it cannot prove is the old version (or already the new one):
an output with a local change, an unusual path, a legacy 2.x object or a missing manifest
goes to `dvc checkout` instead, which decides as it always did. DVC refuses to check out
a directory holding a file it does not know; to see one without listing 100,000 files,
the mtime of every directory of each directory output is recorded as the last checkout
left it (`DirRecord`): a directory whose mtime moved since goes to DVC.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from dvc_synced_plugin import faults, tempnames
from dvc_synced_plugin.dvcfiles.objects import ManifestDelta, manifest_map
from dvc_synced_plugin.dvcfiles.pointers import Out
from dvc_synced_plugin.fs import atomic_write
from dvc_synced_plugin.git.gitinfo import STATE_DIR
from dvc_synced_plugin.oids import ObjectRef
from dvc_synced_plugin.safety import check_entry, content_hash, plain_relpath
from dvc_synced_plugin.storage.stores import LINK_ERRNOS, ObjectStore, reflink

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
    mkdirs: list[Path] = field(default_factory=list)  # directory outputs, also when empty
    modes: list[tuple[Path, bool]] = field(default_factory=list)  # single files: isexec
    dir_outs: list[tuple[Path, Out]] = field(default_factory=list)  # to record afterwards


class _Checker:
    """Which version a workspace file holds, proved from its bytes.

    A hard link or symlink to a cache object is no proof: with a link cache type the
    user may have made the file writable and written it in place (DVC's `dvc unprotect`
    workflow, or a plain `chmod u+w`), which changes the object too. DVC then finds the
    file's hash in no cache object and refuses to replace it ("unsaved files"); so must
    we. Only the entries a change touches are hashed, so the cost follows the change.
    """

    def __init__(self, cache: ObjectStore) -> None:
        self.cache = cache
        self.safe_dirs: set[Path] = set()
        self.refused: list[Path] = []  # files with unsaved changes that a plan would replace
        self._hashed: dict[tuple[int, int, int, int], str] = {}

    def _object_stat(self, md5: str) -> Optional[os.stat_result]:
        try:
            return os.stat(self.cache.path(ObjectRef(md5, False)))
        except OSError:
            return None

    def _hash(self, path: Path, st: os.stat_result) -> str:
        """md5 of the file behind `path`, once per inode state (hard links of one object)."""
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        got = self._hashed.get(key)
        if got is None:
            with open(path, "rb") as fobj:
                got = content_hash(fobj, legacy=False)
            self._hashed[key] = got
        return got

    def holds(self, path: Path, candidates: tuple[Optional[str], ...]) -> Optional[str]:
        """"" when `path` is absent, the candidate md5 it holds, None for anything else."""
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return ""  # absent, or a file on the way that this plan removes first
        wanted = [c for c in candidates if c]
        if stat.S_ISLNK(st.st_mode):
            try:
                st = os.stat(path)  # a symlink is DVC's only when it points at the object
            except OSError:
                return None
            if not any((obj := self._object_stat(md5)) is not None and os.path.samestat(st, obj)
                       for md5 in wanted):
                return None
            got = self._hash(path, st)  # ... and the object still holds its bytes
            if got not in wanted:
                self.refused.append(path)
                return None
            return got
        if not stat.S_ISREG(st.st_mode):
            return None
        sizes = [obj.st_size if (obj := self._object_stat(md5)) is not None else None
                 for md5 in wanted]
        if all(size is not None and size != st.st_size for size in sizes):
            self.refused.append(path)
            return None  # no candidate has this size: a local change
        got = self._hash(path, st)
        if got not in wanted:
            self.refused.append(path)
            return None
        return got

    def parents_safe(self, root: Path, path: Path, removed: frozenset[Path] = frozenset()
                     ) -> bool:
        """No directory between the output root and `path` is a symlink or a file (a file
        in `removed`, the old version this plan deletes first, makes way for the dir)."""
        parent = path.parent
        chain = []
        while parent != root and parent not in self.safe_dirs:
            chain.append(parent)
            parent = parent.parent
        for directory in chain:
            try:
                st = os.lstat(directory)
            except (FileNotFoundError, NotADirectoryError):
                continue  # made on the way
            if directory in removed and stat.S_ISREG(st.st_mode):
                continue
            if not stat.S_ISDIR(st.st_mode):
                return False
        self.safe_dirs.update(chain)
        return True


def _plan_entries(
    checker: _Checker, root: Path, delta: ManifestDelta, owner: str, plan: Plan
) -> bool:
    """Plan one directory output's delta; False when any entry is not provably safe.

    Removals are planned first: a file `a` that becomes a directory `a/x/y` goes before
    `a/x/y` is made (the reverse, a directory becoming a file, is left to DVC).
    """
    before, after = delta.before, delta.after
    removed: set[Path] = set()
    for rel in before.keys() - after.keys():
        if not isinstance(rel, str) or not plain_relpath(rel):
            return False
        path = root.joinpath(*rel.split("/"))
        if not checker.parents_safe(root, path):
            return False
        held = checker.holds(path, (before[rel],))
        if held is None:
            return False  # changed locally: DVC asks or refuses, as it always did
        if held:
            plan.remove.append(path)
            removed.add(path)
    frozen = frozenset(removed)
    for rel, md5 in after.items():
        check_entry(rel, md5, owner)
        if not plain_relpath(rel):
            return False
        path = root.joinpath(*rel.split("/"))
        if not checker.parents_safe(root, path, frozen):
            return False
        held = checker.holds(path, (before.get(rel), md5))
        if held is None:
            return False  # changed locally, or an untracked file in the way
        if held != md5:  # absent or the old version; the new one is there after a cut pull
            plan.create.append((path, md5))
    plan.prune_below.add(root)
    plan.mkdirs.append(root)
    return True


def plan_output(
    repo: Path, checker: _Checker, old: Optional[Out], new: Out,
    deltas: dict[tuple[str, str], ManifestDelta], plan: Plan,
    record: Optional[DirRecord] = None,
) -> bool:
    """Add the delta of one changed output to `plan`; False: leave it to `dvc checkout`."""
    if new.legacy or (old is not None and old.legacy) or not plain_relpath(new.path):
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
            plan.dir_outs.append((path, new))
            return _plan_entries(checker, path, delta, new.path, plan)
        delta = deltas.get((old.oid, new.oid))
        try:
            is_dir = stat.S_ISDIR(os.lstat(path).st_mode)
        except FileNotFoundError:
            return False  # the whole output is gone: a plain `dvc checkout` restores it
        if delta is None or not is_dir:
            return False
        if record is not None and not record.unchanged(path, new.path, old.oid):
            return False  # a file may have come or gone in there: DVC decides
        plan.dir_outs.append((path, new))
        return _plan_entries(checker, path, delta, new.path, plan)
    if old is not None and old.is_dir:
        return False
    held = checker.holds(path, (old.oid if old else None, new.oid))
    if held is None:
        return False
    if held != new.oid:
        plan.create.append((path, new.oid))
    plan.modes.append((path, new.isexec))
    return True


class _Linker:
    """Materialize cache objects in the workspace like dvc-objects' `transfer`.

    Each file is made under a temporary name (`tempnames`, with this update's token, so
    the journal names it in advance) and renamed in."""

    def __init__(self, cache: ObjectStore, links: list[str], token: str = "") -> None:
        self.cache = cache
        self.links = [t for t in links if t in ("reflink", "hardlink", "symlink", "copy")]
        if not self.links:
            self.links = list(DEFAULT_LINKS)
        self.mode = 0o666 & ~_umask()
        self.token = token or tempnames.new_token()

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
        tmp = tempnames.temp_for(path, self.token)
        try:
            while True:
                link = self.links[0]
                try:
                    self._make(link, src, tmp)
                    break
                except OSError as exc:
                    if os.path.lexists(tmp):
                        tmp.unlink()
                    if link == "copy" or exc.errno not in LINK_ERRNOS or len(self.links) == 1:
                        raise
                    del self.links[0]
            faults.point("workspace")
            tempnames.replace(tmp, path)
        finally:  # an error or an interrupt (SIGINT, SIGTERM, SIGHUP): no temporary name left
            if os.path.lexists(tmp):
                tmp.unlink()


def _prune(path: Path, root: Path) -> None:
    parent = path.parent
    while parent != root and root in parent.parents:
        try:
            os.rmdir(parent)
        except OSError:
            return
        parent = parent.parent


def set_exec(path: Path, isexec: bool) -> None:
    """The owner's x bit as DVC leaves it: `isexec` adds it (through a link, as DVC's
    chmod does); a copy checked out afresh without `isexec` has none. A link's bit is
    its cache object's, which other outputs share: `settle_exec` takes it off."""
    st = os.stat(path)
    mode = st.st_mode | stat.S_IXUSR if isexec else st.st_mode & ~0o111
    if mode != st.st_mode and (isexec or (not os.path.islink(path) and st.st_nlink == 1)):
        os.chmod(path, stat.S_IMODE(mode))


def settle_exec(cache: ObjectStore, candidates: Iterable[str],
                executable: Callable[[], set[str]]) -> int:
    """Take the x bit off each candidate cache object no `isexec` output of HEAD has.

    With a link cache type a workspace file's mode is its object's, and an object keeps
    the bit an `isexec` output once gave it (ours or DVC's chmod through the link) after
    that output changed or left. A fresh clone's `dvc pull` has it only where HEAD says
    so: its fetch checks every object HEAD needs and protects it to 0444
    (dvc_data/hashfile/db/local.py: oids_exist -> check -> protect), then its checkout
    adds the bit for `isexec` entries alone (dvc_data/index/checkout.py: _chmod_files).
    `candidates`: the objects this update's outputs had or have (an object gains the
    bit only from an `isexec` output, and loses that output only in a change).
    `executable`: the objects of HEAD's `isexec` outputs, asked for only when a
    candidate has the bit. Returns how many objects lost it."""
    keep: Optional[set[str]] = None
    settled = 0
    for md5 in candidates:
        path = cache.path(ObjectRef(md5, False))
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o111:
            continue
        if keep is None:
            keep = executable()
        if md5 not in keep:
            with contextlib.suppress(OSError):  # a shared cache we may not chmod: DVC too
                os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o111)
                settled += 1
    return settled


def update(
    repo: Path, cache: ObjectStore, links: list[str],
    changed: list[tuple[Optional[Out], Out]], deltas: dict[tuple[str, str], ManifestDelta],
    record: Optional[DirRecord] = None, journal: Optional[Path] = None,
) -> set[str]:
    """Apply the changed outputs to the workspace; returns the targets left to DVC.

    A target (a .dvc file or a dvc.yaml stage) is done here only when all its changed
    outputs are; otherwise DVC checks out the whole target, untouched by us. With a
    `record`, a directory output is done here only when none of its directories changed
    since the last checkout (no untracked file in it). `journal`: where the temporary
    names this update will use are written first, so a run after a SIGKILL removes them
    (`recover`). Files a plan would replace that hold unsaved changes are in
    `refused_files` afterwards (DVC then refuses their target, as it always did).
    """
    checker = _Checker(cache)
    plans: dict[str, Plan] = {}
    left: set[str] = set()
    for old, new in changed:
        if new.target in left:
            continue
        plan = plans.setdefault(new.target, Plan())
        if not plan_output(repo, checker, old, new, deltas, plan, record):
            left.add(new.target)
            plans.pop(new.target, None)
    refused_files[:] = checker.refused
    for target in [t for t, plan in plans.items()
                   if any(not cache.has(ObjectRef(md5, False)) for _, md5 in plan.create)]:
        left.add(target)  # not after a complete pull; DVC names what is missing
        del plans[target]
    linker = _Linker(cache, links)
    creates = [path for plan in plans.values() for path, _ in plan.create]
    if journal is not None and creates:
        _write_journal(journal, repo, linker.token, creates)
    for plan in plans.values():
        for path in plan.remove:
            path.unlink()
            for root in plan.prune_below:
                if root in path.parents:
                    _prune(path, root)
        for path in plan.mkdirs:
            path.mkdir(parents=True, exist_ok=True)  # an empty directory is an output too
        for path, md5 in plan.create:
            linker.put(path, md5)
        for path, isexec in plan.modes:
            set_exec(path, isexec)
        if record is not None:
            for path, out in plan.dir_outs:
                touched = [p for p, _ in plan.create] + plan.remove
                record.after_update(path, out, touched)
    if journal is not None and creates:
        with contextlib.suppress(FileNotFoundError):
            journal.unlink()  # every temporary name is gone: put() removes its own
    if record is not None:
        record.save()
    return left


refused_files: list[Path] = []  # the last update's files with unsaved changes


def journal_file(git_dir: Path) -> Path:
    return git_dir / STATE_DIR / "journal"


def _write_journal(journal: Path, repo: Path, token: str, paths: list[Path]) -> None:
    """The temporary names an update is about to use, written before the first of them:
    the token, then each final path relative to the work tree (NUL-separated)."""
    body = b"\0".join(os.fsencode(p.relative_to(repo)) for p in paths)
    atomic_write(journal, token.encode() + b"\n" + body)


DVC_TEMP = re.compile(r"^\.[A-Za-z0-9_-]{22}\.tmp$")  # dvc-objects' tmp_fname("")


@contextlib.contextmanager
def dvc_journal(git_dir: Path, out_paths: list[str]) -> Iterator[None]:
    """Note the outputs `dvc checkout` is about to write, for `recover` after a SIGKILL."""
    journal = git_dir / STATE_DIR / "journal-dvc"
    atomic_write(journal, b"\0".join(os.fsencode(p) for p in sorted(set(out_paths))))
    yield
    with contextlib.suppress(FileNotFoundError):
        journal.unlink()


def _remove_dvc_temps(repo: Path, journal: Path) -> int:
    """DVC's temporary names inside the outputs a killed `dvc checkout` was writing (a walk
    of those outputs, only after a kill) and beside single-file outputs."""
    try:
        data = journal.read_bytes()
    except FileNotFoundError:
        return 0
    removed = 0
    for rel in (os.fsdecode(p) for p in data.split(b"\0") if p):
        if not plain_relpath(rel):
            continue
        path = repo / rel
        tops = [path.parent]
        if path.is_dir() and not path.is_symlink():
            tops += [Path(top) for top, _dirs, _files in os.walk(path)]
        for top in tops:
            with contextlib.suppress(OSError), os.scandir(top) as entries:
                for entry in entries:
                    if DVC_TEMP.match(entry.name) and entry.is_file(follow_symlinks=False):
                        os.unlink(entry.path)
                        removed += 1
    journal.unlink()
    return removed


def recover(repo: Path, git_dir: Path) -> int:
    """Remove what a killed run left: the workspace update's temporary files (named in its
    journal) and our half-written files in the state directory. Returns how many went.

    Called with the workspace lock held, before anything else writes the workspace:
    a journal then belongs to a run that is gone."""
    removed = tempnames.sweep(git_dir / STATE_DIR, older_than=600)
    removed += _remove_dvc_temps(repo, git_dir / STATE_DIR / "journal-dvc")
    journal = journal_file(git_dir)
    try:
        data = journal.read_bytes()
    except FileNotFoundError:
        return removed
    token, _, body = data.partition(b"\n")
    for rel in body.split(b"\0") if body else []:
        final = repo / os.fsdecode(rel)
        tmp = tempnames.temp_for(final, token.decode())
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(tmp)
            removed += 1
    journal.unlink()
    return removed


class DirRecord:
    """mtime_ns of each directory of every directory output, as the last checkout left it.

    A file made or removed in a directory moves that directory's mtime (git never writes
    inside an output: it is ignored), so comparing the recorded mtimes proves, in one
    stat per directory, that no untracked file came in. An output without a record (or
    recorded at another version) cannot be proved clean and goes to DVC.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, list] = {}
        self.dirty = False
        try:
            loaded = json.loads(path.read_text())
            if isinstance(loaded, dict):
                self.data = loaded
        except (OSError, ValueError):
            pass

    def unchanged(self, root: Path, out_path: str, oid: str) -> bool:
        entry = self.data.get(out_path)
        if not (isinstance(entry, list) and len(entry) == 2 and entry[0] == oid
                and isinstance(entry[1], dict)):
            return False
        for rel, mtime in entry[1].items():
            try:
                if os.stat(root / rel if rel else root).st_mtime_ns != mtime:
                    return False
            except OSError:
                return False
        return True

    def after_update(self, root: Path, out: Out, touched: list[Path]) -> None:
        """Re-stat the directories our update wrote in; others kept their mtime."""
        entry = self.data.get(out.path)
        dirs: dict[str, int] = dict(entry[1]) if isinstance(entry, list) else {}
        if not dirs:
            self.record(root, out)
            return
        seen: set[Path] = set()
        for path in touched:
            parent = path.parent
            while parent not in seen and (parent == root or root in parent.parents):
                seen.add(parent)
                rel = parent.relative_to(root).as_posix()
                rel = "" if rel == "." else rel
                try:
                    dirs[rel] = os.stat(parent).st_mtime_ns
                except OSError:
                    dirs.pop(rel, None)  # pruned
                if parent == root:
                    break
                parent = parent.parent
        self.data[out.path] = [out.oid, dirs]
        self.dirty = True

    def record(self, root: Path, out: Out) -> None:
        """After DVC checked `out` out (it walked it anyway): every directory's mtime."""
        dirs: dict[str, int] = {}
        for top, _subdirs, _files in os.walk(root):
            rel = os.path.relpath(top, root)
            dirs["" if rel == "." else rel.replace(os.sep, "/")] = os.stat(top).st_mtime_ns
        if dirs:
            self.data[out.path] = [out.oid, dirs]
        else:
            self.data.pop(out.path, None)
        self.dirty = True

    def forget(self, out_path: str) -> None:
        if self.data.pop(out_path, None) is not None:
            self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        atomic_write(self.path, json.dumps(self.data))
        self.dirty = False


def record_checked_out(root: Path, record: DirRecord, outs: list[Out]) -> None:
    """Record the directory outputs DVC just checked out."""
    for out in outs:
        if out.is_dir and plain_relpath(out.path):
            path = root.joinpath(*out.path.split("/"))
            if os.path.isdir(path) and not os.path.islink(path):
                record.record(path, out)
            else:
                record.forget(out.path)
    record.save()


def record_file(git_dir: Path) -> DirRecord:
    return DirRecord(git_dir / STATE_DIR / "dirs")


def removed_outputs(pairs: list[tuple[list[Out], list[Out]]],
                    still_recorded: Optional[set[str]] = None) -> list[Out]:
    """Old-side outputs whose path no new-side output keeps (moved, untracked, dropped).

    Plain `dvc pull` removes those (DVC's state remembers what it checked out); an output
    overlapping a new one (`d` -> `d/sub`) or still recorded uncached is left alone.
    """
    new_paths = {o.path for _, new in pairs for o in new} | (still_recorded or set())
    gone: dict[str, Out] = {}
    for old, _ in pairs:
        for out in old:
            if out.path in new_paths or any(
                    p.startswith(out.path + "/") or out.path.startswith(p + "/")
                    for p in new_paths):
                continue
            gone.setdefault(out.path, out)
    return list(gone.values())


def remove_stale(
    repo: Path, cache: ObjectStore, outs: list[Out],
    read_manifest: Callable[[ObjectRef], Optional[bytes]],
    record: Optional[DirRecord] = None,
    in_git: Optional[dict[str, set[str]]] = None,
) -> list[str]:
    """Remove outputs HEAD no longer has where they hold exactly the old version.

    Returns the paths kept because they differ from it (local changes stay the user's).
    A directory is compared whole: its files against the old manifest, nothing else in it,
    except the files git tracks there (`in_git`: output path -> relpaths), which git wrote
    and which stay.
    """
    checker = _Checker(cache)
    kept: list[str] = []
    for out in outs:
        if out.legacy or not plain_relpath(out.path) or out.path.startswith(".dvc/"):
            continue
        path = repo.joinpath(*out.path.split("/"))
        if not checker.parents_safe(repo, path) or not os.path.lexists(path):
            continue
        if record is not None:
            record.forget(out.path)
        git_files = (in_git or {}).get(out.path, set())
        if not _holds_whole(checker, path, out, read_manifest, git_files):
            kept.append(out.path)
            continue
        if out.is_dir and git_files:
            _remove_but(path, git_files)
        elif out.is_dir:
            _make_writable_dirs(path)
            shutil.rmtree(path)
        else:
            path.unlink()
        _prune(path, repo)
    if record is not None:
        record.save()
    return kept


def _holds_whole(checker: _Checker, path: Path, out: Out,
                 read_manifest: Callable[[ObjectRef], Optional[bytes]],
                 git_files: frozenset[str] | set[str] = frozenset()) -> bool:
    if not out.is_dir:
        return checker.holds(path, (out.oid,)) == out.oid
    if os.path.islink(path) or not os.path.isdir(path):
        return False
    data = read_manifest(ObjectRef(out.oid, False, out.path))
    if data is None:
        return False
    entries = {k: v for k, v in manifest_map(data, False, out.path).items()
               if k not in git_files}
    seen = 0
    for top, _dirs, files in os.walk(path):
        for name in files:
            rel = os.path.relpath(os.path.join(top, name), path).replace(os.sep, "/")
            if rel in git_files:
                continue  # git's file, not DVC's
            md5 = entries.get(rel)
            if not isinstance(md5, str) or checker.holds(Path(top, name), (md5,)) != md5:
                return False
            seen += 1
    return seen == len(entries)


def _remove_but(path: Path, git_files: set[str]) -> None:
    """Remove every file under `path` but git's, then the directories left empty."""
    _make_writable_dirs(path)
    for top, _dirs, files in os.walk(path, topdown=False):
        for name in files:
            rel = os.path.relpath(os.path.join(top, name), path).replace(os.sep, "/")
            if rel not in git_files:
                os.unlink(os.path.join(top, name))
        with contextlib.suppress(OSError):
            os.rmdir(top)  # not empty: git's files are in it


def _make_writable_dirs(path: Path) -> None:
    """rmtree needs write access to each directory (files may be read-only links)."""
    for top, _dirs, _files in os.walk(path):
        mode = os.stat(top).st_mode
        if not mode & stat.S_IWUSR:
            os.chmod(top, stat.S_IMODE(mode) | stat.S_IWUSR)
