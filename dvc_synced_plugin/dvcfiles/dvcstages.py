"""DVC's own reading of pointer files at a revision: the slow path of `reading.py`.

For files outside the fast parser's proven subset (templating, foreach/matrix, wdir,
per-output remote, push: false, imports, cloud-versioned entries, a non-trivial
.dvcignore, ...) DVC's stage loading resolves the revision's tree: `repo.brancher` onto
the commit, then `load_file(...).stages`, and the same output filters `dvc push` uses
(`dvc/repo/fetch.py:_collect_indexes`, `dvc/repo/index.py:_load_data_from_outs`).
DVC is imported here only, and only when a revision needs it.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from dvc_synced_plugin.dvcfiles.pointers import EMPTY, Out, Pointer
from dvc_synced_plugin.errors import SyncError

_HASHES = {"md5": False, "md5-dos2unix": True}  # hash name -> legacy (2.x) object
UNPUSHED = "unpushed"  # the route of a `push: false` output, never in `Pointer.outs`


def resolve(root: Path, wanted: dict[str, set[str]]) -> dict[tuple[str, str], Pointer]:
    """{(commit sha, pointer path): what DVC makes of it}; pointers are .dvc files or
    dvc.lock paths (standing for their dvc.yaml's stages)."""
    import logging

    from dvc.repo import Repo

    result: dict[tuple[str, str], Pointer] = {}
    logger = logging.getLogger("dvc")
    try:
        with Repo(str(root)) as repo:
            level = logger.level  # opening a Repo sets DVC's log level; keep it quiet
            logger.setLevel(logging.ERROR)
            try:
                for sha, pointers in sorted(wanted.items()):
                    for _ in repo.brancher(revs=[sha], workspace=False):
                        for pointer in sorted(pointers):
                            result[(sha, pointer)] = _read(repo, sha, pointer)
            finally:
                logger.setLevel(level)
    except SyncError:
        raise
    except Exception as exc:  # noqa: BLE001 - DVC's own errors: one line, never a traceback
        raise SyncError(f"DVC cannot read the project ({type(exc).__name__}: "
                        f"{_first_line(exc)}): fix the DVC files, then run the command again"
                        ) from None
    return result


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""


def _ignored(repo: Any, path: str) -> bool:
    """DVC collects pointer files walking the tree with .dvcignore: an ignored directory
    or file is not part of the project."""
    ignore = repo.dvcignore
    parts = path.split("/")
    for i in range(1, len(parts)):
        if ignore._is_ignored(repo.fs.join(repo.root_dir, *parts[:i]), is_dir=True):
            return True
    return bool(ignore._is_ignored(repo.fs.join(repo.root_dir, *parts), is_dir=False))


def _read(repo: Any, sha: str, pointer: str) -> Pointer:
    from dvc.dvcfile import load_file

    pipeline = pointer.rsplit("/", 1)[-1] == "dvc.lock"
    dvcfile = pointer[: -len("lock")] + "yaml" if pipeline else pointer
    full = repo.fs.join(repo.root_dir, *dvcfile.split("/"))
    if not repo.fs.isfile(full) or _ignored(repo, dvcfile):
        return EMPTY  # a dvc.lock without its dvc.yaml means nothing to DVC
    try:
        loaded = load_file(repo, full)
        stages = [(stage, _raw_wdir(loaded, stage, pipeline))
                  for stage in loaded.stages.values()]
    except Exception as exc:  # noqa: BLE001 - DVC's own errors, one line
        raise SyncError(f"DVC cannot read {dvcfile} at {sha[:10]} ({type(exc).__name__}: "
                        f"{_first_line(exc)}): fix it and commit again") from None
    outs: list[Out] = []
    unpushed: list[Out] = []
    paths: set[str] = set()
    for stage, wdir in stages:
        for out in stage.outs:
            path = _workspace_path(dvcfile, wdir, str(out.def_path))
            if path is None or not out.is_in_repo:
                if out.use_cache:  # DVC 3 refuses to save these; a pull must not write them
                    raise SyncError(
                        f"{pointer}: the cached output {out.def_path!r} is outside the "
                        "repository (unsupported since DVC 3.0): fix the pointer file")
                continue  # an uncached external output: nothing to move
            if path != posixpath.normpath(repo.fs.relpath(out.fs_path, repo.root_dir)):
                raise SyncError(f"{pointer}: the output {out.def_path!r} resolves to another "
                                "place in git's tree than in the workspace: fix its path")
            paths.add(path)
            made = _out(stage, out, path, pointer, dvcfile, pipeline)
            if made is not None:
                (outs if made.route != UNPUSHED else unpushed).append(made)
    return Pointer(tuple(outs), frozenset(paths), tuple(unpushed))


def _raw_wdir(loaded: Any, stage: Any, pipeline: bool) -> str:
    """The stage's `wdir` as written (resolved): git's tree clamps `..` at its root, the
    workspace does not, so where an output lands is computed from this."""
    if pipeline:
        data = loaded.stages.resolver.resolve_one(stage.name).get(stage.name) or {}
    else:
        data = loaded._load()[0] or {}
    wdir = data.get("wdir") if isinstance(data, dict) else None
    return str(wdir) if wdir else "."


def _workspace_path(dvcfile: str, wdir: str, rel: str) -> str | None:
    """An output's path from the repository root; None when it lies outside."""
    if any("://" in p or posixpath.isabs(p) or p.startswith("~") for p in (wdir, rel)):
        return None
    path = posixpath.normpath(posixpath.join(posixpath.dirname(dvcfile), wdir, rel))
    return None if path == ".." or path.startswith("../") else path


def _out(stage: Any, out: Any, path: str, pointer: str, dvcfile: str,
         pipeline: bool) -> Out | None:
    if not out.use_cache:
        return None
    info = out.hash_info
    if not info or not info.value:
        return None  # never run or committed, or a partial import: no object
    if info.name not in _HASHES:
        raise SyncError(f"{pointer}: {path!r} uses hash {info.name!r}; dvc-synced supports md5")
    if stage.is_repo_import:
        route = "import"  # `dvc push` leaves it; `dvc pull` gets it from its repository
    elif not out.can_push:
        route = UNPUSHED  # push: false: DVC sends it nowhere (kept apart by `_read`)
    elif out.remote:
        route = f"remote:{out.remote}"
    else:
        route = ""
    key = f"{stage.name}:{out.def_path}" if pipeline else str(out.def_path)
    target = f"{dvcfile}:{stage.name}" if pipeline else pointer
    meta = getattr(out, "meta", None)
    return Out(key=key, path=path, oid=str(info.value), legacy=_HASHES[info.name],
               pointer=pointer, target=target,
               isexec=bool(meta is not None and meta.isexec and not info.isdir), route=route)
