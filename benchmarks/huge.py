"""Issue #14, item 1: the 10^6 tier. Does a push or pull still cost what the change costs?

    python benchmarks/run.py --huge [--repeat 3] [--readme]

One project of 1,000,000 tracked objects (the layout of `fixture.py`: small files of 64 B-2 KiB
in `data/dNNN/`, its `.dir` manifest, 3 large files in `models/`), flow "ours" only (alice
pushes with `git push`, bob-ours pulls with `git pull`), measured side by side with a project
of 1,000 objects built the same way in the same run.

`dvc add` of 10^6 files takes far too long for a benchmark set-up (and a `dvc add` per
repetition stats every file again), so this module writes what `dvc add` would: the cache
objects (read-only copies), the `.dir` manifest and `data.dvc`. `tests/bench/test_huge.py`
proves the output byte for byte equal to DVC's own at N=200, and the change of 10 (9 files
and the new `.dir`) likewise. Stores are hard links of the immutable cache objects;
workspaces are real copies; a change replaces files, never writes through a link.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from benchmarks import fixture, readme
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


def _set_up_local_storage(user: User) -> Path:
    """The user's local storage, set up as a first push or pull would (in the user's own
    environment: its default path is under their HOME)."""
    code = ("from dvc_synced_plugin import config; from dvc_synced_plugin.dvcfiles import "
            "dvcrepo; from dvc_synced_plugin.git import gitinfo; "
            "print(dvcrepo.local_storage(config.load(gitinfo.toplevel())))")
    out = fixture.run([sys.executable, "-c", code], user.repo, user.env).stdout
    return Path(out.decode().strip())


def build(project: Project, log: Log = print) -> float:
    """Create the project from scratch; returns the seconds it took."""
    from dvc_synced_plugin.dvcfiles.pointers import parse_pointer
    from dvc_synced_plugin.hooks import githooks as hooks
    from dvc_synced_plugin.workspace import checkout as workspace

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
    project.store("central-ours").mkdir(parents=True)  # init takes an existing central
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
    local_alice = _set_up_local_storage(alice)
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
    _link_tree(cache / "files", _set_up_local_storage(bob))
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
    else:
        # The plain hooks name the Python that installed them: a cached project built from
        # another clone must run this checkout's code.
        for user in (project.alice, project.puller("ours")):
            user.synced("install")
    return project


# ---------------------------------------------------------------------------- measuring

TARGETS = {
    "scale_ratio_max": 1.3,  # push/pull of the change at 10^6 / at 1,000
    "memory_mb_max": 300.0,  # peak RSS of every measured command at 10^6
    "noop_extra_ms_max": 100.0,  # plain hooks over git alone
}
BEGIN = "<!-- huge: written by `python benchmarks/run.py --huge --readme`, not by hand -->"
END = "<!-- end of huge -->"
# (results key, label): the change's own commands, each timed on its own
MEASURED = (
    ("push", "push of the change: `git push` (plain hook)"),
    ("bare-dir", "bare `rsync` of the change's new `.dir` alone, same ssh (the wire's floor)"),
    ("pull", "pull of the change: `git pull` (plain hook)"),
    ("status", "`dvc-synced status` of HEAD (alice; one sample a run)"),
    ("verify", "`dvc-synced verify --rev HEAD~1..HEAD` (alice)"),
    ("fetch", "`dvc-synced fetch --git-fetch` of a change (bob)"),
    ("pull-after-fetch", "`git pull` after that fetch (bob)"),
)
NOOPS = (
    ("code-push", "no-op: push of a code-only commit"),
    ("code-pull", "no-op: pull of a code-only commit"),
    ("uptodate-push", "no-op: push, already up to date"),
    ("uptodate-pull", "no-op: pull, already up to date"),
)


def new_change(project: Project, rep: int, rng: random.Random, what: str) -> dict[str, bytes]:
    """Rewrite 9 small files as `dvc add` would record them, commit: a change of 10."""
    alice = project.alice
    paths = rng.sample(fixture.small_paths(project.size), CHANGED_FILES)
    contents = {p: rng.randbytes(rng.randint(64, 2048)) for p in paths}
    change_files(alice.repo, alice.repo / ".dvc" / "cache",
                 {p.removeprefix("data/"): c for p, c in contents.items()})
    alice.git("commit", "-q", "-m", f"{what}: change {CHANGED_FILES} files (rep {rep})",
              "data.dvc")
    return contents


STATUS_TIMEOUT = float(os.environ.get("HUGE_STATUS_TIMEOUT", "300"))  # s; minutes at 10^6


def bare_manifest_upload(project: Project) -> tuple[list[str], Path, dict[str, str]]:
    """One rsync of HEAD's `.dir` alone to a scratch directory on the server, through the
    same ssh-command: what any push of a change must pay at this size before doing
    anything else (the new manifest has to cross the wire whole)."""
    import shutil

    from benchmarks.accounts import ROOT

    alice = project.alice
    found = _POINTER.search((alice.repo / "data.dvc").read_text())
    if found is None:
        raise RuntimeError(f"{alice.repo / 'data.dvc'} is not a pointer this builder wrote")
    scratch = project.root / "bare-manifest"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    source = object_path(alice.repo / ".dvc" / "cache", found["oid"])
    return (["rsync", "-e", project.seed_rsh(), str(source), f"{ROOT.host}:{scratch}/"],
            alice.repo, alice.env)


def timed_or_timeout(step: tuple[list[str], Path, dict[str, str]], timeout: float):  # type: ignore[no-untyped-def]
    """run.timed of one command, stopped after `timeout` seconds: None then.

    The command runs in its own process group, and the whole group is stopped on timeout:
    a killed Python would leave its rsync and ssh children running on."""
    import signal
    import tempfile

    from benchmarks import run

    args, cwd, env = step
    with tempfile.NamedTemporaryFile() as rss, tempfile.TemporaryFile() as out:
        wrapped = [run.TIME, "-q", "-f", "%M", "-o", rss.name, *args] if run.TIME else args
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            return None
        seconds = time.perf_counter() - start
        if code != 0:
            out.seek(0)
            raise RuntimeError(f"{' '.join(args)} failed ({code}):\n"
                               f"{out.read().decode(errors='replace')[-2000:]}")
        figures = Path(rss.name).read_text().split()
        return run.Sample(seconds, int(figures[-1]) if figures and figures[-1].isdigit() else 0)


def huge_rep(project: Project, rep: int, counted: bool, results, rng: random.Random,  # type: ignore[no-untyped-def]
             log: Log, first_counted: int = 0) -> None:
    from benchmarks import run

    alice, bob = project.alice, project.puller("ours")
    n = project.size

    def measure(key: str, steps, optional: bool = False) -> None:  # type: ignore[no-untyped-def]
        try:
            sample = run.timed(steps)
        except RuntimeError as exc:
            if not optional:
                raise
            # Older code (a before/after run under PYTHONPATH) lacks `verify A..B`: the
            # table shows "-" for it, and the log says why.
            log(f"    {key:17} FAILED, not measured: {str(exc).splitlines()[-1][:120]}")
            return
        results.add(f"huge/{key}/{n}", sample, counted)
        log(f"    {key:17} {sample.seconds:7.2f}s  {sample.maxrss_kb / 1024:6.0f} MB")

    contents = new_change(project, rep, rng, "push")
    measure("push", [run.git(alice, "push", "-q", "origin", "main")])
    measure("bare-dir", [bare_manifest_upload(project)])
    if rep == first_counted:  # a whole revision's status probes central for all 10^6
        # objects: minutes, so once a run, and given up after STATUS_TIMEOUT
        sample = timed_or_timeout(run.synced(alice, "status"), STATUS_TIMEOUT)
        if sample is None:
            results.timeouts[f"huge/status/{n}"] = STATUS_TIMEOUT
            log(f"    status            gave up after {STATUS_TIMEOUT:.0f}s")
        else:
            results.add(f"huge/status/{n}", sample, counted)
            log(f"    status            {sample.seconds:7.2f}s  {sample.maxrss_kb / 1024:6.0f} MB")
    measure("verify", [run.synced(alice, "verify", "--rev", "HEAD~1..HEAD")], optional=True)
    measure("pull", [run.git(bob, "pull", "-q")])
    run.check_pulled(project, contents, ["ours"])
    contents = new_change(project, rep, rng, "fetch")
    run.timed([run.git(alice, "push", "-q", "origin", "main")])
    measure("fetch", [run.synced(bob, "fetch", "--git-fetch")])
    measure("pull-after-fetch", [run.git(bob, "pull", "-q")])
    run.check_pulled(project, contents, ["ours"])
    run.noop_rep(project, rep, counted, results)


def _series(results, key: str, n: int):  # type: ignore[no-untyped-def]
    return results.get(f"huge/{key}/{n}") or results.get(f"noop/{key}/plain/{n}")


def report(results, sizes: tuple[int, int], meta: dict[str, object]) -> tuple[str, list[dict]]:  # type: ignore[no-untyped-def]
    from benchmarks.run import fmt_ratio, fmt_s, ratio

    small, large = sizes
    lines = [
        f"The 10^6 tier: a change of {CHANGED_FILES + 1} objects in a directory of "
        f"{large - 4:,} files, beside the same at N={small:,}; median of {meta['repeat']} "
        f"runs (after {meta['warmup']} warm-up); peak RSS of the process tree of each command.",
        "",
        f"| measurement | N={small:,} | N={large:,} | ratio | peak RSS N={small:,} | "
        f"peak RSS N={large:,} |",
        "|---|---|---|---|---|---|",
    ]
    gave_up = getattr(results, "timeouts", {})

    def cell(series, key: str, n: int) -> str:  # type: ignore[no-untyped-def]
        limit = gave_up.get(f"huge/{key}/{n}")
        return f"> {limit:.0f} s (gave up)" if series is None and limit else fmt_s(series)

    for key, label in (*MEASURED, *NOOPS):
        a, b = _series(results, key, small), _series(results, key, large)
        lines.append(f"| {label} | {cell(a, key, small)} | {cell(b, key, large)} | "
                     f"{fmt_ratio(ratio(b, a))} | "
                     f"{f'{a.peak_mb:.0f} MB' if a else '-'} | "
                     f"{f'{b.peak_mb:.0f} MB' if b else '-'} |")
    lines += ["", f"No-op hooks at N={large:,}: git alone vs our plain hooks.", "",
              "| operation | git alone | plain hooks | extra |", "|---|---|---|---|"]
    for key, label in NOOPS:
        base, plain = results.get(f"noop/{key}/none/{large}"), results.get(
            f"noop/{key}/plain/{large}")
        extra = (plain.median - base.median) * 1000 if plain and base else None
        lines.append(f"| {label.removeprefix('no-op: ')} | {fmt_s(base)} | {fmt_s(plain)} | "
                     f"{'-' if extra is None else f'{extra:+.0f} ms'} |")
    verdicts = targets(results, sizes)
    lines += ["", "Targets:", ""]
    for item in verdicts:
        mark = "met" if item["met"] else ("MISSED" if item["met"] is False else "n/a")
        lines.append(f"- {item['target']}: **{mark}** ({item['measured']})")
    built = meta.get("projects", {})
    if isinstance(built, dict) and str(large) in built:
        info = built[str(large)]
        lines += ["", f"Set-up of the N={large:,} project: {info.get('build_seconds')} s "
                  f"(built once by `benchmarks/huge.py`, cached under the work dir)."]
    return "\n".join(lines), verdicts


def targets(results, sizes: tuple[int, int]) -> list[dict]:  # type: ignore[no-untyped-def]
    from benchmarks.run import fmt_ratio, ratio

    small, large = sizes
    out: list[dict] = []
    for key in ("push", "pull"):
        scale = ratio(results.get(f"huge/{key}/{large}"), results.get(f"huge/{key}/{small}"))
        out.append({"target": f"{key} of the change at N={large:,} <= "
                    f"{TARGETS['scale_ratio_max']}x its time at N={small:,}",
                    "measured": fmt_ratio(scale),
                    "met": None if scale is None else scale <= TARGETS["scale_ratio_max"]})
    for key, label in (*MEASURED, *NOOPS):
        if key == "bare-dir":  # a reference, not our command
            continue
        series = _series(results, key, large)
        gave_up = f"huge/{key}/{large}" in getattr(results, "timeouts", {})
        out.append({"target": f"peak RSS of {label} "
                    f"at N={large:,} <= {TARGETS['memory_mb_max']:.0f} MB",
                    "measured": "gave up (timeout)" if gave_up else
                    "-" if series is None else f"{series.peak_mb:.0f} MB",
                    "met": False if gave_up else None if series is None
                    else series.peak_mb <= TARGETS["memory_mb_max"]})
    for key, _label in NOOPS[:3]:  # an up-to-date pull runs no hook at all
        base = results.get(f"noop/{key}/none/{large}")
        plain = results.get(f"noop/{key}/plain/{large}")
        extra = (plain.median - base.median) * 1000 if plain and base else None
        out.append({"target": f"no-op {key} with plain hooks at N={large:,} <= "
                    f"+{TARGETS['noop_extra_ms_max']:.0f} ms over git alone",
                    "measured": "-" if extra is None else f"{extra:+.0f} ms",
                    "met": None if extra is None else extra <= TARGETS["noop_extra_ms_max"]})
    return out


def main(workdir: Path, repeat: int, warmup: int, rebuild: bool, readme: bool,
         out: Path, command: str, size: int = HUGE_SIZE) -> int:
    """`run.py --huge`: build (once) and measure both projects, print and write results."""
    from benchmarks import run

    sizes = (SMALL_SIZE, size)
    meta: dict[str, object] = {
        "command": command, "sizes": list(sizes), "repeat": repeat, "warmup": warmup,
        "changed_objects": CHANGED_FILES + 1, "machine": run.machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    results = run.Results()
    results.timeouts = {}  # type: ignore[attr-defined]
    results.note_load("start")
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    server, _port, _login = run.start_sshd(workdir)
    try:
        projects = [prepare(workdir, n, rebuild, run.log) for n in sizes]
        meta["projects"] = {str(p.size): json.loads((p.root / "READY").read_text())
                            for p in projects}
        rng = random.Random(time.time_ns())
        for rep in range(warmup + repeat):
            counted = rep >= warmup
            results.note_load(f"run {rep + 1}")
            for project in run.rotated(projects, rep):
                run.log(f"  huge n={project.size:,} run {rep + 1}/{warmup + repeat}"
                        f"{'' if counted else ' (warm-up)'}")
                huge_rep(project, rep, counted, results, rng, run.log, warmup)
        results.note_load("end")
    finally:
        server.stop()  # type: ignore[attr-defined]
    meta["seconds"] = round(time.monotonic() - started, 1)
    text, verdicts = report(results, sizes, meta)
    print(text)
    out.write_text(json.dumps({
        "meta": meta, "load": results.loads,
        "results": {k: v.as_dict() for k, v in sorted(results.series.items())},
        "targets": verdicts, "table": text, "timeouts": results.timeouts,  # type: ignore[attr-defined]
    }, indent=1) + "\n")
    run.log(f"wrote {out} ({meta['seconds']}s)")
    if readme:  # the flag: the module is shadowed here
        from benchmarks.readme import PAGE

        update_readme(PAGE, text, meta)
    return 0


def update_readme(path: Path, table: str, meta: dict[str, object]) -> None:
    """Replace what lies between this tier's own markers (run.py keeps its own)."""
    m = meta["machine"]
    assert isinstance(m, dict)
    readme.write_block(path, BEGIN, END, [
        f"Run of {meta['started']} (`{meta['command']}`, {meta['seconds']} s; dvc-synced "
        f"{m['dvc_synced_commit']}) on {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB "
        f"RAM; Python {m['python']}, DVC {m['dvc']}, {m['git']}, {m['rsync']}.",
        "", table,
    ])


def main_build(argv: Optional[list[str]] = None) -> int:
    """`python -m benchmarks.huge build [SIZE [WORKDIR]]`: build one project alone."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.huge build",
        description="Build (or check) one cached project of the 10^6 tier.")
    parser.add_argument("size", nargs="?", type=int, default=HUGE_SIZE,
                        help=f"tracked objects (default {HUGE_SIZE:,})")
    parser.add_argument("workdir", nargs="?", type=Path,
                        default=Path("/var/tmp/dvc-synced-bench"),
                        help="where projects are cached (default %(default)s)")
    args = parser.parse_args(argv)
    if args.size < 10:
        parser.error("size must be at least 10 (a change of 10 is made in it)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    prepare(args.workdir, args.size, rebuild=False,
            log=lambda m: print(m, file=sys.stderr, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main_build(sys.argv[2:] if sys.argv[1:2] == ["build"] else sys.argv[1:]))
