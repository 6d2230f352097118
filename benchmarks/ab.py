"""Two versions of our code side by side in one run: the change and no-op figures of
benchmarks/run.py, each repetition running A then B (or B then A, alternating), on the
same project, server and load.

    git archive <old-rev> dvc_synced_plugin | tar -x -C /tmp/a
    git archive <new-rev> dvc_synced_plugin | tar -x -C /tmp/b
    python benchmarks/ab.py --a /tmp/a --b /tmp/b [--size 100000] [--repeat 5] [--out FILE]

Each side's hooks import the package from its directory (PYTHONPATH, which the plain hooks
and pre-commit's hooks pass on to `python -m dvc_synced_plugin`), so neither is the
editable install. Per repetition and side: a 10-object change pushed (`git push`, plain
hooks) and pulled (`git pull`), then a code-only commit pushed and pulled and an
up-to-date push and pull, with plain hooks and with pre-commit's. Writes medians and every
sample, with the load average per repetition, to --out (default benchmarks/results-ab.json).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import fixture, run  # noqa: E402
from benchmarks.fixture import Project, User  # noqa: E402

NOOP_OPS = ("code-push", "code-pull", "uptodate-push", "uptodate-pull")


def as_side(user: User, code: Path) -> User:
    """The same clone and HOME, with our package imported from `code`."""
    path = os.pathsep.join(filter(None, [str(code), user.env.get("PYTHONPATH", "")]))
    return User(user.name, user.home, user.repo, {**user.env, "PYTHONPATH": path})


def side_rep(project: Project, code: Path, key: str, rep: int, rng: random.Random,
             samples: dict[str, list[float]]) -> None:
    alice, bob = as_side(project.alice, code), as_side(project.puller("ours"), code)
    n = project.size
    contents = run.make_change(project, rep, rng)
    for op, user, args in (("push", alice, ("push", "-q", "origin", "main")),
                           ("pull", bob, ("pull", "-q"))):
        sample = run.timed([run.git(user, *args)])
        samples.setdefault(f"{op}/{key}/{n}", []).append(sample.seconds)
        run.log(f"    {key} {op} {sample.seconds:7.3f}s")
    run.check_pulled(project, contents, ["ours"])
    for mode in ("plain", "pre-commit"):
        (project.alice.repo / "notes.txt").write_text(f"rep {rep} {key} {mode} {time.time()}\n")
        project.alice.git("commit", "-q", "-m", "code only", "notes.txt")
        for op, user, args in zip(NOOP_OPS, (alice, bob, alice, bob),
                                  (("push", "-q", "origin", "main"), ("pull", "-q"),
                                   ("push", "-q", "origin", "main"), ("pull", "-q"))):
            hooks = run.hooks_dir(project, user, mode)
            sample = run.timed([run.git(user, *args, hooks=hooks)])
            samples.setdefault(f"noop/{op}/{mode}/{key}/{n}", []).append(sample.seconds)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", type=Path, required=True, help="directory holding dvc_synced_plugin")
    ap.add_argument("--b", type=Path, required=True, help="directory holding dvc_synced_plugin")
    ap.add_argument("--a-label", default="a")
    ap.add_argument("--b-label", default="b")
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=Path("/var/tmp/dvc-synced-bench"))
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).resolve().parent / "results-ab.json")
    args = ap.parse_args(argv)
    sides = [(args.a_label, args.a.resolve()), (args.b_label, args.b.resolve())]
    for _, code in sides:
        if not (code / "dvc_synced_plugin" / "__init__.py").is_file():
            ap.error(f"{code} holds no dvc_synced_plugin package")
    started = time.monotonic()
    meta = {"command": " ".join(["python", "benchmarks/ab.py", *(argv or sys.argv[1:])]),
            "sides": {label: str(code) for label, code in sides}, "size": args.size,
            "repeat": args.repeat, "warmup": args.warmup, "machine": run.machine(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    args.workdir.mkdir(parents=True, exist_ok=True)
    server, port, login = run.start_sshd(args.workdir)
    loads: list[dict[str, object]] = []
    samples: dict[str, list[float]] = {}
    try:
        project = fixture.prepare(args.workdir, args.size, port, login, False, run.log)
        rng = random.Random(time.time_ns())
        for rep in range(args.warmup + args.repeat):
            counted = rep >= args.warmup
            loads.append({"rep": rep + 1, "load1": round(os.getloadavg()[0], 2)})
            run.log(f"  run {rep + 1}/{args.warmup + args.repeat}"
                    f"{'' if counted else ' (warm-up)'}, load {os.getloadavg()[0]:.1f}")
            into: dict[str, list[float]] = samples if counted else {}
            for label, code in run.rotated(sides, rep):
                side_rep(project, code, label, rep, rng, into)
        loads.append({"rep": "end", "load1": round(os.getloadavg()[0], 2)})
    finally:
        server.stop()  # type: ignore[attr-defined]
    meta["seconds"] = round(time.monotonic() - started, 1)
    medians = {k: round(statistics.median(v), 4) for k, v in sorted(samples.items())}
    lines = [f"| measurement, N={args.size:,} | {args.a_label} | {args.b_label} | "
             f"{args.b_label}/{args.a_label} |", "|---|---|---|---|"]
    a, b = args.a_label, args.b_label
    for what in ("push", "pull", *(f"noop/{op}/{mode}" for mode in ("plain", "pre-commit")
                                   for op in NOOP_OPS)):
        ma, mb = medians.get(f"{what}/{a}/{args.size}"), medians.get(f"{what}/{b}/{args.size}")
        if ma and mb:
            lines.append(f"| {what} | {ma * 1000:.0f} ms | {mb * 1000:.0f} ms | {mb / ma:.2f} |")
    table = "\n".join(lines)
    print(table)
    args.out.write_text(json.dumps({"meta": meta, "load": loads, "medians": medians,
                                    "samples": samples, "table": table}, indent=1) + "\n")
    run.log(f"wrote {args.out} ({meta['seconds']}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
