"""`dvc-synced demo`: two teammates share a dataset with nothing but git push and git pull.

Everything runs for real in a temporary directory: a bare git repository as the git
server, a directory as the central storage, and alice's and bob's clones, each with an
own HOME (so an own local storage, as on two machines) and dvc-synced's plain hooks. The
team is `sandbox.py`, which the test suite's harness builds on too.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from dvc_synced_plugin.output import human_bytes
from dvc_synced_plugin.sandbox import CommandFailed, Team, User

SMALL_FILES = 300
LARGE_BYTES = 32 * 1024 * 1024
CHANGED = 3


class DemoFailure(Exception):
    pass


def _objects(store: Path) -> dict[str, int]:
    if not store.exists():
        return {}
    return {
        str(p.relative_to(store)): p.stat().st_size
        for p in store.rglob("*")
        if p.is_file() and ".dvc-synced" not in p.relative_to(store).parts
    }


def _digest(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and ".git" not in p.relative_to(root).parts \
                and ".dvc" not in p.relative_to(root).parts:
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _make_dataset(repo: Path, rng: random.Random) -> None:
    images = repo / "data" / "images"
    for i in range(SMALL_FILES):
        sub = images / f"class {i % 5}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"img-{i:04d}.bin").write_bytes(rng.randbytes(rng.randint(1024, 16 * 1024)))
    (repo / "data" / "model.bin").write_bytes(rng.randbytes(LARGE_BYTES))


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", action="store_true",
                        help="keep the demo's temporary directory")


def run(args: argparse.Namespace) -> int:
    return demo(keep=args.keep)


def demo(keep: bool = False) -> int:
    base = Path(tempfile.mkdtemp(prefix="dvc-synced-demo-"))
    steps: list[str] = []
    rng = random.Random(42)
    print(f"dvc-synced demo in {base}")
    try:
        _run(base, rng, steps)
    except (DemoFailure, CommandFailed) as exc:
        print(f"\nDEMO FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    return 0


def _step(label: str, fn, report) -> None:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    fn()
    seconds = time.monotonic() - start
    print(f"  {label:<52} {report():<36} {seconds:6.2f}s", flush=True)


def _run(base: Path, rng: random.Random, steps: list[str]) -> None:
    central = base / "central"
    central.mkdir()
    team = Team(base, str(central))
    alice = team.user("alice")

    def moved(store: Path, before: dict[str, int]):  # type: ignore[no-untyped-def]
        def report() -> str:
            now = _objects(store)
            new = {k: v for k, v in now.items() if k not in before}
            return f"+{len(new)} objects ({human_bytes(sum(new.values()))})"
        return report

    print("\n1. alice sets up the project (dvc init, dvc-synced init, dvc-synced install)")
    alice.dvc("init", "-q")
    alice.synced("init", "--central", str(central), "--no-pre-commit-config")  # plain hooks
    alice.synced("install")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "Use DVC with dvc-synced")

    print(f"\n2. alice tracks a dataset: {SMALL_FILES} files in data/images and a "
          f"{human_bytes(LARGE_BYTES)} data/model.bin")
    _make_dataset(alice.repo, rng)

    def add_commit(msg: str) -> None:
        alice.dvc("add", "-q", "data/images", "data/model.bin")
        alice.git("add", "-A")
        alice.git("commit", "-q", "-m", msg)

    _step("alice: dvc add + git commit", lambda: add_commit("Add dataset"), lambda: "")
    before = _objects(central)
    _step("alice: git push      (hook uploads to central)",
          lambda: alice.git("push", "-q", "origin", "main"), moved(central, before))

    print("\n3. bob clones and gets the data")
    bobs: list[User] = []
    _step("bob: git clone + dvc-synced install",
          lambda: (bobs.append(team.user("bob")), bobs[0].synced("install")), lambda: "")
    bob = bobs[0]
    _step("bob: dvc-synced pull (first time, everything)", lambda: bob.synced("pull"),
          moved(bob.home / ".cache" / "dvc-synced", {}))
    _compare(alice, bob)

    print(f"\n4. alice changes {CHANGED} images and pushes")
    images = sorted((alice.repo / "data" / "images").rglob("*.bin"))
    for path in rng.sample(images, CHANGED):
        os.chmod(path, 0o644)
        path.unlink()
        path.write_bytes(rng.randbytes(4096))
    _step("alice: dvc add + git commit", lambda: add_commit("Relabel a few images"), lambda: "")
    before = _objects(central)
    _step("alice: git push      (hook uploads the change)",
          lambda: alice.git("push", "-q", "origin", "main"), moved(central, before))

    print("\n5. bob pulls: only the changed objects move")
    store = bob.local_storage()
    before = _objects(store)
    _step("bob: git pull        (hook downloads the change)",
          lambda: bob.git("pull", "-q"), moved(store, before))
    _compare(alice, bob)
    new = set(_objects(store)) - set(before)
    if len(new) != CHANGED + 1:  # the changed files and the directory's new manifest
        raise DemoFailure(f"bob's pull moved {len(new)} objects, expected {CHANGED + 1}")
    print("\nOK: bob's workspace is byte-for-byte alice's; only the change moved.")


def _compare(alice: User, bob: User) -> None:
    a, b = _digest(alice.repo / "data"), _digest(bob.repo / "data")
    if a != b:
        diff = sorted(set(a.items()) ^ set(b.items()))[:5]
        raise DemoFailure(f"bob's data differs from alice's: {diff}")
    print(f"  bob's data matches alice's: {len(a)} files, byte for byte")
