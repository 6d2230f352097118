"""Measure import-url / update on a local upstream (rsync): what a change of a few files
costs against the size of the dataset, and how big the record gets.

    .venv/bin/python benchmarks/imports.py [--files N] [--big-mb M] [--out FILE]

Writes a markdown block (default benchmarks/imports.md) with the figures of this run; the
docs/imports.md cites that file. Files that crossed the
wire are counted from rsync's own --log-file (a wrapper first on PATH adds it).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import make_env  # noqa: E402


def sh(args: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> float:
    start = time.monotonic()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.monotonic() - start
    if check and proc.returncode != 0:
        raise SystemExit(f"{args} failed: {proc.stdout}\n{proc.stderr}")
    return took


def received(log: Path) -> int:
    return sum(1 for ln in log.read_text(errors="replace").splitlines() if "] >f" in ln)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20_000, help="small files upstream")
    ap.add_argument("--big-mb", type=int, default=400, help="MB in 4 MB files upstream")
    ap.add_argument("--changed", type=int, default=10)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "imports.md"))
    opts = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="dvcs-bench-imports-"))
    try:
        home = base / "home"
        home.mkdir()
        env = make_env(home)
        log = base / "rsync.log"
        bindir = base / "bin"
        bindir.mkdir()
        (bindir / "rsync").write_text(f"#!/bin/sh\nexec {shutil.which('rsync')} "
                                      f"--log-file={log} '--log-file-format=%i %n' \"$@\"\n")
        (bindir / "rsync").chmod(0o755)
        env["PATH"] = f"{bindir}{os.pathsep}{env['PATH']}"
        for key, val in (("user.name", "b"), ("user.email", "b@example.com")):
            sh(["git", "config", "--global", key, val], base, env)
        up = base / "upstream"
        for i in range(opts.files):
            path = up / "small" / f"{i % 100:02d}" / f"f{i}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(1024))
        for i in range(opts.big_mb // 4):
            path = up / "big" / f"b{i}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(4 << 20))
        repo = base / "repo"
        sh(["git", "init", "-q", str(repo)], base, env)
        py = [sys.executable, "-m"]
        sh([*py, "dvc", "init", "-q"], repo, env)
        sh([*py, "dvc_synced_plugin", "init", "--central", str(base / "central")], repo, env)
        (base / "central").mkdir()
        sh(["git", "add", "-A"], repo, env)
        sh(["git", "commit", "-qm", "init"], repo, env)
        total = opts.files + opts.big_mb // 4
        rows = []
        log.write_text("")
        t = sh([*py, "dvc_synced_plugin", "import-url", str(up), "data"], repo, env)
        rows.append(("import-url (all files)", t, received(log)))
        sh(["git", "add", "-A"], repo, env)
        sh(["git", "commit", "-qm", "import"], repo, env)
        record = (repo / "data.dvc").stat().st_size
        log.write_text("")
        t = sh([*py, "dvc_synced_plugin", "update", "--check"], repo, env)
        rows.append(("update --check, nothing changed", t, received(log)))
        # Change a few small files and one big one.
        for i in range(opts.changed - 1):
            (up / "small" / f"{i % 100:02d}" / f"f{i}.txt").write_bytes(os.urandom(1024))
        (up / "big" / "b0.bin").write_bytes(os.urandom(4 << 20))
        log.write_text("")
        t = sh([*py, "dvc_synced_plugin", "update", "--check"], repo, env, check=False)
        rows.append((f"update --check, {opts.changed} changed", t, received(log)))
        log.write_text("")
        t = sh([*py, "dvc_synced_plugin", "update", "--commit"], repo, env)
        rows.append((f"update --commit, {opts.changed} changed", t, received(log)))
        # The manual way for comparison: re-sync the copy, dvc add, commit.
        for i in range(opts.changed - 1):
            (up / "small" / f"{i % 100:02d}" / f"f{i}.txt").write_bytes(os.urandom(1024))
        log.write_text("")
        start = time.monotonic()
        sh(["rsync", "-rt", f"{up}/", f"{repo / 'data'}/"], repo, env)
        sh([*py, "dvc", "add", "-q", "data"], repo, env)
        sh(["git", "commit", "-qam", "manual"], repo, env)
        rows.append((f"manual: rsync -rt + dvc add + commit, {opts.changed - 1} changed",
                     time.monotonic() - start, received(log)))
        load = os.getloadavg()[0]
        lines = [
            f"Run of {time.strftime('%Y-%m-%dT%H:%M:%S%z')} "
            f"(`python benchmarks/imports.py --files {opts.files} --big-mb {opts.big_mb}`) on "
            f"{os.cpu_count()} cores, {platform.platform()}, load average {load:.2f} at the end.",
            "",
            f"Upstream: a local path (rsync), {opts.files:,} files of 1 KiB and "
            f"{opts.big_mb // 4} of 4 MiB ({total:,} files). Wall time of each command; files "
            "received, from rsync's own log.",
            "",
            "| step | time | files received |",
            "|---|---|---|",
            *[f"| {name} | {t:.2f} s | {n:,} |" for name, t, n in rows],
            "",
            f"Size of the `.dvc` file with the record of {total:,} files: "
            f"{record / 1e6:.2f} MB ({record / total:.0f} bytes a file).",
        ]
        Path(opts.out).write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
