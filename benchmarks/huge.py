"""Issue #14, item 1: the 10^6 tier. Does a push or pull still cost what the change costs?

    python benchmarks/run.py --huge [--repeat 3] [--readme]

One project of 1,000,000 tracked objects (the layout of `fixture.py`: small files of 64 B-2 KiB
in `data/dNNN/`, its `.dir` manifest, 3 large files in `models/`), flow "ours" only (alice
pushes with `git push`, bob-ours pulls with `git pull`), measured side by side with a project
of 1,000 objects built the same way in the same run.

`dvc add` of 10^6 files takes far too long for a benchmark set-up (and a `dvc add` per
repetition stats every file again), so this module writes what `dvc add` would: the cache
objects (read-only copies), the `.dir` manifest and `data.dvc`. `tests/test_bench_huge.py`
proves the output byte for byte equal to DVC's own at N=200, and the change of 10 (9 files
and the new `.dir`) likewise. Stores are hard links of the immutable cache objects;
workspaces are real copies; a change replaces files, never writes through a link.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from benchmarks import fixture
from benchmarks.fixture import Project, User

HUGE_SIZE = 1_000_000
SMALL_SIZE = 1_000  # the side-by-side project
HUGE_VERSION = 1  # bump when the built layout changes (then the project is rebuilt)
CHANGED_FILES = 9  # + the directory's new .dir manifest = a change of 10 objects
OBJECT_MODE = 0o444  # DVC makes cache objects read-only

Log = Callable[[str], None]


def project_for(workdir: Path, size: int) -> Project:
    return Project(size, workdir / f"huge-v{HUGE_VERSION}-n{size}", workdir)


# ------------------------------------------------------------------------ what dvc add makes


def object_path(cache: Path, oid: str) -> Path:
    return cache / "files" / "md5" / oid[:2] / oid[2:]


def put_object(cache: Path, oid: str, data: bytes) -> None:
    """A cache object as DVC leaves it: its own file (not a link), read-only."""
    path = object_path(cache, oid)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, OBJECT_MODE)
    os.replace(tmp, path)


def manifest_bytes(entries: dict[str, str]) -> bytes:
    """A `.dir` manifest as dvc-data writes it (`Tree.as_bytes`): sorted by relpath."""
    return json.dumps([{"md5": entries[rel], "relpath": rel} for rel in sorted(entries)],
                      sort_keys=True).encode("utf-8")


def pointer_text(dir_oid: str, size: int, nfiles: int, path: str) -> str:
    """The `.dvc` file `dvc add DIR` writes for a directory (DVC 3.x)."""
    return (f"outs:\n- md5: {dir_oid}\n  size: {size}\n  nfiles: {nfiles}\n"
            f"  hash: md5\n  path: {path}\n")


def write_small_tracked(repo: Path, cache: Path, count: int, rng: random.Random,
                        log: Log = print) -> tuple[str, int]:
    """fixture.write_small_files's files (same rng sequence), each also put in the cache;
    then the manifest and `data.dvc`. Returns (manifest oid, total size)."""
    data = repo / "data"
    entries: dict[str, str] = {}
    total = 0
    started = time.monotonic()
    for i in range(count):
        sub = f"d{i // fixture.FILES_PER_SUBDIR:03d}"
        if i % fixture.FILES_PER_SUBDIR == 0:
            (data / sub).mkdir(parents=True, exist_ok=True)
            if i and i % 100_000 == 0:
                log(f"    {i:,} files ({time.monotonic() - started:.0f}s)")
        content = rng.randbytes(rng.randint(64, 2048))
        rel = f"{sub}/f{i:06d}.txt"
        (data / rel).write_bytes(content)
        oid = hashlib.md5(content, usedforsecurity=False).hexdigest()
        put_object(cache, oid, content)
        entries[rel] = oid
        total += len(content)
    return write_manifest(repo, cache, entries, total), total


def write_manifest(repo: Path, cache: Path, entries: dict[str, str], total: int) -> str:
    text = manifest_bytes(entries)
    oid = hashlib.md5(text, usedforsecurity=False).hexdigest() + ".dir"
    put_object(cache, oid, text)
    (repo / "data.dvc").write_text(pointer_text(oid, total, len(entries), "data"))
    _ignore(repo, "/data")
    return oid


def _ignore(repo: Path, line: str) -> None:
    """The line `dvc add` puts in the .gitignore beside the output."""
    path = repo / ".gitignore"
    lines = path.read_text().splitlines() if path.exists() else []
    if line not in lines:
        with open(path, "a") as fobj:
            fobj.write(f"{line}\n")


_POINTER = re.compile(r"^- md5: (?P<oid>[0-9a-f]{32}\.dir)\n  size: (?P<size>\d+)\n"
                      r"  nfiles: (?P<nfiles>\d+)\n", re.M)


def change_files(repo: Path, cache: Path, contents: dict[str, bytes]) -> str:
    """What `dvc add data` makes of rewritten files (same names, new contents): new cache
    objects, the new manifest and `data.dvc`. The workspace files are replaced (unlink,
    then write), never written through. Returns the new manifest's oid.

    The old manifest is edited as text: each entry's md5 stands right before its relpath
    in DVC's layout, and the order (by relpath) does not change when only contents do."""
    pointer = (repo / "data.dvc").read_text()
    found = _POINTER.search(pointer)
    if found is None:
        raise RuntimeError(f"{repo / 'data.dvc'} is not a pointer this builder wrote")
    text = bytearray(object_path(cache, found["oid"]).read_bytes())
    total = int(found["size"])
    for rel, content in contents.items():
        path = repo / "data" / rel
        total += len(content) - path.stat().st_size
        path.unlink()
        path.write_bytes(content)
        oid = hashlib.md5(content, usedforsecurity=False).hexdigest()
        put_object(cache, oid, content)
        key = b'", "relpath": "' + rel.encode() + b'"}'
        at = text.find(key)
        if at < 32 or text[at - 41:at - 32] != b'{"md5": "':
            raise RuntimeError(f"{rel} is not in the manifest of data")
        text[at - 32:at] = oid.encode()
    new = hashlib.md5(text, usedforsecurity=False).hexdigest() + ".dir"
    put_object(cache, new, bytes(text))
    (repo / "data.dvc").write_text(
        pointer[:found.start()] + f"- md5: {new}\n  size: {total}\n  nfiles: {found['nfiles']}\n"
        + pointer[found.end():])
    return new


# ------------------------------------------------------------------------------ building


def _link_tree(src: Path, dest: Path) -> None:
    """Hard links of every object (`cp -al`): immutable files, so no change can leak."""
    dest.mkdir(parents=True, exist_ok=True)
    if not (dest / "files").exists():
        subprocess.run(["cp", "-al", str(src), str(dest / "files")], check=True)


def _settings(user: User):  # type: ignore[no-untyped-def]
    from dvc_synced_plugin import config

    return config.load(user.repo, user.env)


def build(project: Project, log: Log = print) -> float:
    """Create the project from scratch; returns the seconds it took."""
    from dvc_synced_plugin import dvcrepo, hooks, workspace
    from dvc_synced_plugin.pointers import parse_pointer

    if project.root.exists():
        subprocess.run(["rm", "-rf", str(project.root)], check=True)
    project.root.mkdir(parents=True)
    started = time.monotonic()

    def step(what: str) -> None:
        log(f"  huge n={project.size:,}: {what} ({time.monotonic() - started:.0f}s)")

    fixture.run(["git", "init", "-q", "--bare", "-b", "main", str(project.server("ours"))],
                project.root, os.environ.copy())
    alice = fixture._new_user(project, "alice")
    fixture.run(["git", "clone", "-q", str(project.server("ours")), str(alice.repo)],
                project.root, alice.env)
    alice.dvc("init", "-q")
    alice.synced("init", "--central", f"dvc-server:{project.store('central-ours')}",
                 "--transport", "rsync")
    rng = random.Random(project.size)
    cache = alice.repo / ".dvc" / "cache"
    write_small_tracked(alice.repo, cache, project.size - 4, rng, log)
    step("small files, cache objects and manifest written")
    (alice.repo / "models").mkdir()
    for i in range(fixture.LARGE_FILES):
        (alice.repo / "models" / f"m{i}.bin").write_bytes(rng.randbytes(fixture.LARGE_SIZE))
    alice.dvc("add", "-q", *[f"models/m{i}.bin" for i in range(fixture.LARGE_FILES)])
    step("large files added with dvc add")
    precommit_text, precommit_mode = fixture.choose_precommit_config(project, log)
    (alice.repo / ".pre-commit-config.yaml").write_text(precommit_text)
    (alice.repo / "notes.txt").write_text("code-only commits change this file\n")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "project")
    alice.git("-c", f"core.hooksPath={project.no_hooks}", "push", "-q", "origin", "main")
    alice.synced("install")
    local_alice = dvcrepo.local_storage(_settings(alice))
    for store in (local_alice, project.store("central-ours")):
        _link_tree(cache / "files", store)
    step("alice's local storage and central linked")

    bob = fixture._new_user(project, "bob-ours")
    fixture.run(["git", "clone", "-q", str(project.server("ours")), str(bob.repo)],
                project.root, bob.env)
    _link_tree(cache / "files", bob.repo / ".dvc" / "cache")
    for rel in ("data", "models"):  # real copies, as DVC's default cache.type makes them
        subprocess.run(["cp", "-a", str(alice.repo / rel), str(bob.repo / rel)], check=True)
    bob.synced("install")
    # What `dvc-synced pull` leaves, without its `dvc checkout` of 10^6 files (which hashes
    # every one of them): the local storage set up, every directory's mtime recorded, the
    # workspace recorded as synced to HEAD.
    _link_tree(cache / "files", dvcrepo.local_storage(_settings(bob)))
    record = workspace.record_file(bob.repo / ".git")
    outs = parse_pointer("data.dvc", (bob.repo / "data.dvc").read_bytes(), lambda _: None)
    workspace.record_checked_out(bob.repo, record, outs)
    head = bob.git("rev-parse", "HEAD").stdout.decode().strip()
    hooks.write_state(bob.repo, "ok", head)
    step("bob-ours ready")
    fixture.precommit_hooks(project, precommit_text)
    seconds = round(time.monotonic() - started, 1)
    (project.root / "READY").write_text(json.dumps({
        "size": project.size, "version": HUGE_VERSION, "pre_commit": precommit_mode,
        "build_seconds": seconds, "builder": "benchmarks/huge.py",
    }))
    step("READY")
    return seconds


def prepare(workdir: Path, size: int, rebuild: bool, log: Log = print) -> Project:
    """The project of `size` objects, built if it is not cached under `workdir`."""
    project = project_for(workdir, size)
    project.no_hooks.mkdir(parents=True, exist_ok=True)
    if rebuild or not (project.root / "READY").exists():
        log(f"building the huge-tier n={size:,} project under {project.root} (once)")
        build(project, log)
    return project


def main_build(argv: Optional[list[str]] = None) -> int:
    """`python -m benchmarks.huge build [SIZE]`: build a project alone (for a cold start)."""
    args = argv if argv is not None else sys.argv[1:]
    size = int(args[0]) if args else HUGE_SIZE
    workdir = Path(args[1]) if len(args) > 1 else Path("/var/tmp/dvc-synced-bench")
    workdir.mkdir(parents=True, exist_ok=True)
    prepare(workdir, size, rebuild=False,
            log=lambda m: print(m, file=sys.stderr, flush=True))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["build"]:
        raise SystemExit(main_build(sys.argv[2:]))
    shutil.which("git")  # placeholder until the measuring half lands
