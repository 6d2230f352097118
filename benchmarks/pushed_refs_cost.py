"""What each way of learning a push's refs under pre-commit costs (issue #9, item 1).

    python benchmarks/pushed_refs_cost.py [--repeat 20]

A real `git push origin b1 b2` runs a pre-push hook (this script again, `--hook`) that times,
inside the hook, each candidate dvc-synced could use when pre-commit hides the refs:
  walk-proc   find the ancestor `git push` and its argv through /proc (Linux)
  walk-ps     the same through `ps -o ppid= -o args= -p PID` (what macOS gets)
  dry-local   `git push --dry-run` with a recorder hook, git remote a local path
  dry-ssh     the same, git remote over ssh to the loopback sshd
  legacy      pre-commit's way of running pre-push.legacy: subprocess.run(hook, input=stdin)
  ssh-true    a bare `ssh host true` to the same sshd: the part of dry-ssh that is ssh's
with the hook's parent being git itself (pre-commit adds two levels to the walk; a few µs).
Prints medians in ms (over --repeat calls each).
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
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def timed(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def hook(out: Path, repeat: int) -> None:
    """Inside the pre-push hook of a real `git push`."""
    from dvc_synced_plugin.hooks import pushed_refs

    root = Path.cwd()
    stdin = sys.stdin.read()
    args = pushed_refs.git_push_args(root)
    results = {"argv_after_push": args}
    results["walk-proc"] = timed(lambda: pushed_refs.git_push_args(root), repeat)
    proc_info = pushed_refs._proc_info
    pushed_refs._proc_info = pushed_refs._ps_info  # type: ignore[assignment]
    assert pushed_refs.git_push_args(root) == args
    results["walk-ps"] = timed(lambda: pushed_refs.git_push_args(root), repeat)
    pushed_refs._proc_info = proc_info  # type: ignore[assignment]
    env = dict(os.environ)
    lines = pushed_refs.dry_run_lines(root, args, env, 30)
    assert lines.strip() == stdin.strip(), (lines, stdin)
    results["dry-" + os.environ["BENCH_REMOTE"]] = timed(
        lambda: pushed_refs.dry_run_lines(root, args, env, 30), repeat)
    legacy = Path(tempfile.mkdtemp()) / "pre-push.legacy"
    legacy.write_text('#!/bin/sh\ncat > "$0.refs"\n')
    legacy.chmod(0o755)
    results["legacy"] = timed(
        lambda: subprocess.run([str(legacy), "origin", "url"], input=stdin.encode()), repeat)
    out.write_text(json.dumps(results))
    sys.exit(1)  # the push itself is not wanted


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--hook", nargs=2, help=argparse.SUPPRESS)
    opts, _ = parser.parse_known_args()
    if opts.hook:
        hook(Path(opts.hook[0]), int(opts.hook[1]))
    from tests.conftest import make_env, run, start_sshd

    base = Path(tempfile.mkdtemp(prefix="dvc-synced-refs-bench-"))
    sshd = start_sshd(base / "sshd")
    try:
        env = make_env(base, {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
                              "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b",
                              "GIT_SSH_COMMAND": sshd.ssh_command()})
        run(["git", "init", "-q", "--bare", str(base / "server.git")], base, env)
        repo = base / "repo"
        run(["git", "init", "-q", "-b", "main", str(repo)], base, env)
        for branch in ("main", "b1", "b2"):
            run(["git", "switch", "-q", "-C", branch], repo, env)
            run(["git", "commit", "-q", "--allow-empty", "-m", branch], repo, env)
        hooks = repo / ".git" / "hooks"
        (hooks / "pre-push").write_text(
            f"#!/bin/sh\nexec {sys.executable} {Path(__file__).resolve()} "
            f"--hook \"$BENCH_OUT\" {opts.repeat}\n")
        (hooks / "pre-push").chmod(0o755)
        results: dict[str, object] = {}
        for name, url in (("local", str(base / "server.git")),
                          ("ssh", f"{sshd.host_alias}:{base / 'server.git'}")):
            run(["git", "remote", "remove", "origin"], repo, env, check=False)
            run(["git", "remote", "add", "origin", url], repo, env)
            out = base / f"{name}.json"
            run(["git", "push", "origin", "b1", "b2"], repo,
                {**env, "BENCH_OUT": str(out), "BENCH_REMOTE": name}, check=False)
            results.update(json.loads(out.read_text()))
        ssh = [*sshd.ssh_command().split(), sshd.host_alias, "true"]
        results["ssh-true"] = timed(lambda: subprocess.run(ssh, check=True), opts.repeat)
        version = run(["git", "--version"], base, env).stdout.split()[-1]
        print(f"medians of {opts.repeat} calls, ms (git {version}, {os.cpu_count()} cores):")
        for key, value in results.items():
            print(f"  {key:16} {value if isinstance(value, list) else f'{value:8.2f}'}")
    finally:
        sshd.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
