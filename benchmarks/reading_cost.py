"""What DVC's slow path costs the reading of pointer files (issue #20, item 1).

A realistic project: many `dvc add`ed .dvc files, a pipeline without templating, and
(in the "templated" variant) one more dvc.yaml that uses vars/foreach. Each figure is the
median of fresh processes (imports included, as a hook pays them) reading:
- `one change`: the pointer change of one commit (a hook's push or pull of a change);
- `whole revision`: every pointer of HEAD (a full pull, status).
Run: `.venv/bin/python -m benchmarks.reading_cost [N]`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

MD5 = "ab{:030x}"
PROBE = """
import json, sys, time
t = time.perf_counter()
from pathlib import Path
from dvc_synced_plugin.dvcfiles import reading\nfrom dvc_synced_plugin.git import gitinfo
root = Path('.')
old = sys.argv[1] or None
changes = gitinfo.changes_between(root, old, sys.argv[2])
got = reading.read_changes(root, changes)
print(json.dumps({"s": time.perf_counter() - t, "outs": sum(len(n.outs) for _, n in got),
                  "dvc": "dvc.repo" in sys.modules, **reading.STATS}))
"""


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip()


def build(root: Path, n: int, templated: bool) -> tuple[str, str]:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "b@example.com")
    git(root, "config", "user.name", "b")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    for i in range(n):
        (root / f"d{i}.dvc").write_text(
            f"outs:\n- md5: {MD5.format(i)}\n  size: 1\n  hash: md5\n  path: d{i}\n")
    (root / "dvc.yaml").write_text("stages:\n  train:\n    cmd: x\n    deps: [d0]\n"
                                   "    params: [lr]\n    outs: [model.pkl]\n"
                                   "    metrics:\n    - m.json:\n        cache: false\n")
    (root / "dvc.lock").write_text(_lock({"train": ["model.pkl", "m.json"]}, 1))
    if templated:
        sub = root / "sweep"
        sub.mkdir()
        (sub / "dvc.yaml").write_text(
            "vars:\n  - model: model.pkl\nstages:\n  fit:\n    foreach: [a, b, c]\n"
            "    do:\n      cmd: x ${item}\n      outs: [\"${item}-${model}\"]\n")
        (sub / "dvc.lock").write_text(_lock(
            {f"fit@{k}": [f"{k}-model.pkl"] for k in "abc"}, 2))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "v1")
    first = git(root, "rev-parse", "HEAD")
    lock = root / ("sweep" if templated else ".") / "dvc.lock"
    lock.write_text(lock.read_text().replace(MD5.format(1), MD5.format(9)).replace(
        MD5.format(2), MD5.format(8)))
    git(root, "commit", "-q", "-am", "v2")
    return first, git(root, "rev-parse", "HEAD")


def _lock(stages: dict[str, list[str]], seed: int) -> str:
    text = "schema: '2.0'\nstages:\n"
    for name, paths in stages.items():
        text += f"  {name}:\n    cmd: x\n    outs:\n"
        for path in paths:
            text += (f"    - path: {path}\n      hash: md5\n      md5: {MD5.format(seed)}\n"
                     "      size: 1\n")
    return text


def probe(root: Path, old: str, new: str, runs: int) -> dict[str, float]:
    samples = [json.loads(subprocess.run(
        [sys.executable, "-c", PROBE, old, new], cwd=root, capture_output=True, text=True,
        check=False).stdout or "{}") for _ in range(runs)]
    result = dict(samples[0])
    result["s"] = statistics.median(s["s"] for s in samples)
    return result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    runs = 5
    print(f"load average {os.getloadavg()[0]:.2f}; {n} .dvc files + a pipeline; "
          f"median of {runs} fresh processes")
    print("| project | read | pointer sides fast / slow | DVC imported | seconds |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for templated in (False, True):
            root = Path(tmp) / ("templated" if templated else "plain")
            first, second = build(root, n, templated)
            name = "plain" if not templated else "plain + one templated dvc.yaml"
            for label, old in (("one change", first), ("whole revision", "")):
                r = probe(root, old, second, runs)
                print(f"| {name} | {label} | {r['fast']} / {r['slow']} | "
                      f"{'yes' if r['dvc'] else 'no'} | {r['s']:.3f} |")


if __name__ == "__main__":
    main()
