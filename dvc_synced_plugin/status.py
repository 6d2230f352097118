"""Read-only checks: `status` (what is missing where) and `verify` (central's bytes are right)."""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from dvc_synced_plugin import gitinfo
from dvc_synced_plugin.config import Settings
from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.objects import ObjectRef, ObjectSet, expand_dirs, needed_for_changes
from dvc_synced_plugin.stores import content_hash, expected_hash, remove_tree
from dvc_synced_plugin.sync import Engine


@dataclass
class Where:
    objects: int = 0
    bytes: int = 0


@dataclass
class Status:
    rev: str
    objects: int
    missing: dict[str, Where]
    unknown_dirs: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.unknown_dirs and all(w.objects == 0 for w in self.missing.values())

    def as_dict(self) -> dict:
        return {
            "rev": self.rev,
            "objects": self.objects,
            "complete": self.complete,
            "missing": {k: asdict(v) for k, v in self.missing.items()},
            "unknown_dirs": self.unknown_dirs,
        }


def _revision_objects(engine: Engine, sha: str) -> tuple[ObjectSet, list[str]]:
    """All objects of a revision; manifests are read from any store that has one."""
    changes = gitinfo.changes_between(engine.root, None, sha)
    objs, unresolved = needed_for_changes(engine.root, changes, engine.read_manifest)
    unknown: list[str] = []
    if unresolved:
        refs = [ObjectRef(o.oid, o.legacy, o.path) for o in unresolved]
        present = engine.transport.probe([r.relpath for r in refs])
        # A private scratch dir: the shared staging area belongs to pulls holding the lock.
        staging = Path(tempfile.mkdtemp(prefix="dvc-synced-status-"))
        try:
            engine.transport.download([r.relpath for r in refs if r.relpath in present],
                                      staging)

            def reader(ref: ObjectRef) -> bytes | None:
                path = staging / ref.relpath
                return path.read_bytes() if path.is_file() else engine.read_manifest(ref)

            resolvable = [o for o in unresolved if reader(ObjectRef(o.oid, o.legacy)) is not None]
            unknown = [o.path for o in unresolved if o not in resolvable]
            expand_dirs(objs, resolvable, reader)
        finally:
            remove_tree(staging)
    return objs, unknown


def status(settings: Settings, rev: str = "HEAD") -> Status:
    sha = gitinfo.rev_parse(settings.root, rev)
    with Engine(settings) as engine:
        objs, unknown = _revision_objects(engine, sha)
        refs = objs.all()
        central = engine.transport.probe([r.relpath for r in refs])

        def size(ref: ObjectRef) -> int:
            for store in (engine.cache, engine.local):
                if store.has(ref):
                    return store.size(ref)
            return central.get(ref.relpath, 0)

        missing = {"cache": Where(), "local": Where(), "central": Where()}
        for ref in refs:
            for name, present in (
                ("cache", engine.cache.has(ref)),
                ("local", engine.local.has(ref)),
                ("central", ref.relpath in central),
            ):
                if not present:
                    missing[name].objects += 1
                    missing[name].bytes += size(ref)
    return Status(rev=sha, objects=len(refs), missing=missing, unknown_dirs=unknown)


def remote_revisions(root: Path, remote: str) -> list[str]:
    """Tips of every branch and tag on the git remote that this clone knows."""
    try:
        out = gitinfo.git(root, "ls-remote", "--heads", "--tags", "--", remote).decode()
    except SyncError as exc:
        raise SyncError(
            f"cannot list the branches and tags of git remote {remote!r} ({exc}): "
            "fix the remote (`git remote -v`), or name revisions with --rev"
        ) from None
    # An annotated tag is listed twice: the tag object, then `<tag>^{}` with its commit.
    tips: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref.endswith("^{}"):
            tips[ref[: -len("^{}")]] = sha
        else:
            tips.setdefault(ref, sha)
    known = sorted({sha for sha in tips.values() if gitinfo.has_commit(root, sha)})
    unknown = len(set(tips.values())) - len(known)
    if unknown:
        print(f"dvc-synced: {unknown} branch/tag tip(s) of {remote!r} are not in this clone "
              "and are not verified: `git fetch` first", file=sys.stderr)
    return known


@dataclass
class Verification:
    revisions: int
    objects: int
    missing: list[str]  # "relpath (owner)"
    corrupt: list[str]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.corrupt


def verify(settings: Settings, revs: list[str], batch_bytes: int = 256 << 20) -> Verification:
    """Central holds every object of `revs`, each hashing to its name (downloads to check)."""
    shas = [gitinfo.rev_parse(settings.root, r) for r in revs]
    with Engine(settings) as engine:
        objs = ObjectSet()
        missing: list[str] = []
        for sha in shas:
            rev_objs, unknown = _revision_objects(engine, sha)
            for ref in rev_objs.all():
                objs.add(ref)
            missing += [f"manifest of {p}" for p in unknown]
        refs = objs.all()
        central = engine.transport.probe([r.relpath for r in refs])
        missing += [f"{r.relpath} ({r.owner})" for r in refs if r.relpath not in central]
        corrupt: list[str] = []
        present = [r for r in refs if r.relpath in central]
        with tempfile.TemporaryDirectory(prefix="dvc-synced-verify-") as tmp:
            batch: list[ObjectRef] = []
            size = 0
            for i, ref in enumerate(present):
                batch.append(ref)
                size += central[ref.relpath]
                if size >= batch_bytes or i == len(present) - 1:
                    corrupt += _check_batch(engine, batch, Path(tmp))
                    batch, size = [], 0
    return Verification(len(shas), len(refs), missing, corrupt)


def _check_batch(engine: Engine, batch: list[ObjectRef], tmp: Path) -> list[str]:
    engine.transport.download([r.relpath for r in batch], tmp)
    bad = []
    for ref in batch:
        path = tmp / ref.relpath
        if not path.is_file():
            bad.append(f"{ref.relpath} ({ref.owner}): unreadable")
            continue
        with open(path, "rb") as fobj:
            got = content_hash(fobj, ref.legacy)
        if got != expected_hash(ref):
            bad.append(f"{ref.relpath} ({ref.owner}): hashes to {got}")
        os.chmod(path, 0o644)
        path.unlink()
    return bad


def require_revisions(revs: list[str]) -> list[str]:
    if not revs:
        raise SyncError(
            "the git remote has no branches or tags this clone knows: `git fetch` first"
        )
    return revs



def workspace_lag(root: Path) -> Optional[str]:
    """One line when the workspace's data is not HEAD's, as the hooks' state file knows it.

    git fires no hook for some commands that move HEAD (`git reset`, `git am` under
    pre-commit, a commit message edited away from git's own on a resolved squash merge):
    the next hook or `dvc-synced pull` catches up, and until then this says so.
    """
    from dvc_synced_plugin.hooks import read_state

    try:
        head = gitinfo.rev_parse(root, "HEAD")
    except SyncError:
        return None
    state, synced = read_state(root)
    if state == "ok" and synced == head:
        return None
    fix = "run `dvc-synced pull`"
    if state == "pending":
        return f"workspace: the last sync of {head[:10]} did not finish: {fix}"
    if state != "ok" or not gitinfo.has_commit(root, synced):
        return f"workspace: no sync by dvc-synced recorded for HEAD {head[:10]}: {fix}"
    if not gitinfo.changes_between(root, synced, head):
        return None  # HEAD moved without touching a pointer file: the data is HEAD's
    return (f"workspace: lags HEAD: it holds the data of {synced[:10]}, HEAD is {head[:10]} "
            f"(a git command that fires no hook moved HEAD): {fix}")


def say_workspace_lag(root: Path) -> None:
    line = workspace_lag(root)
    if line:
        print(f"dvc-synced: {line}", file=sys.stderr)
