"""Where a bulk push's time goes (issue #14, item 4), beside a bare rsync of the objects.

    python benchmarks/bulk_profile.py [--mib 512] [--repeat 3] [--out bulk-profile.json]

One project of new files of 1-100 MiB (as benchmarks/run.py `bulk()`), central on the
test suite's loopback sshd, a counting ssh (tests/counting.py). Each
run, in alternating order, from an empty central and local storage:
- bare: `rsync -t --files-from` of exactly the objects, one ssh session;
- ours: the push flow in a child process (`dvc-synced push` of HEAD, no git), with a
  timeline of the connection and every upload session, the thread CPU time of the md5
  checks, and the counted connections and sessions;
- ours, md5 check stubbed out (profiling only: never a mode of the product), to see what
  the check costs in wall time on this machine.
Prints medians; `--out` keeps every sample.

Two versions side by side (before/after, same run, alternating order):

    git archive <old-rev> dvc_synced_plugin | tar -x -C /tmp/a
    python benchmarks/bulk_profile.py --code old=/tmp/a --code new=. [--filled]

Each `--code LABEL=DIR` is a variant `ours@LABEL` importing the package from DIR (the
stubbed variant is then left out). `--filled` adds `+filled` variants: the objects are in
the local storage already (hard links, as a push leaves them), as for the second central
of the main benchmark's bulk, a retry, or a push after a pull. CPU seconds are counted on
both ends: this side (the push or rsync, their ssh, and our ssh master) and the server's
(sshd and the rsync it runs, from the listener's reaped children).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def child(no_verify: bool, code: str = "") -> None:
    """In alice's clone: one push of HEAD with a timeline (runs in its own process)."""
    import resource

    if code:
        sys.path.insert(0, code)

    from dvc_synced_plugin import config, safety
    from dvc_synced_plugin.sync import flows
    from dvc_synced_plugin.transports import rsync

    t0 = time.monotonic()
    events: list[tuple[str, float, float, int]] = []
    lock = threading.Lock()
    hash_cpu = [0.0]

    def timeline(cls: type, name: str, kind: str) -> None:
        orig = getattr(cls, name)

        def wrapper(self: object, *args: Any) -> Any:
            start = time.monotonic()
            try:
                return orig(self, *args)
            finally:
                n = len(args[-1]) if args and isinstance(args[-1], list) else 0
                with lock:
                    events.append((kind, start - t0, time.monotonic() - t0, n))

        setattr(cls, name, wrapper)

    timeline(rsync.RsyncTransport, "upload", "upload")
    timeline(rsync.RsyncTransport, "probe", "probe")
    timeline(rsync.SshSession, "_connect", "connect")
    verify = safety.verify

    def timed_verify(path: Path, ref: Any) -> Any:
        cpu = time.thread_time()
        try:
            return None if no_verify else verify(path, ref)
        finally:
            with lock:
                hash_cpu[0] += time.thread_time() - cpu

    safety.verify = timed_verify  # type: ignore[assignment]
    master_cpu = [0.0]
    close = rsync.SshSession.close

    def measured_close(self: Any) -> None:
        """The master runs detached (ssh -f): its CPU, read before it exits."""
        check = subprocess.run([*self.base, *self.options, "-O", "check", "--", self.host],
                               capture_output=True, text=True)
        pid = check.stderr.partition("pid=")[2].partition(")")[0]
        if pid.isdigit():
            master_cpu[0] += proc_cpu(int(pid), children=False)
        close(self)

    rsync.SshSession.close = measured_close  # type: ignore[method-assign]
    settings = config.load(Path.cwd())
    start = time.monotonic()
    report = flows.push_revisions(settings, ["HEAD"])
    seconds = time.monotonic() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "seconds": seconds, "started_at": start - t0, "moved": report.moved,
        "bytes": report.moved_bytes, "hash_cpu": hash_cpu[0],
        "cpu": usage.ru_utime + usage.ru_stime, "master_cpu": master_cpu[0],
        "events": sorted(events, key=lambda e: e[1])}))


def proc_cpu(pid: int, children: bool = True) -> float:
    """CPU seconds of a live process (and of the children it reaped)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", default="/var/tmp")
    parser.add_argument("--out")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-verify", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--code", action="append", default=[], metavar="LABEL=DIR",
                        help="a version of the package to measure as ours@LABEL (repeat)")
    parser.add_argument("--filled", action="store_true",
                        help="also push with the objects in the local storage already")
    parser.add_argument("--import-from", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.no_verify, args.import_from)
        return
    codes = dict(c.split("=", 1) for c in args.code)

    from tests import counting
    from tests.harness import Team, start_sshd

    base = Path(tempfile.mkdtemp(prefix="dvcs-bulk-profile-", dir=args.workdir))
    sshd = start_sshd(base / "sshd")
    try:
        samples = profile(base, sshd, args.mib, args.repeat, counting, Team,
                          {k: str(Path(v).resolve()) for k, v in codes.items()}, args.filled)
    finally:
        sshd.stop()
        shutil.rmtree(base, ignore_errors=True)
    summary = summarise(samples) if not codes and not args.filled else compare(samples)
    for line in summary["lines"]:
        print(line)
    if args.out:
        Path(args.out).write_text(json.dumps({"mib": args.mib, "samples": samples,
                                              "medians": summary["medians"]}, indent=1))


def profile(base: Path, sshd: Any, mib: int, repeat: int, counting: Any,
            team_class: Any, codes: dict[str, str] | None = None,
            filled: bool = False) -> list[dict[str, Any]]:
    ssh = shlex.split(sshd.ssh_command())
    log = base / "ssh.log"
    command = counting.ssh_wrapper(base / "bin", log, ssh)
    central = base / "central"
    central.mkdir()
    team = team_class(base, f"dvc-server:{central}",
                      extra_env={"DVC_SYNCED_SSH_COMMAND": command})
    alice = team.founder("alice")
    from benchmarks.run import bulk_sizes  # the main benchmark's bulk, file for file

    for i, size in enumerate(bulk_sizes(mib)):
        alice.write(f"bulk/b{i:03d}.bin", os.urandom(size << 20))
    alice.dvc("add", "-q", "bulk")
    alice.git("add", "-A")
    alice.git("commit", "-qm", "bulk")
    cache = alice.repo / ".dvc" / "cache"
    objects = sorted(str(p.relative_to(cache)) for p in (cache / "files").rglob("*")
                     if p.is_file() and not p.name.endswith(".dir"))
    listing = base / "bare.list"
    listing.write_text("".join(f"{rel}\n" for rel in objects))
    bare = base / "bare"

    local = alice.local_storage()

    def reset(fill: bool = False) -> None:
        for store in (central, bare, local):
            if store.exists():
                subprocess.run(["chmod", "-R", "u+w", str(store)], check=True)
                shutil.rmtree(store)
        central.mkdir()
        bare.mkdir()
        if fill:  # as a push leaves it: hard links of the cache's objects
            local.mkdir(parents=True)
            subprocess.run(["cp", "-al", str(cache / "files"), str(local / "files")],
                           check=True)
        counting.take(log)
        time.sleep(0.5)  # the last run's server processes reaped: their CPU counted there

    def run_bare() -> dict[str, Any]:
        server, here = proc_cpu(sshd.proc.pid), children_cpu()
        start = time.monotonic()
        subprocess.run(["rsync", "-t", f"--files-from={listing}", "-e", " ".join(
            shlex.quote(a) for a in ssh), f"{cache}/", f"dvc-server:{bare}/"],
            check=True, cwd=alice.repo, env=alice.env, capture_output=True)
        seconds = time.monotonic() - start
        time.sleep(0.5)
        return {"seconds": seconds, "process_seconds": seconds,
                "client_cpu": children_cpu() - here,
                "server_cpu": proc_cpu(sshd.proc.pid) - server}

    def run_ours(no_verify: bool, code: str = "") -> dict[str, Any]:
        server, here = proc_cpu(sshd.proc.pid), children_cpu()
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, __file__, "--child", *(["--no-verify"] if no_verify else []),
             *([f"--import-from={code}"] if code else [])],
            cwd=alice.repo, env=alice.env, capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"our push failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        result["process_seconds"] = time.monotonic() - start
        time.sleep(0.5)
        result["client_cpu"] = children_cpu() - here + result["master_cpu"]
        result["server_cpu"] = proc_cpu(sshd.proc.pid) - server
        result["counts"] = counting.take(log).as_dict()
        if result["bytes"] != sum((cache / rel).stat().st_size for rel in objects) + sum(
                p.stat().st_size for p in (cache / "files").rglob("*.dir")):
            raise SystemExit(f"the push moved {result['bytes']} bytes, not the bulk")
        return result

    samples = []
    if codes:
        variants = ["bare", *(f"ours@{label}" for label in codes)]
    else:
        variants = ["bare", "ours", "ours-no-verify"]
    if filled:
        variants += [f"{v}+filled" for v in variants if v.startswith("ours")]
    for rep in range(repeat):
        order = variants if rep % 2 == 0 else variants[::-1]
        sample: dict[str, Any] = {"load": os.getloadavg()[0]}
        for name in order:
            plain = name.removesuffix("+filled")
            reset(fill=name.endswith("+filled"))
            sample[name] = run_bare() if name == "bare" else run_ours(
                plain == "ours-no-verify", (codes or {}).get(plain.partition("@")[2], ""))
        samples.append(sample)
        print(f"run {rep + 1} (load {sample['load']:.1f}): " + ", ".join(
            f"{n} {sample[n]['process_seconds']:.2f}s" for n in variants), flush=True)
    return samples


def compare(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per variant: wall, share of bare's throughput, CPU on each end."""
    def med(values: list[float]) -> float:
        return statistics.median(values)

    bare = med([s["bare"]["seconds"] for s in samples])
    medians: dict[str, Any] = {"load_1min": med([s["load"] for s in samples])}
    lines = [f"Bulk push, median of {len(samples)} (load {medians['load_1min']:.1f} on "
             f"{os.cpu_count()} cores); CPU-s here + server:"]
    for name in samples[0]:
        if name == "load":
            continue
        runs = [s[name] for s in samples]
        row = {"seconds": med([r["process_seconds"] for r in runs]),
               "client_cpu": med([r["client_cpu"] for r in runs]),
               "server_cpu": med([r["server_cpu"] for r in runs]),
               "hash_cpu": med([r.get("hash_cpu", 0.0) for r in runs]),
               "sessions": med([r.get("counts", {}).get("sessions", 1) for r in runs])}
        row["share"] = bare / row["seconds"]
        medians[name] = row
        lines.append(
            f"  {name:22} {row['seconds']:6.2f} s  {row['share']:4.0%} of bare  CPU "
            f"{row['client_cpu']:5.2f} + {row['server_cpu']:5.2f}  (md5 {row['hash_cpu']:.2f})"
            f"  sessions {row['sessions']:.0f}")
    return {"medians": medians, "lines": lines}


def summarise(samples: list[dict[str, Any]]) -> dict[str, Any]:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    ours = [s["ours"] for s in samples]
    bare = med([s["bare"]["seconds"] for s in samples])
    total = med([o["process_seconds"] for o in ours])
    no_verify = med([s["ours-no-verify"]["process_seconds"] for s in samples])
    files = [[e for e in o["events"] if e[0] == "upload"] for o in ours]
    medians = {
        "bare_s": bare, "ours_s": total, "ours_over_bare": bare / total,
        "ours_no_verify_s": no_verify, "verify_wall_s": total - no_verify,
        "hash_cpu_s": med([o["hash_cpu"] for o in ours]),
        "start_s": med([o["process_seconds"] - o["seconds"] for o in ours]),
        "connect_s": med([sum(e[2] - e[1] for e in o["events"] if e[0] == "connect")
                          for o in ours]),
        "manifest_session_s": med([f[-1][2] - f[-1][1] for f in files if f]),
        "sessions": med([o["counts"]["sessions"] for o in ours]),
        "connections": med([o["counts"]["connections"] for o in ours]),
        "load_1min": med([s["load"] for s in samples]),
    }
    m = medians
    lines = [
        f"Bulk push profile, median of {len(samples)} (load {m['load_1min']:.1f} on "
        f"{os.cpu_count()} cores):",
        f"  bare rsync                      {m['bare_s']:6.2f} s",
        f"  ours (whole process)            {m['ours_s']:6.2f} s  = {m['ours_over_bare']:.0%}"
        " of bare's throughput",
        f"  ours, md5 check stubbed         {m['ours_no_verify_s']:6.2f} s  (check costs "
        f"{m['verify_wall_s']:.2f} s wall, {m['hash_cpu_s']:.2f} CPU-s)",
        f"  process start before the flow   {m['start_s']:6.2f} s",
        f"  ssh handshake (master)          {m['connect_s']:6.2f} s",
        f"  manifest session (last)         {m['manifest_session_s']:6.2f} s",
        f"  ssh connections / sessions      {m['connections']:.0f} / {m['sessions']:.0f}",
    ]
    return {"medians": medians, "lines": lines}


if __name__ == "__main__":
    main()
