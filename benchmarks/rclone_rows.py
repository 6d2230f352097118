"""Issue #23 item 5, the rclone rows: first pushes through rclone next to what they compete with.

    python benchmarks/rclone_rows.py [--objects 300] [--repeat 3] [--rows sftp,webdav]
    python benchmarks/run.py --rclone [same options]

Each repetition builds, outside the timing, one fresh team per flow (a bare git server, an
empty central, alice's clone with the plain hooks and a commit of `--objects` objects of
1 KiB: `--objects - 1` files in one DVC-tracked directory plus its `.dir`, the same bytes in
every flow), then times alice's first `git push` in each flow, in alternating order:

  sftp    our hook, central an rclone sftp remote written as a user writes one (host, port,
          user, key_file: no tuning key), vs our hook with rsync over ssh, both against the
          same loopback sshd and account. Counted: the ssh connections sshd accepted
          (LogLevel VERBOSE) and the rclone processes (tests/counting.py's wrapper).
  webdav  our hook, central an rclone webdav remote on `rclone serve webdav` (loopback,
          a free port: a stand-in for the HTTP-API providers DVC lacks), vs a bare
          `rclone copy --files-from LIST --no-traverse` of exactly the commit's objects
          (from alice's cache) to an empty directory of the same server.

Every push is checked: central holds every object of the commit, byte for byte.
Writes benchmarks/results-rclone.json; prints a markdown table with the ratios, the
targets (sftp: ours within 2.5x of rsync; webdav: within 1.2x of the bare copy) and the
load average before and after each row.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import run  # noqa: E402
from tests import counting, harness  # noqa: E402
from tests.harness import Team, User  # noqa: E402

FILE_SIZE = 1024
TARGETS = {"sftp": ("rsync", 2.5), "webdav": ("bare", 1.2)}  # row -> (reference, max ratio)
LABELS = {
    "sftp/ours": "`git push`, our hook, rclone over sftp (host, port, user, key_file)",
    "sftp/rsync": "`git push`, our hook, rsync over ssh (same sshd, same account)",
    "webdav/ours": "`git push`, our hook, rclone to `rclone serve webdav`",
    "webdav/bare": "bare `rclone copy --files-from --no-traverse` of the same objects",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load() -> float:
    return round(os.getloadavg()[0], 2)


@dataclass
class Sample:
    seconds: float
    rclone: int  # rclone processes started
    connections: Optional[int]  # ssh connections the sshd accepted (None: not ssh)


@dataclass
class Results:
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    loads: dict[str, list[float]] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)

    def add(self, key: str, sample: Sample) -> None:
        self.samples.setdefault(key, []).append(sample)

    def median(self, key: str) -> Optional[float]:
        got = self.samples.get(key)
        return statistics.median(s.seconds for s in got) if got else None


# ------------------------------------------------------------------------------ servers


@dataclass
class WebDav:
    root: Path
    url: str
    proc: subprocess.Popen

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def start_webdav(root: Path, log_path: Path) -> WebDav:
    """`rclone serve webdav` of `root` on a free loopback port."""
    root.mkdir(parents=True, exist_ok=True)
    port = harness.free_port()
    env = {**os.environ, "RCLONE_CONFIG": "/dev/null"}
    with open(log_path, "w") as out:
        proc = subprocess.Popen(["rclone", "serve", "webdav", "--addr", f"127.0.0.1:{port}",
                                 str(root)], stdout=out, stderr=subprocess.STDOUT, env=env)
    harness.wait_for_port(port, 15, proc, log_path)
    return WebDav(root, f"http://127.0.0.1:{port}/", proc)


# ------------------------------------------------------------------------------ project


def payload(objects: int) -> dict[str, bytes]:
    rng = random.Random(objects)
    return {f"data/f{i:05d}.bin": rng.randbytes(FILE_SIZE) for i in range(objects - 1)}


def team_for(base: Path, central: str, transport: str, env: dict[str, str],
             files: dict[str, bytes], counted_path: Path) -> User:
    """alice with the plain hooks and one unpushed commit of `files` (outside any timing)."""
    base.mkdir(parents=True)
    team = Team(base, central, transport, extra_env=env)
    alice = team.founder("alice")
    alice.synced("install")
    for rel, data in files.items():
        alice.write(rel, data)
    alice.dvc("add", "-q", "data")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", f"{len(files)} files")
    alice.env["PATH"] = f"{counted_path}{os.pathsep}{alice.env['PATH']}"
    return alice


def cache_objects(alice: User) -> list[str]:
    return sorted(harness.store_objects(alice.repo / ".dvc" / "cache") - {
        p for p in harness.store_objects(alice.repo / ".dvc" / "cache")
        if p.startswith("runs/")})


def check_central(alice: User, root: Path, label: str) -> str:
    objects = cache_objects(alice)
    cache = alice.repo / ".dvc" / "cache"
    bad = [rel for rel in objects if not (root / rel).is_file()
           or (root / rel).read_bytes() != (cache / rel).read_bytes()]
    if bad:
        raise RuntimeError(f"{label}: central lacks or differs in {len(bad)} of "
                           f"{len(objects)} objects, e.g. {bad[0]}")
    return f"{label}: central holds all {len(objects)} objects, bytes equal"


def push(alice: User, count_log: Path, sshd: Optional[harness.Sshd]) -> Sample:
    before = sshd.connections_seen()[0] if sshd else 0
    counting.take(count_log)
    seconds, _ = run.run_step(["git", "push", "-q", "origin", "main"], alice.repo, alice.env)
    rclone = counting.take(count_log).rclone
    conns = sshd.connections_seen()[0] - before if sshd else None
    return Sample(seconds, rclone, conns)


# --------------------------------------------------------------------------------- rows


def sftp_rep(work: Path, sshd: harness.Sshd, files: dict[str, bytes], rep: int,
             count_dir: Path, count_log: Path, results: Results) -> None:
    rclone_env = harness.rclone_env("teamsftp", {
        "type": "sftp", "host": "127.0.0.1", "port": str(sshd.port), "user": sshd.user,
        "key_file": str(sshd.client_key)})
    flows = {}
    for flow in ("ours", "rsync"):
        central = work / f"central-{flow}"
        central.mkdir(parents=True)
        if flow == "ours":
            flows[flow] = (team_for(work / flow, f"teamsftp:{central}", "rclone", rclone_env,
                                    files, count_dir), central)
        else:
            flows[flow] = (team_for(work / flow, f"dvc-server:{central}", "rsync",
                                    {"DVC_SYNCED_SSH_COMMAND": sshd.ssh_command()},
                                    files, count_dir), central)
    order = ["ours", "rsync"] if rep % 2 == 0 else ["rsync", "ours"]
    for flow in order:
        alice, central = flows[flow]
        sample = push(alice, count_log, sshd)
        results.add(f"sftp/{flow}", sample)
        log(f"    sftp {flow:5} {sample.seconds:6.2f}s ssh connections={sample.connections} "
            f"rclone={sample.rclone}")
        results.checks.append(check_central(alice, central, f"sftp/{flow} run {rep + 1}"))


def webdav_rep(work: Path, dav: WebDav, files: dict[str, bytes], rep: int,
               count_dir: Path, count_log: Path, results: Results) -> None:
    env = harness.rclone_env("teamdav", {"type": "webdav", "url": dav.url})
    central = dav.root / f"central-{rep}"
    central.mkdir()
    alice = team_for(work / "webdav", f"teamdav:central-{rep}", "rclone", env, files,
                     count_dir)
    objects = cache_objects(alice)
    listing = work / "webdav-objects.txt"
    listing.write_text("".join(f"{rel}\n" for rel in objects))
    bare_env = {**alice.env, **env}
    bare_args = ["rclone", "copy", "--files-from", str(listing), "--no-traverse",
                 str(alice.repo / ".dvc" / "cache"), f"teamdav:bare-{rep}"]
    order = ["ours", "bare"] if rep % 2 == 0 else ["bare", "ours"]
    for flow in order:
        if flow == "ours":
            sample = push(alice, count_log, None)
            results.checks.append(check_central(alice, central, f"webdav/ours run {rep + 1}"))
        else:
            counting.take(count_log)
            seconds, _ = run.run_step(bare_args, work, bare_env)
            sample = Sample(seconds, counting.take(count_log).rclone, None)
            results.checks.append(check_central(alice, dav.root / f"bare-{rep}",
                                                f"webdav/bare run {rep + 1}"))
        results.add(f"webdav/{flow}", sample)
        log(f"    webdav {flow:4} {sample.seconds:6.2f}s rclone={sample.rclone}")


# ------------------------------------------------------------------------------- report


def fmt_s(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def counts(got: list[Sample], what: str) -> str:
    values = sorted({getattr(s, what) for s in got if getattr(s, what) is not None})
    if not values:
        return "-"
    return str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}"


def report(results: Results, meta: dict[str, object]) -> tuple[str, list[dict[str, object]]]:
    lines = [
        f"First push of {meta['objects']} objects of 1 KiB ({int(meta['objects']) - 1} files "
        f"in one directory + its `.dir`); median of {meta['repeat']} run(s), each flow with "
        "its own fresh team and empty central, flows alternating.",
        "",
        "| row | workflow | time | ssh connections | rclone processes | load before / after |",
        "|---|---|---|---|---|---|",
    ]
    verdicts: list[dict[str, object]] = []
    for row in meta["rows"]:  # type: ignore[attr-defined]
        reference, limit = TARGETS[row]
        loads = results.loads.get(row, [])
        span = f"{loads[0]} / {loads[-1]}" if loads else "-"
        for flow in ("ours", reference):
            got = results.samples.get(f"{row}/{flow}", [])
            lines.append(f"| {row} | {LABELS[f'{row}/{flow}']} | "
                         f"{fmt_s(results.median(f'{row}/{flow}'))} | "
                         f"{counts(got, 'connections')} | {counts(got, 'rclone')} | {span} |")
        ours, ref = results.median(f"{row}/ours"), results.median(f"{row}/{reference}")
        r = ours / ref if ours is not None and ref else None
        lines.append(f"| {row} | ours / {reference} | "
                     f"{'-' if r is None else f'{r:.2f}x'} | | | |")
        verdicts.append({"target": f"{row}: ours within {limit:g}x of {reference}",
                         "measured": None if r is None else round(r, 2),
                         "met": None if r is None else r <= limit})
    lines += ["", "Targets:", ""]
    for v in verdicts:
        mark = "met" if v["met"] else ("MISSED" if v["met"] is False else "n/a")
        lines.append(f"- {v['target']}: **{mark}** ({v['measured']}x)")
    return "\n".join(lines), verdicts


# --------------------------------------------------------------------------------- main


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", default="sftp,webdav")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results-rclone.json")
    args = parser.parse_args(argv)
    rows = [r for r in args.rows.split(",") if r]
    if not rows or set(rows) - set(TARGETS) or args.objects < 2 or args.repeat < 1:
        parser.error(f"--rows from {','.join(TARGETS)}; --objects >= 2; --repeat >= 1")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                            cwd=Path(__file__).resolve().parent, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL).stdout.decode().strip()
    meta: dict[str, object] = {
        "command": " ".join(["python", "benchmarks/rclone_rows.py", *argv]),
        "objects": args.objects, "repeat": args.repeat, "rows": rows, "commit": commit,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rclone": subprocess.run(["rclone", "version"], stdout=subprocess.PIPE
                                 ).stdout.decode().splitlines()[0],
    }
    results = Results()
    files = payload(args.objects)
    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="dvcs-bench-rclone-"))
    count_dir, count_log = base / "counting", base / "counting.log"
    counting.rclone_wrapper(count_dir, count_log)
    try:
        if "sftp" in rows:
            sshd = harness.start_sshd(base / "sshd", log_level="VERBOSE")
            try:
                results.loads["sftp"] = [load()]
                for rep in range(args.repeat):
                    sftp_rep(base / f"sftp-{rep}", sshd, files, rep, count_dir, count_log,
                             results)
                results.loads["sftp"].append(load())
            finally:
                sshd.stop()
        if "webdav" in rows:
            dav = start_webdav(base / "dav", base / "dav.log")
            try:
                results.loads["webdav"] = [load()]
                for rep in range(args.repeat):
                    webdav_rep(base / f"webdav-{rep}", dav, files, rep, count_dir, count_log,
                               results)
                results.loads["webdav"].append(load())
            finally:
                dav.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    meta["seconds"] = round(time.monotonic() - started, 1)
    text, verdicts = report(results, meta)
    print(text)
    args.out.write_text(json.dumps({
        "meta": meta, "loads": results.loads, "checks": results.checks, "targets": verdicts,
        "samples": {k: [s.__dict__ for s in v] for k, v in results.samples.items()},
        "medians_s": {k: round(results.median(k) or 0, 3) for k in results.samples},
        "table": text}, indent=1) + "\n")
    log(f"wrote {args.out} ({meta['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
