"""What the hooks' manifest work costs at 10^6 entries, in one process (issue #14).

    python benchmarks/huge_core.py                          # this code
    git archive 772495b dvc_synced_plugin | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python benchmarks/huge_core.py      # the code before the 10^6 work

A synthetic `.dir` of 10^6 entries in DVC's layout (76 MB) and a version with 9 entries
changed: the delta between them, the full safety proof of the new one, and (this code
only) the proof from the older clean version. Medians of 5; prints one line per figure.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import statistics
import time
from typing import Callable

import dvc_synced_plugin
from dvc_synced_plugin import safety
from dvc_synced_plugin.dvcfiles import objects

N = 1_000_000


def manifests() -> tuple[bytes, bytes]:
    rng = random.Random(1)
    entries = [{"md5": rng.randbytes(16).hex(), "relpath": f"d{i // 1000:03d}/f{i:06d}.txt"}
               for i in range(N)]
    old = json.dumps(entries, sort_keys=True).encode()
    for i in rng.sample(range(N), 9):
        entries[i]["md5"] = rng.randbytes(16).hex()
    return old, json.dumps(entries, sort_keys=True).encode()


def timed(label: str, fn: Callable[[], object], reps: int = 5) -> None:
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    print(f"{label:48} median {1000 * statistics.median(samples):8.1f} ms", flush=True)


def main() -> None:
    print(f"code: {os.path.dirname(dvc_synced_plugin.__file__)}; load {os.getloadavg()[0]:.1f}")
    old, new = manifests()
    timed("manifest_delta(old, new)", lambda: objects.manifest_delta(old, new, False, "data"))
    timed("unsafe_manifest(new): full regex proof", lambda: safety.unsafe_manifest(new, "data"))
    if hasattr(safety, "manifest_check"):
        oid = hashlib.md5(new).hexdigest() + ".dir"

        def from_base() -> None:
            safety._PROVEN.discard(oid)
            assert safety.manifest_check(oid, new, "data", old)[0] is None

        timed("manifest_check(new, base=old): delta proof", from_base)


if __name__ == "__main__":
    main()
