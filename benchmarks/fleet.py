"""Issue #25: N clients on one central at the same moment (a team before a deadline, a CI
fleet cloning at once), against a loopback sshd with OpenSSH's default MaxStartups.

    python benchmarks/run.py --fleet [--clients 8,24,48] [--repeat 1] [--readme]

For each N, two rows: N teammates `git push` their own branch (our plain pre-push hook;
each pushes one object of its own and one they all share), and N fresh clones run their
first `dvc-synced pull` of a small project (20 files in a tracked directory and a model).
Each row: wall time from the common start to the last exit, the clients that failed, the
retries their summary lines count, and the TCP connections the sshd saw: accepted, and
shed past MaxStartups (its VERBOSE log; every shed one is a connection a client met
"kex_exchange_identification: read: Connection reset by peer" on). The 1-minute load
average before and after each row. Writes benchmarks/results-fleet.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from benchmarks import readme
from tests.harness import Sshd, Team, User, start_sshd

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CLIENTS = (8, 24, 48)
RETRIES = re.compile(r"(\d+) retr(?:y|ies)\b")
BEGIN = "<!-- fleet: written by `python benchmarks/run.py --fleet --readme`, not by hand -->"
END = "<!-- end of fleet -->"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def track(user: User, files: dict[str, bytes]) -> None:
    """What `dvc add` writes for single files (the cache object, a `.dvc` pointer and the
    .gitignore line), without a DVC process per teammate."""
    for rel, data in files.items():
        oid = hashlib.md5(data).hexdigest()
        user.write(rel, data)
        obj = user.repo / ".dvc" / "cache" / "files" / "md5" / oid[:2] / oid[2:]
        obj.parent.mkdir(parents=True, exist_ok=True)
        obj.write_bytes(data)
        obj.chmod(0o444)
        name = rel.rsplit("/", 1)[-1]
        user.write(f"{rel}.dvc", f"outs:\n- md5: {oid}\n  size: {len(data)}\n  hash: md5\n"
                                 f"  path: {name}\n")
        ignore = (user.repo / rel).parent / ".gitignore"
        ignore.write_text(f"/{name}\n")


class Fleet:
    """A team over ssh to one central, alice's data already there."""

    def __init__(self, base: Path, sshd: Sshd, rng: random.Random) -> None:
        central = base / "central"
        central.mkdir(parents=True)
        self.team = Team(base, f"dvc-server:{central}",
                         extra_env={"DVC_SYNCED_SSH_COMMAND": sshd.ssh_command()})
        self.sshd = sshd
        self.rng = rng
        alice = self.team.founder("alice")
        for i in range(20):
            alice.write(f"data/f{i:02}.bin", rng.randbytes(1024))
        alice.write("model.bin", rng.randbytes(64 << 10))
        alice.dvc("add", "-q", "data", "model.bin")
        alice.git("add", "-A")
        alice.git("commit", "-q", "-m", "data")
        alice.synced("push")
        alice.git("push", "-q", "origin", "main")
        alice.synced("install")
        self.alice = alice
        self.pre_push = (alice.repo / ".git" / "hooks" / "pre-push").read_text()
        self.expected = {p.relative_to(alice.repo).as_posix(): p.read_bytes()
                         for p in [*sorted((alice.repo / "data").glob("*.bin")),
                                   alice.repo / "model.bin"]}
        self.made = 0

    def clients(self, n: int, op: str) -> list[tuple[User, list[str]]]:
        """N clones ready to go: each command is what that teammate or CI job runs."""
        shared = self.rng.randbytes(4096)
        ready = []
        for _ in range(n):
            self.made += 1
            name = f"{op}{self.made}"
            user = self.team.user(name)
            if op == "push":
                hook = user.repo / ".git" / "hooks" / "pre-push"  # `dvc-synced install`'s
                hook.write_text(self.pre_push)
                hook.chmod(0o755)
                user.git("switch", "-q", "-c", name)
                track(user, {"shared/s.bin": shared,
                             f"own/{name}.bin": self.rng.randbytes(1024)})
                user.git("add", "-A")
                user.git("commit", "-q", "-m", f"{name}'s data")
                ready.append((user, ["git", "push", "-q", "origin", name]))
            else:
                ready.append((user, [sys.executable, "-m", "dvc_synced_plugin", "pull"]))
        return ready

    def run(self, n: int, op: str) -> dict[str, object]:
        """One row: N clients at once."""
        ready = self.clients(n, op)
        accepted0, shed0 = self.sshd.connections_seen()
        load_before = round(os.getloadavg()[0], 2)
        started = time.perf_counter()
        procs = [subprocess.Popen(args, cwd=user.repo, env=user.env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for user, args in ready]
        outputs = [proc.communicate()[0].decode(errors="replace") for proc in procs]
        wall = time.perf_counter() - started
        accepted, shed = (a - b for a, b in zip(self.sshd.connections_seen(),
                                                  (accepted0, shed0)))
        failed = [(user.name, out.strip().splitlines()[-1:] or ["?"])
                  for (user, _), proc, out in zip(ready, procs, outputs) if proc.returncode]
        if op == "pull":
            for (user, _), proc in zip(ready, procs):
                if proc.returncode == 0:
                    for rel, blob in self.expected.items():
                        if (user.repo / rel).read_bytes() != blob:
                            failed.append((user.name, [f"{rel} differs"]))
        for name, line in failed:
            log(f"    {name} failed: {line[0]}")
        return {
            "clients": n, "op": op, "seconds": round(wall, 2),
            "failed": len(failed),
            "retries": sum(int(m.group(1)) for out in outputs for m in RETRIES.finditer(out)),
            "clients_retried": sum(bool(RETRIES.search(out)) for out in outputs),
            "accepted": accepted, "shed": shed,
            "load_before": load_before, "load_after": round(os.getloadavg()[0], 2),
        }


def table(rows: list[dict[str, object]], repeat: int) -> list[str]:
    labels = {"push": "`git push` of their own branch", "pull": "first `dvc-synced pull`"}
    lines = [
        f"N clients at once against one loopback sshd with OpenSSH's default `MaxStartups "
        f"10:30:100`; {'median of ' + str(repeat) + ' runs' if repeat > 1 else 'one run'} "
        "per row. Connections as the sshd logged them.",
        "",
        "| clients at once | wall time | failed | retries (clients that retried) | ssh "
        "connections accepted | shed past MaxStartups | load before / after |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['clients']} x {labels[str(row['op'])]} | {row['seconds']:.1f} s | "
            f"{row['failed']} | {row['retries']} ({row['clients_retried']}) | "
            f"{row['accepted']} | {row['shed']} | {row['load_before']} / "
            f"{row['load_after']} |")
    return lines


def median_row(runs: list[dict[str, object]]) -> dict[str, object]:
    """The run of median wall time, with the worst failure count of all runs."""
    ordered = sorted(runs, key=lambda r: float(r["seconds"]))  # type: ignore[arg-type]
    row = dict(ordered[len(ordered) // 2])
    row["failed"] = max(int(r["failed"]) for r in runs)  # type: ignore[call-overload]
    row["runs"] = [r["seconds"] for r in runs]
    return row


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default=",".join(map(str, DEFAULT_CLIENTS)),
                        help="comma list of clients at once (default 8,24,48)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per row (default 1)")
    parser.add_argument("--readme", action="store_true",
                        help="also put the table into benchmarks/README.md")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results-fleet.json")
    args = parser.parse_args(argv)
    try:
        counts = sorted(int(c) for c in args.clients.split(","))
    except ValueError:
        parser.error("--clients: a comma list of numbers, e.g. 8,24,48")
    if not counts or counts[0] < 1 or args.repeat < 1:
        parser.error("--clients and --repeat must be at least 1")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                            capture_output=True, text=True).stdout.strip()
    meta = {"command": " ".join(["python", "benchmarks/run.py", "--fleet", *(argv or [])]),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": commit,
            "cores": os.cpu_count(), "repeat": args.repeat}
    base = Path(tempfile.mkdtemp(prefix="dvcs-bench-fleet-"))
    started = time.monotonic()
    sshd = start_sshd(base / "sshd", max_startups=None, log_level="VERBOSE")
    rows = []
    try:
        fleet = Fleet(base / "team", sshd, random.Random(time.time_ns()))
        for n in counts:
            for op in ("push", "pull"):
                runs = []
                for rep in range(args.repeat):
                    log(f"  {n} x {op}, run {rep + 1}/{args.repeat}")
                    runs.append(fleet.run(n, op))
                    log(f"    {json.dumps(runs[-1])}")
                rows.append(median_row(runs))
    finally:
        sshd.stop()
        shutil.rmtree(base, ignore_errors=True)
    meta["seconds"] = round(time.monotonic() - started, 1)
    lines = table(rows, args.repeat)
    print("\n".join(lines))
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    log(f"wrote {args.out} ({meta['seconds']}s)")
    if args.readme:
        readme.write_block(Path(__file__).resolve().parent / "README.md", BEGIN, END, [
            f"Run of {meta['started']} (`{meta['command']}`, {meta['seconds']} s; dvc-synced "
            f"{commit}) on {meta['cores']} cores.", "", *lines])
    return 1 if any(row["failed"] for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
