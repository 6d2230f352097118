"""What verifying on read costs (issue #13): hashing objects before they leave a shared store.

    python benchmarks/verify_cost.py [--small 2000] [--mb 100]

Measures, on this machine, with warm page cache (the objects were just written):
  hash      content_hash of one large object: ms per 100 MB
  pull      local storage -> cache of N small objects, and of one large one: the old
            unverified copy vs the new verified share (reflink or hard link, then hash)
  push      verify_objects of N small objects already in the local storage (the check a
            push now makes before uploading them)
Prints one JSON object; docs/disk.md quotes a run of it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from dvc_synced_plugin.oids import ObjectRef
from dvc_synced_plugin.safety import content_hash
from dvc_synced_plugin.storage.stores import ObjectStore, copy_objects, verify_objects


def _fill(store: ObjectStore, blobs: list[bytes]) -> list[ObjectRef]:
    refs = []
    for data in blobs:
        ref = ObjectRef(hashlib.md5(data).hexdigest(), False)
        path = store.path(ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, 0o444)
        refs.append(ref)
    return refs


def _best(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=4)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="dvc-synced-verify-"))
    try:
        big = base / "big"
        big.write_bytes(os.urandom(args.mb << 20))

        def hash_big() -> None:
            with open(big, "rb") as fobj:
                content_hash(fobj, False)

        hash_s = _best(hash_big)
        local = ObjectStore(base / "local", "local storage")
        blobs = [os.urandom(1024 + i % 4096) for i in range(args.small)]
        refs = _fill(local, blobs)

        def pull(verify: bool, share: bool) -> float:
            def once() -> None:
                cache = ObjectStore(base / "cache", "DVC cache")
                shutil.rmtree(cache.root, ignore_errors=True)
                copy_objects(local, cache, refs, args.jobs, verify=verify, share=share)
            return _best(once)

        old = pull(verify=False, share=False)
        new = pull(verify=True, share=True)
        large = _fill(local, [big.read_bytes()])
        refs, small_refs = large, refs
        old_big = pull(verify=False, share=False)
        new_big = pull(verify=True, share=True)
        refs = small_refs
        push = _best(lambda: verify_objects(local, refs, args.jobs))
        print(json.dumps({
            "hash_ms_per_100MB": round(hash_s * 1000 * 100 / args.mb, 1),
            "small_objects": args.small,
            "pull_copy_unverified_s": round(old, 3),
            "pull_share_verified_s": round(new, 3),
            "pull_large_copy_unverified_s": round(old_big, 3),
            "pull_large_share_verified_s": round(new_big, 3),
            "push_verify_small_s": round(push, 3),
            "push_verify_ms_per_object": round(push * 1000 / args.small, 3),
        }, indent=2))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
