"""`import-url` and `update`: data updated directly upstream, versioned by DVC and git.

The record of an import lives in its `.dvc` file under `meta` (DVC keeps `meta` across
`dvc add`, `status` and `checkout`): the URL, the transport, and the listing of every
upstream file at the version the `.dvc` file tracks. `update` lists the upstream once and
compares: by hash where both listings have one, else by size and mtime.

Safety: nothing in the workspace, the cache or the `.dvc` file changes until every needed
file is downloaded whole (size, and md5 where the listing has one) into a staging area under
`.dvc/tmp`, and a second listing shows the upstream did not move meanwhile. Staged files
survive a failed run, so the next one fetches only what is missing. The new version is
made in place (changed files replaced, removed ones removed) and re-tracked with `dvc add`:
DVC's state database knows the untouched files, so only changed files are hashed and only
their objects enter the cache. If `dvc add` fails, the old files are put back.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from dvc_synced_plugin import config
from dvc_synced_plugin.dvcfiles.dvcrepo import require_dvc_repo
from dvc_synced_plugin.errors import ConfigError, SyncError
from dvc_synced_plugin.fs import atomic_write
from dvc_synced_plugin.git.gitinfo import git_dir
from dvc_synced_plugin.imports.upstream import (
    TRANSPORTS,
    Entry,
    Upstream,
    check_relpath,
    default_transport,
)
from dvc_synced_plugin.oids import MD5
from dvc_synced_plugin.output import human_bytes
from dvc_synced_plugin.settings import Settings
from dvc_synced_plugin.storage.lock import workspace_lock

RECORD_KEY = "dvc-synced-import"  # under the .dvc file's top-level `meta`
STAGING = Path(".dvc") / "tmp" / "dvc-synced-imports"


# ------------------------------------------------------------------------------ the record


@dataclass
class Record:
    url: str
    transport: str
    kind: str  # "dir" | "file"
    files: dict[str, Entry]

    def as_meta(self) -> dict[str, Any]:
        return {"url": self.url, "transport": self.transport, "kind": self.kind,
                "files": Listing("".join(
                    f"{e.size} {e.mtime} {e.hash or '-'} {rel}\n"
                    for rel, e in sorted(self.files.items())))}


class Listing(str):
    """The files of a record: one `size mtime hash|- path` line each, as a YAML block.

    One block scalar, not a mapping: DVC parses .dvc files with ruamel's round-trip loader
    on every command, which takes ~18 s for a 20,000-entry mapping and ~1 s for this."""


def dvcfile_for(root: Path, path: str) -> tuple[str, Path]:
    """(PATH relative to the root, its .dvc file) for a PATH given on the command line."""
    full = Path(os.path.abspath(path))
    if full.suffix == ".dvc":
        full = full.with_suffix("")
    try:
        rel = full.relative_to(root).as_posix()
    except ValueError:
        raise ConfigError(f"{path} is outside the repository {root}") from None
    if rel in ("", ".") or rel.split("/")[0] in (".git", ".dvc"):
        raise ConfigError(f"{path} cannot hold imported data: choose a PATH in the workspace")
    return rel, full.with_name(full.name + ".dvc")


def _load_yaml(dvcfile: Path) -> dict[str, Any]:
    import yaml

    try:
        # libyaml's loader: ~50x faster than the pure-Python one on a large listing
        data = yaml.load(dvcfile.read_text(encoding="utf-8"),
                         Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        raise ConfigError(f"{dvcfile.name} does not exist: import the data first with "
                          "`dvc-synced import-url URL PATH`") from None
    except (yaml.YAMLError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise ConfigError(f"{dvcfile} is not valid YAML ({first}): restore "
                          f"it with `git checkout -- {dvcfile.name}`") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{dvcfile} is not a DVC file: restore it with `git checkout`")
    return data


def read_record(dvcfile: Path, rel: str) -> Record:
    data = _load_yaml(dvcfile)
    meta = data.get("meta")
    raw = meta.get(RECORD_KEY) if isinstance(meta, dict) else None
    if raw is None:
        raise ConfigError(f"{rel} has no upstream record in {dvcfile.name}: it was not made by "
                          "`dvc-synced import-url`; import the upstream with "
                          f"`dvc-synced import-url URL {rel}`")
    broken = (f"the upstream record in {dvcfile.name} is broken ({{}}): restore it with "
              f"`git checkout -- {dvcfile.name}`, or import again with `dvc-synced import-url`")
    if not isinstance(raw, dict):
        raise ConfigError(broken.format("not a mapping"))
    url, transport, kind, files = (raw.get(k) for k in ("url", "transport", "kind", "files"))
    if not isinstance(url, str) or not url:
        raise ConfigError(broken.format("no url"))
    if transport not in TRANSPORTS:
        raise ConfigError(broken.format(f"transport {transport!r}"))
    if kind not in ("dir", "file"):
        raise ConfigError(broken.format(f"kind {kind!r}"))
    if not isinstance(files, str):
        raise ConfigError(broken.format("files is not a block of lines"))
    entries: dict[str, Entry] = {}
    for line in files.splitlines():
        size, mtime, digest, name = (line.split(" ", 3) + ["", "", ""])[:4]
        try:
            check_relpath(name, dvcfile.name)
            float(mtime)
            if not size.isdigit() or not (digest == "-" or re.fullmatch(rf"md5:{MD5}",
                                                                        digest)):
                raise ValueError
        except (SyncError, ValueError):
            raise ConfigError(broken.format(f"line {line[:60]!r}")) from None
        if name in entries:
            raise ConfigError(broken.format(f"{name!r} listed twice"))
        entries[name] = Entry(int(size), mtime, "" if digest == "-" else digest)
    return Record(url, transport, kind, entries)


def write_record(dvcfile: Path, record: Record) -> None:
    """Rewrite the .dvc file with the record under `meta` (atomically: a reader never sees
    half a file)."""
    import yaml

    data = _load_yaml(dvcfile)
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    meta[RECORD_KEY] = record.as_meta()
    data["meta"] = meta
    class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
        """DVC's block style; the listing as a literal block, one file a line."""

    Dumper.add_representer(Listing, lambda d, v: d.represent_scalar(
        "tag:yaml.org,2002:str", str(v), style="|"))
    atomic_write(dvcfile, yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True,
                                    default_flow_style=False, width=100))


def find_imports(root: Path) -> list[tuple[str, Path]]:
    """Every .dvc file in the work tree (tracked or not, not ignored) with our record."""
    out = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard", "--", "*.dvc"],
                         cwd=root, capture_output=True, check=True).stdout
    found = []
    for name in sorted(set(out.decode("utf-8", "surrogateescape").split("\0")) - {""}):
        path = root / name
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if RECORD_KEY in text:
            found.append((name[: -len(".dvc")], path))
    return found


# ------------------------------------------------------------------------------ comparing


@dataclass
class Diff:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    fetch_bytes: int = 0  # bytes of added + changed files
    removed_bytes: int = 0

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    @property
    def count(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed)

    def summary(self) -> str:
        return (f"{len(self.changed)} changed, {len(self.added)} added, "
                f"{len(self.removed)} removed")


def same(old: Entry, new: Entry) -> bool:
    if old.hash and new.hash:
        return old.hash == new.hash and old.size == new.size
    return old.size == new.size and old.mtime == new.mtime


def compare(old: dict[str, Entry], new: dict[str, Entry]) -> Diff:
    diff = Diff()
    for rel in sorted(new):
        if rel not in old:
            diff.added.append(rel)
        elif not same(old[rel], new[rel]):
            diff.changed.append(rel)
        else:
            continue
        diff.fetch_bytes += new[rel].size
    for rel in sorted(set(old) - set(new)):
        diff.removed.append(rel)
        diff.removed_bytes += old[rel].size
    return diff


# ------------------------------------------------------------------------------ staging


def _staging(root: Path, rel: str) -> Path:
    return root / STAGING / hashlib.sha256(rel.encode()).hexdigest()[:16]


def _whole(path: Path, entry: Entry) -> bool:
    """A staged file is taken only when it is what the listing says: size, and the md5
    where the listing has one, else the mtime (rsync and rclone keep it)."""
    try:
        st = path.lstat()
    except OSError:
        return False
    if not path.is_file() or path.is_symlink() or st.st_size != entry.size:
        return False
    if entry.hash:
        digest = hashlib.md5()
        with open(path, "rb") as fobj:
            for block in iter(lambda: fobj.read(1 << 20), b""):
                digest.update(block)
        return f"md5:{digest.hexdigest()}" == entry.hash
    return int(st.st_mtime) == int(float(entry.mtime))


def _lock(root: Path, settings: Settings):  # type: ignore[no-untyped-def]
    """The work-tree lock the hooks take: an update never interleaves with a checkout."""

    return workspace_lock(git_dir(root), settings.timeout * 4)


def _prune(files: Path, keep: set[str]) -> None:
    if not files.is_dir():
        return
    for path in sorted(files.rglob("*"), reverse=True):
        name = path.relative_to(files).as_posix()
        if path.is_dir() and not path.is_symlink():
            if not any(path.iterdir()):
                path.rmdir()
        elif name not in keep:
            path.unlink()


def _fetch(up: Upstream, files: Path, wanted: dict[str, Entry]) -> int:
    """Bring every wanted file whole into `files`; returns how many crossed the wire."""
    missing = [rel for rel, e in sorted(wanted.items()) if not _whole(files / rel, e)]
    up.download(missing, files)
    bad = [rel for rel in sorted(wanted) if not _whole(files / rel, wanted[rel])]
    if bad:
        raise SyncError(
            f"{len(bad)} file(s) from {up.url} did not arrive whole (first: {bad[0]}); "
            "nothing was changed: run the command again (files that arrived are kept)")
    return len(missing)


def _check_unmoved(up: Upstream, before: dict[str, Entry], wanted: set[str]) -> None:
    after = up.list()
    if after != before:
        moved = sorted(r for r in set(before) | set(after) if before.get(r) != after.get(r))
        raise SyncError(
            f"the upstream {up.url} changed during the download ({len(moved)} file(s), first: "
            f"{moved[0]}); nothing was changed: run the command again once it is quiet")


# ------------------------------------------------------------------------------ DVC side


def _dvc_repo(root: Path):  # type: ignore[no-untyped-def]
    from dvc.repo import Repo

    return Repo(str(root))


def _dvc_add(root: Path, rel: str, repo: Any = None) -> None:
    if repo is None:
        with _dvc_repo(root) as own:
            return _dvc_add(root, rel, own)
    import logging

    # DVC's "To track the changes with git, run: ..." is our job (and --commit's) here.
    # Set after the Repo exists: opening one resets DVC's log level.
    logger = logging.getLogger("dvc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        repo.add([rel])
    except Exception as exc:  # DVC's own errors: one line, then roll back
        raise SyncError(f"dvc add {rel} failed ({type(exc).__name__}: {exc}): fix the cause "
                        "and run the command again") from None
    finally:
        logger.setLevel(level)


def _require_clean(repo: Any, rel: str, dvcfile: Path) -> None:
    """Local edits of an imported output are never overwritten."""
    try:
        result = repo.status(targets=[str(dvcfile)])
    except Exception as exc:  # DVC's own errors (a broken .dvc file): one line
        raise SyncError(f"dvc status {dvcfile.name} failed ({type(exc).__name__}: {exc}): "
                        "fix the cause and run update again") from None
    states: set[str] = set()
    for stage in result.values():
        for item in stage:
            if isinstance(item, dict):
                for outs in item.values():
                    if isinstance(outs, dict):
                        states.update(str(v) for v in outs.values())
    if "deleted" in states:
        raise SyncError(f"{rel} is not in the workspace: run `dvc-synced pull` (or "
                        f"`dvc checkout {dvcfile.name}`) first, then update again")
    if states & {"modified", "new"}:
        raise SyncError(f"{rel} has local edits that update would overwrite: keep them with "
                        f"`dvc add {rel}` and commit, or drop them with `dvc checkout -f "
                        f"{rel}`, then run update again")


# ------------------------------------------------------------------------------ import-url


def _settings(root: Path) -> tuple[Settings, Optional[str]]:
    """The project's settings and its central URL; an import needs no central, so a repo
    without `dvc-synced init` gets the defaults (ssh command, timeout, jobs)."""

    try:
        settings = config.load(root)
        return settings, settings.central
    except ConfigError as exc:
        if "no central storage" not in str(exc):
            raise
        return config.load(root, env={**os.environ, "DVC_SYNCED_CENTRAL": "unset:"}), None


def _inside(child: str, parent: str) -> bool:
    child, parent = child.rstrip("/"), parent.rstrip("/")
    return child == parent or child.startswith(parent + "/")


def _refuse_bad_upstream(root: Path, settings: Settings, central: Optional[str],
                         up: Upstream) -> None:
    if up.local_path is not None:
        real = os.path.realpath(up.local_path)
        if _inside(real, os.path.realpath(root)):
            raise ConfigError(f"the upstream {up.url} is inside this workspace: import from a "
                              "location outside it (data in the workspace is tracked with "
                              "`dvc add`)")
    if central:
        c = Upstream(settings, central, settings.transport)
        c.close()  # only its parsed location is needed
        same_place = _inside(up.location, c.location) or _inside(c.location, up.location)
        if c.local_path and up.local_path:
            a, b = os.path.realpath(up.local_path), os.path.realpath(c.local_path)
            same_place = same_place or _inside(a, b) or _inside(b, a)
        if same_place:
            raise ConfigError(f"the upstream {up.url} is the central storage ({central}): "
                              "import the data's own location, not DVC's object store")


def import_url(root: Path, url: str, path: Optional[str], transport: Optional[str]) -> str:
    require_dvc_repo(root)
    settings, central = _settings(root)
    transport = transport or default_transport(url)
    with Upstream(settings, url, transport) as up:
        _refuse_bad_upstream(root, settings, central, up)
        if path is None:
            tail = up.location.split(":", 1)[-1] if not up.local_path else up.location
            path = os.path.basename(tail.rstrip("/")) or "data"
        rel, dvcfile = dvcfile_for(root, path)
        target = root / rel
        if os.path.lexists(target) or dvcfile.exists():
            raise ConfigError(f"{rel} already exists: choose another PATH, or follow an "
                              "existing import with `dvc-synced update`")
        kind = up.probe_kind()
        listing = up.list()
        if not listing:
            raise SyncError(f"the upstream {url} holds no files: nothing to import")
        stage = _staging(root, rel)
        files = stage / "files"
        with _lock(root, settings):
            _prune(files, set(listing))  # a failed earlier import's files the upstream dropped
            _fetch(up, files, listing)
            _check_unmoved(up, listing, set(listing))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(files if kind == "dir" else files / next(iter(listing)), target)
            try:
                _dvc_add(root, rel)
                write_record(dvcfile, Record(url, transport, kind, listing))
            except BaseException:
                shutil.rmtree(target, ignore_errors=True) if kind == "dir" else target.unlink()
                dvcfile.unlink(missing_ok=True)
                raise
            shutil.rmtree(stage, ignore_errors=True)
    size = sum(e.size for e in listing.values())
    files_to_add = [os.path.relpath(dvcfile, root), *_changed_gitignore(root, target)]
    return (f"imported {url} into {rel}: {len(listing)} file(s), {human_bytes(size)}; "
            f"share it: git add {' '.join(shlex.quote(f) for f in files_to_add)} "
            "&& git commit")


def _changed_gitignore(root: Path, target: Path) -> list[str]:
    """The .gitignore `dvc add` wrote beside the output, when git sees it changed: the
    commit that shares the import needs it, or teammates see the data as untracked."""
    ignore = os.path.relpath(target.parent / ".gitignore", root)
    proc = subprocess.run(["git", "status", "--porcelain", "--", ignore], cwd=root,
                          capture_output=True, text=True)
    return [ignore] if proc.returncode == 0 and proc.stdout.strip() else []


# ------------------------------------------------------------------------------ update


@dataclass
class Result:
    path: str
    url: str
    diff: Diff
    fetched: int = 0  # files that crossed the wire
    updated: bool = False
    commit: str = ""
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = self.diff
        return {"path": self.path, "url": self.url, "added": d.added, "changed": d.changed,
                "removed": d.removed, "fetch_bytes": d.fetch_bytes,
                "removed_bytes": d.removed_bytes, "fetched": self.fetched,
                "updated": self.updated, "commit": self.commit, "error": self.error}


def targets(root: Path, paths: list[str]) -> list[tuple[str, Path]]:
    if not paths:
        found = find_imports(root)
        if not found:
            raise ConfigError("no imported outputs here: import data with "
                              "`dvc-synced import-url URL PATH`")
        return found
    return [dvcfile_for(root, p) for p in paths]


def check(root: Path, paths: list[str]) -> list[Result]:
    """Compare each import with its upstream: one listing call per upstream, no DVC."""
    settings, _ = _settings(root)
    records = [(rel, read_record(dvcfile, rel)) for rel, dvcfile in targets(root, paths)]
    listings: dict[tuple[str, str, str], dict[str, Entry]] = {}
    results = []
    for rel, rec in records:
        key = (rec.url, rec.transport, rec.kind)
        if key not in listings:
            with Upstream(settings, rec.url, rec.transport, rec.kind) as up:
                listings[key] = up.list()
        results.append(Result(rel, rec.url, compare(rec.files, listings[key])))
    return results


def _apply(root: Path, rel: str, kind: str, files: Path, backup: Path, diff: Diff) -> None:
    """Make the new version in place; undo() puts every old file back."""
    target = root / rel

    def ws(name: str) -> Path:
        return target / name if kind == "dir" else target

    moved_out: list[str] = []
    moved_in: list[str] = []
    try:
        for name in diff.changed + diff.removed:
            (backup / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(ws(name), backup / name)
            moved_out.append(name)
        # Folders the removals emptied go first: an added file may take a folder's name.
        for name in diff.removed:
            parent = ws(name).parent
            while kind == "dir" and parent != target and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
        for name in diff.added + diff.changed:
            ws(name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(files / name, ws(name))
            moved_in.append(name)
    except BaseException:
        _undo(root, rel, kind, files, backup, moved_in, moved_out)
        raise


def _undo(root: Path, rel: str, kind: str, files: Path, backup: Path,
          moved_in: list[str], moved_out: list[str]) -> None:
    target = root / rel
    for name in moved_in:
        dest = files / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(target / name if kind == "dir" else target, dest)
    for name in moved_out:
        src = target / name if kind == "dir" else target
        src.parent.mkdir(parents=True, exist_ok=True)
        os.replace(backup / name, src)


def update_one(root: Path, settings: Settings, rel: str, dvcfile: Path, rec: Record,
               up: Upstream, listing: dict[str, Entry]) -> Result:
    diff = compare(rec.files, listing)
    result = Result(rel, rec.url, diff)
    if diff.empty:
        return result
    if rec.kind == "file" and not listing:
        raise SyncError(f"the upstream file {rec.url} of {rel} is gone: check the URL")
    with _lock(root, settings):
        return _update_locked(root, rel, dvcfile, rec, up, listing, result)


def _update_locked(root: Path, rel: str, dvcfile: Path, rec: Record, up: Upstream,
                   listing: dict[str, Entry], result: Result) -> Result:
    diff = result.diff
    # One DVC repository object for the check and the add: DVC costs ~0.3 s to open.
    with _dvc_repo(root) as repo:
        _require_clean(repo, rel, dvcfile)
        stage = _staging(root, rel)
        files, backup = stage / "files", stage / "backup"
        shutil.rmtree(backup, ignore_errors=True)
        wanted = {name: listing[name] for name in diff.added + diff.changed}
        result.fetched = _fetch(up, files, wanted)
        _check_unmoved(up, listing, set(wanted))
        saved = dvcfile.read_bytes()
        _apply(root, rel, rec.kind, files, backup, diff)
        try:
            _dvc_add(root, rel, repo)
            write_record(dvcfile, Record(rec.url, rec.transport, rec.kind, listing))
        except BaseException:
            _undo(root, rel, rec.kind, files, backup, diff.added + diff.changed,
                  diff.changed + diff.removed)
            dvcfile.write_bytes(saved)
            raise
    shutil.rmtree(stage, ignore_errors=True)
    result.updated = True
    return result


def update(root: Path, paths: list[str], commit: bool) -> list[Result]:
    settings, _ = _settings(root)
    results = []
    listings: dict[tuple[str, str, str], dict[str, Entry]] = {}
    for rel, dvcfile in targets(root, paths):
        rec = read_record(dvcfile, rel)
        key = (rec.url, rec.transport, rec.kind)
        with Upstream(settings, rec.url, rec.transport, rec.kind) as up:
            if key not in listings:
                listings[key] = up.list()
            result = update_one(root, settings, rel, dvcfile, rec, up, listings[key])
        if commit and result.updated:
            result.commit = _commit(root, rel, dvcfile, result)
        results.append(result)
    return results


def commit_message(rel: str, result: Result) -> str:
    return f"Update {rel} from {result.url}: {result.diff.summary()}"


def _commit(root: Path, rel: str, dvcfile: Path, result: Result) -> str:
    names = [os.path.relpath(dvcfile, root)]
    ignore = dvcfile.parent / ".gitignore"
    if ignore.exists():
        names.append(os.path.relpath(ignore, root))
    subprocess.run(["git", "add", "--", *names], cwd=root, check=True, capture_output=True)
    proc = subprocess.run(["git", "commit", "-q", "-m", commit_message(rel, result), "--",
                           *names], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SyncError(f"git commit of {names[0]} failed ({proc.stderr.strip()}): the data is "
                        f"updated; commit {names[0]} yourself")
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                          text=True, check=True).stdout.strip()


def report_lines(results: list[Result], checking: bool) -> list[str]:
    """Counts and bytes first, then one line per file."""
    lines = []
    for r in results:
        d = r.diff
        if d.empty:
            lines.append(f"{r.path}: up to date with {r.url}")
            continue
        verb = "would fetch" if checking else "fetched"
        fetched = (f"{human_bytes(d.fetch_bytes)} to fetch" if checking
                   else f"{verb} {r.fetched} file(s)")
        lines.append(f"{r.path} <- {r.url}: {d.summary()} ({fetched}, "
                     f"{human_bytes(d.removed_bytes)} removed)")
        lines += [f"  added    {n}" for n in d.added]
        lines += [f"  changed  {n}" for n in d.changed]
        lines += [f"  removed  {n}" for n in d.removed]
        if r.commit:
            lines.append(f"  committed {r.commit[:10]}: {commit_message(r.path, r)}")
        elif r.updated:
            lines.append(f"  updated; commit {r.path}.dvc to share it (or use --commit)")
        elif checking:
            lines.append("  (use dvc-synced update)")
    return lines
