"""`git pull` of a change to a big raw dataset and a small feature set, with and without
`dvc-synced.fetch-exclude`, side by side in one run (issue #24, item 2).

    python benchmarks/fetch_patterns.py [--raw-mib 256] [--files 16] [--repeat 3]
                                        [--out FILE]

One team (git server, central storage a local directory, rsync), plain hooks
(`dvc-synced install`). alice tracks `data/raw` (`--raw-mib` in `--files` files) and
`data/features` (1 MiB). Two teammates pull the same history: `all` without patterns,
`selective` with `fetch-exclude = data/raw`. Per repetition alice commits new random
bytes in both outputs and pushes (outside the timing); then each teammate runs
`git pull`, in an order that alternates per repetition. Per sample: the pull's time and
the bytes that came into the clone's DVC cache. Prints medians and writes every sample
with the load average to --out (default benchmarks/results-fetch-patterns.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness import Team, User  # noqa: E402

VARIANTS = ("all", "selective")


def cache_bytes(user: User) -> int:
    root = user.repo / ".dvc" / "cache"
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def new_version(alice: User, raw_mib: int, files: int) -> None:
    chunk = raw_mib * (1 << 20) // files
    for i in range(files):
        alice.write(f"data/raw/part{i:03}.bin", os.urandom(chunk))
    for i in range(16):
        alice.write(f"data/features/f{i:02}.bin", os.urandom(1 << 16))
    alice.dvc("add", "-q", "data/raw", "data/features")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "new data")
    alice.git("push", "-q", "origin", "main")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raw-mib", type=int, default=256)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent /
                                             "results-fetch-patterns.json"))
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="dvc-synced-fetch-patterns-"))
    samples: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    try:
        central = base / "central"
        central.mkdir()
        team = Team(base, str(central))
        alice = team.founder("alice")
        alice.synced("install")
        new_version(alice, args.raw_mib, args.files)
        users = {}
        for variant in VARIANTS:
            user = team.user(variant)
            if variant == "selective":
                user.git("config", "dvc-synced.fetch-exclude", "data/raw")
            user.synced("install")
            user.synced("pull")
            users[variant] = user
        for rep in range(args.repeat):
            new_version(alice, args.raw_mib, args.files)
            order = VARIANTS if rep % 2 == 0 else VARIANTS[::-1]
            for variant in order:
                user = users[variant]
                before = cache_bytes(user)
                start = time.perf_counter()
                user.git("pull", "-q", "origin", "main")
                seconds = time.perf_counter() - start
                samples[variant].append({"seconds": seconds,
                                         "cache_bytes": cache_bytes(user) - before,
                                         "load": os.getloadavg()[0]})
    finally:
        shutil.rmtree(base, ignore_errors=True)
    medians = {v: statistics.median(s["seconds"] for s in samples[v]) for v in VARIANTS}
    print(f"| git pull of {args.raw_mib} MiB raw + 1 MiB features | median s | "
          "MiB into the cache (median) |")
    print("|---|---|---|")
    for v in VARIANTS:
        mib = statistics.median(s["cache_bytes"] for s in samples[v]) / (1 << 20)
        print(f"| {v} | {medians[v]:.2f} | {mib:.1f} |")
    print(f"ratio all/selective: {medians['all'] / medians['selective']:.1f}x; "
          f"load average at the end: {os.getloadavg()}")
    Path(args.out).write_text(json.dumps({"args": vars(args), "samples": samples,
                                          "medians": medians,
                                          "load_end": os.getloadavg()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
