"""Disk use per `cache.type` (docs/disk.md): one user with one clone, then a second clone
sharing the same local storage, after a pull of the same data. Real git, DVC, rsync.

    python benchmarks/disk_cache_types.py [--mb 8] [--json]

Prints, per cache type, `dvc-synced du`'s total and ratio for the first clone, and the
bytes on disk of both clones together (workspaces, caches, the shared local storage,
each inode once), over the data size. Run it on the code to compare (PYTHONPATH).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

from tests.harness import Team, User, run

CACHE_TYPES = ("", "copy", "hardlink", "symlink", "hardlink,symlink")


def on_disk(users: list[User]) -> int:
    seen: dict[tuple[int, int], int] = {}
    for user in users:
        for top in (user.repo / "data", user.repo / ".dvc" / "cache", user.local_storage()):
            for path in top.rglob("*"):
                if path.is_file() and not path.is_symlink():
                    st = path.stat()
                    seen[(st.st_dev, st.st_ino)] = st.st_size
    return sum(seen.values())


def measure(base: Path, cache_type: str, mb: int) -> dict:
    central = base / "central"
    central.mkdir()
    team = Team(base, str(central))
    alice = team.founder()
    rng = random.Random(1)
    size = 0
    files = {"data/model.bin": rng.randbytes(mb * 3 // 4 << 20)}
    files.update({f"data/images/{i:02d}.bin": rng.randbytes((mb << 20) // 160)
                  for i in range(40)})
    for rel, data in files.items():
        alice.write(rel, data)
        size += len(data)
    alice.dvc("add", "-q", "data")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "data")
    alice.synced("push")
    alice.git("push", "-q", "origin", "main")
    bob = team.user("bob")
    second = User("bob2", bob.home, base / "bob2", bob.env)
    run(["git", "clone", "-q", str(team.server), str(second.repo)], base, bob.env)
    for user in (bob, second):
        if cache_type:
            user.dvc("config", "--local", "cache.type", cache_type)
    bob.synced("pull")
    du = json.loads(bob.synced("du", "--json").stdout)
    one = on_disk([bob])
    second.synced("pull")
    two = on_disk([bob, second])
    return {"cache_type": cache_type or "default", "data": size, "du_total": du["total"],
            "du_ratio": du["ratio"], "one_clone": one, "one_ratio": round(one / size, 2),
            "two_clones": two, "two_ratio": round(two / size, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for cache_type in CACHE_TYPES:
        with tempfile.TemporaryDirectory(prefix="dvc-synced-disk-") as tmp:
            rows.append(measure(Path(tmp), cache_type, args.mb))
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print("| cache.type | du, first clone | both clones, one local storage |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['cache_type']} | {r['du_total'] / 1e6:.1f} MB ({r['du_ratio']:.2f}x) | "
              f"{r['two_clones'] / 1e6:.1f} MB ({r['two_ratio']:.2f}x) |")
    print(f"(data: {rows[0]['data'] / 1e6:.1f} MB; load {os.getloadavg()[0]:.1f})",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
