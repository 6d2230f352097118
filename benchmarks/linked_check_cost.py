"""What proving a linked workspace file's version from its bytes costs (issue #21).

A pull replaces a file only once it has proved the file holds the old version. With
cache.type hardlink or symlink, "same inode as the old object" is no proof (an in-place
write changes the object too), so the file is hashed. Only the entries the change
touches are hashed: this measures a directory output of FILES files, hard-linked to the
cache, and a change of K of them, K = 10, 100, 1000 (64 KiB each), median of 5.

    python benchmarks/linked_check_cost.py [--files 10000]

Run it on the code to compare (PYTHONPATH=<old checkout>).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dvc_synced_plugin.dvcfiles.objects import ObjectRef, manifest_delta
from dvc_synced_plugin.dvcfiles.pointers import Out
from dvc_synced_plugin.storage.stores import ObjectStore
from dvc_synced_plugin.workspace import checkout as workspace


def _manifest(entries: dict[str, str]) -> bytes:
    return json.dumps([{"md5": m, "relpath": r} for r, m in sorted(entries.items())],
                      sort_keys=True).encode()


def trial(base: Path, files: int, changed: int) -> float:
    cache = ObjectStore(base / "cache", "DVC cache")

    def put(data: bytes) -> str:
        md5 = hashlib.md5(data).hexdigest()
        path = cache.path(ObjectRef(md5, False))
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_bytes(data)
            os.chmod(path, 0o444)
        return md5

    repo = base / "repo"
    old, new = {}, {}
    for i in range(files):
        rel = f"d{i % 100}/f{i}.bin"
        data = i.to_bytes(4, "big") * (16384 if i < changed else 4)
        old[rel] = put(data)
        target = repo / "data" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(cache.path(ObjectRef(old[rel], False)), target)
        new[rel] = put(data + b"v2") if i < changed else old[rel]
    old_out = Out("data", "data", "1" * 32 + ".dir", False, "data.dvc", "data.dvc")
    new_out = Out("data", "data", "2" * 32 + ".dir", False, "data.dvc", "data.dvc")
    deltas = {(old_out.oid, new_out.oid): manifest_delta(_manifest(old), _manifest(new),
                                                         False, "data")}
    start = time.perf_counter()
    left = workspace.update(repo, cache, ["hardlink"], [(old_out, new_out)], deltas)
    took = time.perf_counter() - start
    assert left == set(), left
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10000)
    args = parser.parse_args()
    for changed in (10, 100, 1000):
        times = []
        for _ in range(5):
            base = Path(tempfile.mkdtemp(prefix="dvc-synced-linked-"))
            try:
                times.append(trial(base, args.files, changed))
            finally:
                shutil.rmtree(base, ignore_errors=True)
        print(f"{args.files} files, {changed} changed (64 KiB each): "
              f"median {statistics.median(times) * 1000:.1f} ms")
    print(f"(load {os.getloadavg()[0]:.1f})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
