"""`git push` of 1 GiB of new data with and without `dvc-synced.upload-on-commit`, side
by side in one run (issue #24).

    python benchmarks/upload_on_commit.py [--size-mib 1024] [--files 8] [--repeat 3]
                                          [--central ssh|local] [--out FILE]

Three clones, each with its own git server and central storage (rsync over the test
suite's loopback sshd by default), plain hooks (`dvc-synced install`). Per repetition
each gets new random files (`--size-mib` in `--files` files), `dvc add` and `git add`
outside the timing, then, in an order that rotates per repetition:

  off           `git commit`, then `git push` (the push uploads)
  on, later     `git commit` (starts the background upload), wait until the job is
                done, then `git push` (it only confirms)
  on, at once   `git commit`, then `git push` at once (it waits for the job, then confirms)

Per sample: the commit's time, the push's time, and the time from the commit's start
until the data is on central (off: commit + push; on: until the job records its end, by
its own clock), and the job's own duration. Prints medians and writes every sample with
the load average to --out (default benchmarks/results-upload-on-commit.json).

    python benchmarks/upload_on_commit.py --hook-cost-against REV [--out FILE]

instead times the post-commit hook process with the setting off (what every commit pays),
the package at REV vs this one, 30 alternating runs each, after a commit of code and after
a commit of data.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import harness  # noqa: E402
from tests.harness import Team, User  # noqa: E402

VARIANTS = ("off", "on, later", "on, at once")


def setup(base: Path, name: str, central_kind: str, sshd: harness.Sshd | None) -> User:
    root = base / name.replace(", ", "-").replace(" ", "-")
    root.mkdir()
    central = root / "central"
    central.mkdir()
    if central_kind == "ssh":
        assert sshd is not None
        team = Team(root, f"dvc-server:{central}",
                    extra_env={"DVC_SYNCED_SSH_COMMAND": sshd.ssh_command()})
    else:
        team = Team(root, str(central))
    alice = team.founder("alice")
    alice.synced("install")
    alice.git("config", "dvc-synced.upload-on-commit", "false" if name == "off" else "true")
    return alice


def new_data(user: User, tag: str, size_mib: int, files: int) -> None:
    folder = user.repo / tag
    folder.mkdir()
    each = (size_mib << 20) // files
    for i in range(files):
        with open(folder / f"part-{i}.bin", "wb") as f:
            left = each
            while left:
                chunk = min(left, 16 << 20)
                f.write(os.urandom(chunk))
                left -= chunk
    user.dvc("add", "-q", tag)
    user.git("add", f"{tag}.dvc", ".gitignore")


def job_result(user: User) -> dict:
    try:
        return json.loads((user.repo / ".git" / "dvc-synced" / "upload.json").read_text())
    except (OSError, ValueError):
        return {}


def wait_job(user: User, commit: str, timeout: float = 1800) -> float:
    """Until the job records the end of the upload of `commit`; returns that moment."""
    deadline = time.monotonic() + timeout
    while True:
        state = job_result(user)
        if state.get("commit") == commit and state.get("result") not in (None, "running"):
            if state["result"] != "ok":
                raise SystemExit(f"background upload failed: {state}")
            return time.monotonic()
        if time.monotonic() > deadline:
            raise SystemExit(f"background upload did not end: {state}")
        time.sleep(0.02)


def sample(user: User, variant: str, tag: str) -> dict[str, float]:
    start, wall = time.monotonic(), time.time()
    user.git("commit", "-q", "-m", tag)
    committed = time.monotonic()
    head = user.git("rev-parse", "HEAD").stdout.strip()
    if variant == "on, later":
        wait_job(user, head)
    push_start = time.monotonic()
    push = user.run("git", "push", "-q", "origin", "main")
    pushed = time.monotonic()
    result = {"commit": committed - start, "push": pushed - push_start}
    if variant == "off":
        result["commit_to_central"] = pushed - start
    else:
        wait_job(user, head, timeout=1 if variant == "on, at once" else 1800)
        state = job_result(user)  # the job's own clock: when its upload ended
        result["commit_to_central"] = float(state["finished"]) - wall
        result["job"] = float(state["finished"]) - float(state["started"])
    last = [ln for ln in push.stderr.splitlines() if "object(s)" in ln]
    return {**result, "push_said": last[-1] if last else ""}


def hook_cost(base: Path, old_rev: str, rounds: int) -> dict[str, dict[str, float]]:
    """The post-commit hook process alone, setting off, old code vs this code alternating:
    after a commit of code and after a commit of data (`PYTHONPATH` picks the package)."""
    sides = {"old": base / "old-code", "new": Path(__file__).resolve().parent.parent}
    sides["old"].mkdir()
    archive = subprocess.run(["git", "archive", old_rev, "dvc_synced_plugin"],
                             cwd=sides["new"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(sides["old"])], input=archive, check=True)
    (base / "hook-cost").mkdir()
    (base / "hook-cost-central").mkdir()
    team = Team(base / "hook-cost", str(base / "hook-cost-central"))
    alice = team.founder("alice")
    alice.synced("install")
    times: dict[str, list[float]] = {}
    for kind in ("code", "data"):
        if kind == "code":
            alice.write("notes.txt", "x\n")
            alice.git("add", "notes.txt")
        else:
            add_small = alice.repo / "small.bin"
            add_small.write_bytes(os.urandom(1000))
            alice.dvc("add", "-q", "small.bin")
            alice.git("add", "small.bin.dvc", ".gitignore")
        alice.git("commit", "-q", "-m", kind)
        for i in range(rounds):
            for side in (("old", "new") if i % 2 == 0 else ("new", "old")):
                env = {**alice.env, "PYTHONPATH": str(sides[side])}
                t0 = time.monotonic()
                harness.run([sys.executable, "-m", "dvc_synced_plugin", "hook", "post-commit"],
                            alice.repo, env)
                times.setdefault(f"{kind}/{side}", []).append(time.monotonic() - t0)
    return {"median_ms": {k: statistics.median(v) * 1000 for k, v in times.items()},
            "samples_ms": {k: [x * 1000 for x in v] for k, v in times.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--central", choices=("ssh", "local"), default="ssh")
    parser.add_argument("--out", default=str(Path(__file__).parent /
                                             "results-upload-on-commit.json"))
    parser.add_argument("--hook-cost-against", metavar="REV",
                        help="instead: the no-op post-commit hook (setting off), the code at "
                        "REV vs this code, 30 alternating runs each")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="dvc-synced-upload-bench-", dir="/var/tmp"))
    if args.hook_cost_against:
        try:
            load = os.getloadavg()[0]
            cost = hook_cost(base, args.hook_cost_against, 30)
        finally:
            subprocess.run(["rm", "-rf", str(base)], check=False)
        print(f"post-commit hook process, setting off, load average {load:.1f} "
              f"(median of 30, alternating):")
        for kind in ("code", "data"):
            old, new = cost["median_ms"][f"{kind}/old"], cost["median_ms"][f"{kind}/new"]
            print(f"  after a commit of {kind}: {args.hook_cost_against[:10]} {old:.0f} ms, "
                  f"this code {new:.0f} ms (ratio {new / old:.3f})")
        Path(args.out).write_text(json.dumps({"against": args.hook_cost_against,
                                              "load": load, **cost}, indent=1) + "\n")
        return 0
    sshd = harness.start_sshd(base / "sshd") if args.central == "ssh" else None
    samples: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    loads: list[float] = []
    try:
        users = {v: setup(base, v, args.central, sshd) for v in VARIANTS}
        for rep in range(args.repeat):
            order = VARIANTS[rep % 3:] + VARIANTS[:rep % 3]
            for variant in order:
                user = users[variant]
                tag = f"bulk{rep}"
                new_data(user, tag, args.size_mib, args.files)
                loads.append(os.getloadavg()[0])
                result = sample(user, variant, tag)
                samples[variant].append(result)
                print(f"rep {rep} {variant:12} commit {result['commit']:6.2f}s  push "
                      f"{result['push']:6.2f}s  commit->central "
                      f"{result['commit_to_central']:6.2f}s  | {result['push_said']}",
                      flush=True)
                shutil.rmtree(user.repo / tag)  # the workspace copy; stores keep theirs
    finally:
        if sshd is not None:
            sshd.stop()
        subprocess.run(["rm", "-rf", str(base)], check=False)
    medians = {v: {k: statistics.median(s[k] for s in samples[v])
                   for k in ("commit", "push", "commit_to_central") + (("job",) if v != "off"
                                                                        else ())}
               for v in VARIANTS}
    print(f"\n{args.size_mib} MiB in {args.files} files, central {args.central}, "
          f"{args.repeat} repetitions, load average {min(loads):.1f}-{max(loads):.1f}")
    print("| upload-on-commit | git commit | git push | commit -> data on central | "
          "background job |")
    print("|---|---|---|---|---|")
    for v in VARIANTS:
        m = medians[v]
        job = f"{m['job']:.2f} s" if "job" in m else "-"
        print(f"| {v} | {m['commit']:.2f} s | {m['push']:.2f} s | "
              f"{m['commit_to_central']:.2f} s | {job} |")
    off = medians["off"]["push"]
    for v in VARIANTS[1:]:
        print(f"git push {v} / off: {medians[v]['push'] / off:.3f}")
    Path(args.out).write_text(json.dumps({
        "size_mib": args.size_mib, "files": args.files, "central": args.central,
        "repeat": args.repeat, "load": loads, "medians": medians, "samples": samples,
    }, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
