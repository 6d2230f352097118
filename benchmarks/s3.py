"""Issues #14 and #23: S3 at volume, ours (rclone) against `dvc push`/`dvc pull` with dvc-s3.

    python benchmarks/s3.py [--s3-size 1000,10000,100000] [--repeat 1] [--change-repeat 3]
                            [--ceiling] [--readme]
    (24 minutes at 100,000 objects in its first run, build included, on 2 cores at load
    4-12: moto took 100,000 PUTs in 391 s from ours and 580 s from dvc-s3)
    python benchmarks/run.py --s3 [same options]

On a loopback moto_server: a project of N objects of 1 KiB (N-1 files in one DVC-tracked
directory plus its `.dir`), built once under --workdir and reused. Each repetition starts a
fresh moto (empty buckets) and fresh git servers, then, in the same run:

  first push   alice's `git push` (our plain hook, central an rclone S3 remote on moto)
               vs `git push` + `dvc push -r s3` (dvc-s3), each into its own empty bucket;
               with --ceiling also a bare `rclone copy` of the same objects, one PUT
               each, into a third: what moto itself allows
  change       9 files rewritten + the new `.dir`: pushed by both, then pulled by a
               teammate: `git pull` (our hook) vs `git pull` + `dvc pull -r s3`

Measured per command: wall time, peak RSS of the process tree (GNU time), rclone processes
(the counting wrapper of tests.counting, first on PATH) and the S3
requests moto served (read from its request log). The remotes are set up from the
environment and `.dvc/config.local` (moto's dummy keys), never a committed file.
Writes benchmarks/results-s3.json; --readme puts the tables between the `s3-results`
markers of benchmarks/README.md (their one home).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import fixture, readme, run  # noqa: E402
from benchmarks.fixture import User  # noqa: E402
from tests import counting, harness  # noqa: E402

VERSION = 1
DEFAULT_SIZES = "1000,10000,100000"
FILE_SIZE = 1024
FILES_PER_SUBDIR = 1000
CHANGED_FILES = 9  # + the directory's new .dir = a change of 10 objects
REMOTE = "benchs3"  # the rclone remote, defined by RCLONE_CONFIG_BENCHS3_* variables
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
         "AWS_DEFAULT_REGION": "us-east-1"}
# dvc-s3's time / ours (#23): 3x for a first push from 10,000 objects, no slower below.
TARGETS = {"first_push_min": 1.0, "first_push_min_large": 3.0, "large_from": 10_000,
           "change_push_min": 10.0}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- moto


class Moto:
    """moto_server and a reader of its request log (werkzeug writes one line a request)."""

    def __init__(self, root: Path) -> None:
        self.log = root / "moto.log"
        self.server = harness.start_moto(self.log)
        self.endpoint = self.server.endpoint
        self._offset = self.log.stat().st_size

    def requests(self) -> dict[str, int]:
        """S3 requests since the last call, by kind."""
        with open(self.log, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        self._offset += len(data)
        kinds: Counter[str] = Counter()
        for line in data.decode(errors="replace").splitlines():
            if '"' not in line:
                continue
            request = line.split('"')[1].split()
            if len(request) < 2:
                continue
            method, target = request[0], request[1]
            path, _, query = target.partition("?")
            if method == "GET" and path.strip("/").count("/") == 0:
                kinds["list"] += 1  # GET /bucket?prefix=...: a listing
            else:
                kinds[method.lower()] += 1
        kinds["total"] = sum(kinds.values())
        return dict(kinds)

    def make_bucket(self, name: str) -> None:
        import boto3

        boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing"
                     ).create_bucket(Bucket=name)

    def keys(self, bucket: str, prefix: str) -> set[str]:
        import boto3

        s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return {o["Key"][len(prefix):] for p in pages for o in p.get("Contents", [])}

    def stop(self) -> None:
        """Holding 200,000 objects, moto can take longer to exit than harness.stop waits."""
        proc = self.server.proc
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------- project


@dataclass
class S3Project:
    size: int
    root: Path

    def user(self, name: str, extra: Optional[dict[str, str]] = None) -> User:
        home = self.root / f"home-{name}"
        return User(name, home, self.root / name, harness.make_env(home, extra or {}))

    def server(self, flow: str) -> Path:
        return self.root / "servers" / f"{flow}.git"

    @property
    def counting_dir(self) -> Path:
        return self.root / "counting"

    @property
    def counting_log(self) -> Path:
        return self.root / "counting.log"

    @property
    def dirty(self) -> Path:
        """Workspace files changed since C0, recorded before they change (a crash-safe reset)."""
        return self.root / "dirty.json"


def ours_env(project: S3Project, endpoint: str, bucket: str) -> dict[str, str]:
    env = harness.rclone_env(REMOTE, {
        "type": "s3", "provider": "Other", "endpoint": endpoint, "region": "us-east-1",
        "access_key_id": "testing", "secret_access_key": "testing",
    })
    env.update({
        "AWS_CA_BUNDLE": "",  # rclone refuses a CA bundle for a plain-http endpoint
        "DVC_SYNCED_CENTRAL": f"{REMOTE}:{bucket}/dvc", "DVC_SYNCED_TRANSPORT": "rclone",
    })
    return env


def dvc_env() -> dict[str, str]:
    return dict(CREDS)


def users(project: S3Project, endpoint: str = "http://127.0.0.1:9", buckets: tuple[str, str] =
          ("ours", "dvc")) -> dict[str, User]:
    """alice (pushes both ways), bob-ours and bob-dvc, with this run's endpoint."""
    ours = ours_env(project, endpoint, buckets[0])
    both = {**ours, **dvc_env()}
    out = {"alice": project.user("alice", both), "bob-ours": project.user("bob-ours", ours),
           "bob-dvc": project.user("bob-dvc", dvc_env())}
    counted = f"{project.counting_dir}{os.pathsep}"
    for name in ("alice", "bob-ours"):
        out[name].env["PATH"] = counted + out[name].env["PATH"]
    return out


def new_user(project: S3Project, name: str) -> User:
    user = project.user(name)
    user.home.mkdir(parents=True, exist_ok=True)
    for key, value in (("user.name", name), ("user.email", f"{name}@example.com"),
                       ("init.defaultBranch", "main"), ("pull.rebase", "false"),
                       ("advice.detachedHead", "false")):
        fixture.run(["git", "config", "--global", key, value], user.home, user.env)
    return user


def small_paths(size: int) -> list[str]:
    return [f"data/d{i // FILES_PER_SUBDIR:03d}/f{i:06d}.bin" for i in range(size - 1)]


def build(project: S3Project, moto: Moto) -> None:
    """Alice's project at commit C0 and two teammates' clones of it (minutes at 100k)."""
    if project.root.exists():
        shutil.rmtree(project.root)
    project.root.mkdir(parents=True)
    started = time.monotonic()
    env = os.environ.copy()
    for name in ("alice", "bob-ours", "bob-dvc"):
        new_user(project, name)
    u = users(project, moto.endpoint)
    alice = u["alice"]
    seed = project.server("seed")
    fixture.run(["git", "init", "-q", "--bare", "-b", "main", str(seed)], project.root, env)
    fixture.run(["git", "clone", "-q", str(seed), str(alice.repo)], project.root, alice.env)
    alice.dvc("init", "-q")
    rng = random.Random(project.size)
    for i, rel in enumerate(small_paths(project.size)):
        path = alice.repo / rel
        if i % FILES_PER_SUBDIR == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(FILE_SIZE))
    log(f"  s3 n={project.size}: files written ({time.monotonic() - started:.0f}s)")
    alice.dvc("add", "-q", "data")
    log(f"  s3 n={project.size}: dvc add done ({time.monotonic() - started:.0f}s)")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "project")
    alice.git("push", "-q", "origin", "main")
    alice.synced("install")
    cache = alice.repo / ".dvc" / "cache"
    for name in ("bob-ours", "bob-dvc"):
        bob = u[name]
        fixture.run(["git", "clone", "-q", str(seed), str(bob.repo)], project.root, bob.env)
        (bob.repo / ".dvc" / "cache").mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-al", str(cache / "files"), str(bob.repo / ".dvc" / "cache")],
                       check=True)
        subprocess.run(["cp", "-a", str(alice.repo / "data"), str(bob.repo / "data")],
                       check=True)
        if name == "bob-ours":
            bob.synced("install")
            bob.synced("pull")  # sets up its local storage (all local: no central needed)
            store = Path(bob.dvc("config", "--local", "remote.synced-storage.url")
                         .stdout.decode().strip())
            store.mkdir(parents=True, exist_ok=True)
            if not (store / "files").exists():
                subprocess.run(["cp", "-al", str(cache / "files"), str(store)], check=True)
        else:
            bob.dvc("status", "-q", check=False)  # warms DVC's hash state for the workspace
        log(f"  s3 n={project.size}: {name} ready ({time.monotonic() - started:.0f}s)")
    (project.root / "READY").write_text(json.dumps({
        "size": project.size, "version": VERSION, "c0": head(alice),
        "build_seconds": round(time.monotonic() - started, 1)}))


def head(user: User) -> str:
    return user.git("rev-parse", "HEAD").stdout.decode().strip()


def manifest(user: User, rev: str) -> dict[str, str]:
    """relpath in data/ -> md5 at `rev`, from the .dir object in the user's cache."""
    text = user.git("show", f"{rev}:data.dvc").stdout.decode()
    md5 = next(ln.split(":", 1)[1].strip() for ln in text.splitlines()
               if ln.strip().startswith("- md5:") or ln.strip().startswith("md5:"))
    path = user.repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    return {e["relpath"]: e["md5"] for e in json.loads(path.read_text())}


def restore(user: User, paths: list[str], c0: dict[str, str]) -> None:
    """Put C0's bytes back from the cache into `paths` (outside any timing)."""
    cache = user.repo / ".dvc" / "cache" / "files" / "md5"
    for rel in paths:
        md5 = c0[rel[len("data/"):]]
        dest = user.repo / rel
        if dest.exists():
            os.chmod(dest, 0o644)
            dest.unlink()
        shutil.copyfile(cache / md5[:2] / md5[2:], dest)


def reset(project: S3Project, u: dict[str, User], c0: str) -> None:
    """Every clone back at C0 with C0's bytes; fresh git servers; nothing on central yet."""
    servers = project.root / "servers"
    shutil.rmtree(servers, ignore_errors=True)
    env = os.environ.copy()
    for flow in ("ours", "dvc"):
        fixture.run(["git", "init", "-q", "--bare", "-b", "main", str(project.server(flow))],
                    project.root, env)
    alice, bob_ours, bob_dvc = u["alice"], u["bob-ours"], u["bob-dvc"]
    c0_files = manifest(alice, c0)
    dirty = json.loads(project.dirty.read_text()) if project.dirty.exists() else []
    for user in (alice, bob_ours, bob_dvc):
        user.git("reset", "-q", "--hard", c0)
        for ref in user.git("for-each-ref", "--format=%(refname)", "refs/remotes"
                            ).stdout.decode().split():
            user.git("update-ref", "-d", ref)
    restore(alice, dirty, c0_files)
    restore(bob_dvc, dirty, c0_files)
    bob_ours.synced("pull")  # our own catch-up: the state file said a later commit
    project.dirty.unlink(missing_ok=True)
    alice.git("remote", "set-url", "origin", str(project.server("ours")))
    if "dvcflow" not in alice.git("remote").stdout.decode().split():
        alice.git("remote", "add", "dvcflow", str(project.server("dvc")))
    alice.git("remote", "set-url", "dvcflow", str(project.server("dvc")))
    bob_ours.git("remote", "set-url", "origin", str(project.server("ours")))
    bob_dvc.git("remote", "set-url", "origin", str(project.server("dvc")))
    # Alice's first push must be a first push: an empty local storage, no memo of what
    # central held (the buckets are new), and DVC's remote index gone.
    store = alice.dvc("config", "--local", "remote.synced-storage.url", check=False)
    if store.returncode == 0:  # set up by our first push: none before it
        shutil.rmtree(store.stdout.decode().strip(), ignore_errors=True)
    (alice.repo / ".git" / "dvc-synced" / "on-central").unlink(missing_ok=True)
    for user in (alice, bob_dvc):
        shutil.rmtree(user.repo / ".dvc-site", ignore_errors=True)
        user.dvc("config", "--local", "core.site_cache_dir", str(user.repo / ".dvc-site"))
        # .dvc-site is inside the repository: keep it out of git and of DVC's view.
        exclude = user.repo / ".git" / "info" / "exclude"
        if "/.dvc-site" not in exclude.read_text():
            exclude.write_text(exclude.read_text() + "/.dvc-site\n")


def configure_dvc_remote(user: User, endpoint: str, bucket: str) -> None:
    user.dvc("remote", "add", "--local", "-f", "s3", f"s3://{bucket}/dvc")
    user.dvc("remote", "modify", "--local", "s3", "endpointurl", endpoint)


# ----------------------------------------------------------------------------- timing


@dataclass
class Sample:
    seconds: float
    maxrss_kb: int
    rclone: Optional[int]  # rclone processes (None: the flow does not use rclone)
    requests: dict[str, int]


Step = tuple[list[str], Path, dict[str, str]]


def timed(steps: list[Step], project: S3Project, moto: Moto, counted: bool) -> Sample:
    """Wall time of the steps, peak RSS of any process in them (GNU time around each)."""
    counting.take(project.counting_log)
    moto.requests()
    total, peak = 0.0, 0
    for args, cwd, env in steps:
        seconds, rss_kb = run.run_step(args, cwd, env)
        total += seconds
        peak = max(peak, rss_kb)
    rclone = counting.take(project.counting_log).rclone if counted else None
    return Sample(total, peak, rclone, moto.requests())


def git(user: User, *args: str, hooks: bool = True) -> Step:
    cfg = [] if hooks else ["-c", f"core.hooksPath={user.home / 'no-hooks'}"]
    return (["git", *cfg, *args], user.repo, user.env)


def dvc(user: User, *args: str) -> Step:
    # botocore fails on the empty AWS_CA_BUNDLE that rclone needs (plain http here).
    env = {k: v for k, v in user.env.items() if k != "AWS_CA_BUNDLE"}
    return ([sys.executable, "-m", "dvc", *args], user.repo, env)


def push_steps(u: dict[str, User], flow: str) -> list[Step]:
    alice = u["alice"]
    if flow == "ours":
        return [git(alice, "push", "-q", "origin", "main")]
    return [git(alice, "push", "-q", "dvcflow", "main", hooks=False),
            dvc(alice, "push", "-q", "-r", "s3")]


def pull_steps(u: dict[str, User], flow: str) -> list[Step]:
    if flow == "ours":
        return [git(u["bob-ours"], "pull", "-q")]
    bob = u["bob-dvc"]
    return [git(bob, "pull", "-q", hooks=False), dvc(bob, "pull", "-q", "-r", "s3")]


@dataclass
class Results:
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)

    def add(self, key: str, sample: Sample) -> None:
        self.samples.setdefault(key, []).append(sample)

    def median(self, key: str) -> Optional[float]:
        got = self.samples.get(key)
        return statistics.median(s.seconds for s in got) if got else None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for key, got in sorted(self.samples.items()):
            out[key] = {
                "median_s": round(statistics.median(s.seconds for s in got), 3),
                "samples_s": [round(s.seconds, 3) for s in got],
                "peak_rss_mb": round(max(s.maxrss_kb for s in got) / 1024, 1),
                "rclone_processes": [s.rclone for s in got],
                "s3_requests": [s.requests for s in got],
            }
        return out


# ------------------------------------------------------------------------------ phases


def ceiling_steps(project: S3Project, u: dict[str, User], needed: set[str]) -> list[Step]:
    """A bare rclone copy of exactly HEAD's objects from alice's cache into the `bare`
    bucket: one PUT per object and nothing else (no existence check, as the bucket is
    new; no HEAD after each PUT), so its time is what moto itself allows (#23)."""
    alice = u["alice"]
    listing = project.root / "ceiling-objects.txt"
    listing.write_text("".join(f"{rel}\n" for rel in sorted(needed)))
    return [(["rclone", "copy", "--files-from", str(listing), "--no-traverse",
              "--no-check-dest", "--s3-no-head", str(alice.repo / ".dvc" / "cache"),
              f"{REMOTE}:bare/dvc"], alice.repo, alice.env)]


def first_push(project: S3Project, u: dict[str, User], moto: Moto, rep: int,
               results: Results, ceiling: bool = False) -> None:
    alice = u["alice"]
    needed = head_objects(alice)
    flows = run.rotated(["ours", "dvc", *(["bare"] if ceiling else [])], rep)
    for flow in flows:
        steps = ceiling_steps(project, u, needed) if flow == "bare" else push_steps(u, flow)
        sample = timed(steps, project, moto, flow != "dvc")
        results.add(f"first/{flow}", sample)
        log(f"    first push {flow:4} {sample.seconds:7.1f}s {sample.maxrss_kb / 1024:5.0f} MB "
            f"rclone={sample.rclone} s3={sample.requests}")
        held = moto.keys(flow, "dvc/")
        if not needed <= held:
            raise RuntimeError(f"{flow}: central lacks {len(needed - held)} of HEAD's "
                               f"{len(needed)} objects after the first push")
    results.checks.append(f"first push {rep + 1}: {len(flows)} buckets hold all "
                          f"{len(needed):,} objects of HEAD")


def head_objects(user: User) -> set[str]:
    """The objects HEAD's data.dvc needs: its .dir and every file in it."""
    text = user.git("show", "HEAD:data.dvc").stdout.decode()
    md5 = next(ln.split(":", 1)[1].strip() for ln in text.splitlines()
               if ln.strip().startswith(("- md5:", "md5:")))
    objs = {f"files/md5/{md5[:2]}/{md5[2:]}"}
    objs |= {f"files/md5/{m[:2]}/{m[2:]}" for m in manifest(user, "HEAD").values()}
    return objs


def make_change(project: S3Project, alice: User, rng: random.Random, rep: int
                ) -> dict[str, bytes]:
    paths = rng.sample(small_paths(project.size), CHANGED_FILES)
    dirty = json.loads(project.dirty.read_text()) if project.dirty.exists() else []
    project.dirty.write_text(json.dumps(sorted(set(dirty) | set(paths))))
    contents = {}
    for rel in paths:
        data = rng.randbytes(FILE_SIZE)
        alice.write(rel, data)
        contents[rel] = data
    alice.dvc("add", "-q", "data")
    alice.git("commit", "-q", "-m", f"change {CHANGED_FILES} files ({rep})", "data.dvc")
    return contents


def change(project: S3Project, u: dict[str, User], moto: Moto, rep: int, counted: bool,
           results: Results, rng: random.Random) -> None:
    contents = make_change(project, u["alice"], rng, rep)
    flows = ["ours", "dvc"] if rep % 2 == 0 else ["dvc", "ours"]
    for op, steps in (("push", push_steps), ("pull", pull_steps)):
        for flow in flows:
            sample = timed(steps(u, flow), project, moto, flow == "ours")
            if counted:
                results.add(f"change-{op}/{flow}", sample)
            log(f"    {op} of change {flow:4} {sample.seconds:6.2f}s "
                f"{sample.maxrss_kb / 1024:5.0f} MB rclone={sample.rclone} s3={sample.requests}"
                f"{'' if counted else ' (warm-up)'}")
    for flow in ("ours", "dvc"):
        bob = u[f"bob-{flow}"]
        for rel, data in contents.items():
            if (bob.repo / rel).read_bytes() != data:
                raise RuntimeError(f"{bob.name}'s {rel} is not what alice pushed")


# ----------------------------------------------------------------------------- report


def fmt_s(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s" if value < 10 else \
        f"{value:.1f} s"


def fmt_ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}x" if value < 10 else f"{value:.0f}x"


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or not b else a / b


def cell_counts(results: Results, key: str) -> tuple[str, str, str]:
    got = results.samples.get(key) or []
    if not got:
        return "-", "-", "-"
    rss = f"{max(s.maxrss_kb for s in got) / 1024:.0f}"
    procs = sorted({s.rclone for s in got if s.rclone is not None})
    rclone = "/".join(str(p) for p in procs) if procs else "-"
    req = statistics.median(s.requests.get("total", 0) for s in got)
    return rss, rclone, f"{req:,.0f}"


def targets(results: Results, size: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    first = TARGETS["first_push_min_large" if size >= TARGETS["large_from"] else
                    "first_push_min"]
    for key, name, minimum in (("first", "first push", first),
                               ("change-push", "push of the change", TARGETS["change_push_min"])):
        r = ratio(results.median(f"{key}/dvc"), results.median(f"{key}/ours"))
        out.append({"target": f"N={size:,}: {name}: ours at least {minimum:g}x as fast as "
                    "dvc-s3", "measured": fmt_ratio(r),
                    "met": None if r is None else r >= minimum})
    return out


def report(by_size: dict[int, Results], meta: dict[str, object]
           ) -> tuple[str, list[dict[str, object]]]:
    sizes = sorted(by_size)
    lines = [
        f"S3 on a loopback moto_server, N objects of 1 KiB in one directory; first push "
        f"median of {meta['repeat']} run(s), change of {CHANGED_FILES + 1} objects median of "
        f"{meta['change_repeat']} (after {meta['warmup']} warm-up): fewer runs than the main "
        "benchmark, moto takes minutes per 100,000 PUTs. Sizes run one after another, each "
        "pair side by side, flows alternating.",
        "",
        "| N | workflow | ours (`git push`/`git pull`, rclone) | dvc-s3 (`git` + `dvc push`/"
        "`pull`) | dvc-s3 / ours | peak RSS ours / dvc-s3 | rclone processes | S3 requests "
        "ours / dvc-s3 | load (1 min) start / end |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts: list[dict[str, object]] = []
    for n in sizes:
        results = by_size[n]
        loads = (f"{results.loads[0]} / {results.loads[-1]}" if results.loads else "-")
        for key, label in (("first", f"first push of {n:,} objects"),
                           ("change-push", "push of a change of 10"),
                           ("change-pull", "pull of that change by a teammate")):
            ours, theirs = results.median(f"{key}/ours"), results.median(f"{key}/dvc")
            rss_o, procs, req_o = cell_counts(results, f"{key}/ours")
            rss_d, _, req_d = cell_counts(results, f"{key}/dvc")
            lines.append(f"| {n:,} | {label} | {fmt_s(ours)} | {fmt_s(theirs)} | "
                         f"{fmt_ratio(ratio(theirs, ours))} | {rss_o} / {rss_d} MB | {procs} | "
                         f"{req_o} / {req_d} | {loads} |")
        verdicts += targets(results, n)
    lines += ["", "Targets:", ""]
    for item in verdicts:
        mark = "met" if item["met"] else ("MISSED" if item["met"] is False else "n/a")
        lines.append(f"- {item['target']}: **{mark}** ({item['measured']})")
    every = [x for r in by_size.values() for x in r.loads]
    if every:
        lines += ["", f"Load average (1 min) during the run: {every[0]} at start, "
                  f"{max(every)} at most, {every[-1]} at the end ({os.cpu_count()} cores)."]
    return "\n".join(lines), verdicts


BEGIN = "<!-- s3-results: written by `python benchmarks/run.py --s3 --readme`, not by hand -->"
END = "<!-- end of s3-results -->"


def update_readme(path: Path, table: str, meta: dict[str, object]) -> None:
    """Replace the block between this benchmark's own markers (not the main results')."""
    readme.write_block(path, BEGIN, END, [
        f"Run of {meta['started']} (`{meta['command']}`, {meta['seconds']} s; dvc-synced "
        f"{meta['commit']}) on {os.cpu_count()} cores; {meta['versions']}.",
        "", table])


def versions() -> str:
    from importlib.metadata import version

    def first_line(*args: str) -> str:
        try:
            out = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            return out.stdout.decode().splitlines()[0].strip()
        except (OSError, IndexError):
            return "?"

    return (f"Python {platform.python_version()}, DVC {version('dvc')}, dvc-s3 "
            f"{version('dvc-s3')}, moto {version('moto')}, {first_line('rclone', 'version')}")


# -------------------------------------------------------------------------------- main


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--s3-size", default=DEFAULT_SIZES,
                        help=f"objects in the project, a comma list (default {DEFAULT_SIZES})")
    parser.add_argument("--repeat", type=int, default=1,
                        help="first pushes per flow, each into new buckets (default 1)")
    parser.add_argument("--change-repeat", type=int, default=3,
                        help="counted changes pushed and pulled per first push (default 3)")
    parser.add_argument("--warmup", type=int, default=0, help="uncounted changes first "
                        "(default 0: the first push has warmed every cache already)")
    parser.add_argument("--ceiling", action="store_true", help="also time a bare `rclone "
                        "copy` of the same objects into a third bucket, one PUT each: "
                        "moto's own ceiling (first/bare in the results)")
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/dvc-synced-bench"))
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached project")
    parser.add_argument("--readme", action="store_true",
                        help="also put the table into benchmarks/README.md")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results-s3.json")
    args = parser.parse_args(argv)
    try:
        sizes = sorted({int(x) for x in str(args.s3_size).split(",") if x.strip()})
    except ValueError:
        parser.error("--s3-size: whole numbers, comma separated")
    if not sizes or sizes[0] < 100:
        parser.error("--s3-size must be at least 100 objects")
    if args.repeat < 1 or args.change_repeat < 1 or args.warmup < 0:
        parser.error("--repeat and --change-repeat must be at least 1, --warmup at least 0")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=fixture.REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
                            ).stdout.decode().strip()
    meta: dict[str, object] = {
        "command": " ".join(["python", "benchmarks/run.py", "--s3", *(argv or [])]),
        "sizes": sizes, "repeat": args.repeat, "change_repeat": args.change_repeat,
        "warmup": args.warmup, "ceiling": args.ceiling,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": commit, "versions": versions(), "build_seconds": {},
    }
    started = time.monotonic()
    by_size: dict[int, Results] = {}
    for size in sizes:
        by_size[size] = run_size(size, args, meta)
    meta["seconds"] = round(time.monotonic() - started, 1)
    text, verdicts = report(by_size, meta)
    print(text)
    args.out.write_text(json.dumps({
        "meta": meta, "load1": {n: r.loads for n, r in by_size.items()},
        "results": {n: r.as_dict() for n, r in by_size.items()},
        "targets": verdicts, "checks": [c for r in by_size.values() for c in r.checks],
        "table": text}, indent=1) + "\n")
    log(f"wrote {args.out} ({meta['seconds']}s)")
    if args.readme:
        update_readme(readme.PAGE, text, meta)
    return 0


def run_size(size: int, args: argparse.Namespace, meta: dict[str, object]) -> Results:
    """Every repetition at one size: fresh moto and buckets each, the project built once."""
    results = Results()
    results.loads.append(round(os.getloadavg()[0], 2))
    project = S3Project(size, args.workdir / f"s3-v{VERSION}-n{size}")
    rng = random.Random(time.time_ns())
    for rep in range(args.repeat):
        run_root = Path(tempfile.mkdtemp(prefix="dvcs-bench-moto-"))
        moto = Moto(run_root)
        try:
            if rep == 0 and (args.rebuild or not (project.root / "READY").exists()):
                log(f"building the S3 n={size} project under {project.root} (once)")
                build(project, moto)
            ready = json.loads((project.root / "READY").read_text())
            meta["build_seconds"][size] = ready["build_seconds"]  # type: ignore[index]
            for flow in ("ours", "dvc", *(["bare"] if args.ceiling else [])):
                moto.make_bucket(flow)
            u = users(project, moto.endpoint)
            counting.rclone_wrapper(project.counting_dir, project.counting_log)
            (u["alice"].home / "no-hooks").mkdir(exist_ok=True)
            (u["bob-dvc"].home / "no-hooks").mkdir(exist_ok=True)
            reset(project, u, ready["c0"])
            for name, bucket in (("alice", "dvc"), ("bob-dvc", "dvc")):
                configure_dvc_remote(u[name], moto.endpoint, bucket)
            moto.requests()
            log(f"  s3 run {rep + 1}/{args.repeat}: first push of {size:,} objects")
            first_push(project, u, moto, rep, results, args.ceiling)
            results.loads.append(round(os.getloadavg()[0], 2))
            for crep in range(args.warmup + args.change_repeat):
                change(project, u, moto, crep, crep >= args.warmup, results, rng)
            results.loads.append(round(os.getloadavg()[0], 2))
        finally:
            moto.stop()
            shutil.rmtree(run_root, ignore_errors=True)
    return results


if __name__ == "__main__":
    raise SystemExit(main())
