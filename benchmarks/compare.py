"""Before/after table of our own timings from two results files of benchmarks/run.py.

    python benchmarks/compare.py OLD.json NEW.json [--readme]

The "before" file is a run of the same benchmark against older code, e.g.
    git archive <rev> dvc_synced_plugin | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python benchmarks/run.py --flows ours --skip noop --out old.json
(the benchmark's git hooks run `python -m dvc_synced_plugin`, which PYTHONPATH redirects).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import readme  # noqa: E402

BEGIN = "<!-- before/after: written by `python benchmarks/compare.py --readme`, not by hand -->"
END = "<!-- end of before/after -->"


def _median(results: dict[str, Any], key: str) -> Optional[float]:
    entry = results["results"].get(key)
    return None if entry is None else float(entry["median_s"])


def _peak(results: dict[str, Any], key: str) -> Optional[float]:
    entry = results["results"].get(key)
    return None if entry is None else float(entry["peak_rss_mb"])


def _fmt(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _label(results: dict[str, Any], given: Optional[str]) -> str:
    return given or str(results["meta"].get("code") or results["meta"]["machine"]
                        ["dvc_synced_commit"])


def table(old: dict[str, Any], new: dict[str, Any], old_label: Optional[str] = None,
          new_label: Optional[str] = None) -> str:
    sizes = sorted(set(old["meta"]["sizes"]) & set(new["meta"]["sizes"]))
    lines = [
        f"Our hooks before (code of `{_label(old, old_label)}`, run of "
        f"{old['meta']['started']}) and after (code of `{_label(new, new_label)}`, run of "
        f"{new['meta']['started']}), same machine and projects, medians:",
        "",
        "| measurement | before | after |",
        "|---|---|---|",
    ]
    for op in ("push", "pull"):
        for n in sizes:
            key = f"{op}/ours/{n}"
            lines.append(f"| {op} of the change, N={n:,} | {_fmt(_median(old, key))} | "
                         f"{_fmt(_median(new, key))} |")
        lo, hi = f"{op}/ours/{sizes[0]}", f"{op}/ours/{sizes[-1]}"
        cells = []
        for res in (old, new):
            a, b = _median(res, lo), _median(res, hi)
            cells.append(f"{b / a:.2f}x" if a and b else "-")
        lines.append(f"| {op}: N={sizes[-1]:,} / N={sizes[0]:,} | {cells[0]} | {cells[1]} |")
        key = f"{op}/ours/{sizes[-1]}"
        peaks = [_peak(res, key) for res in (old, new)]
        lines.append(f"| {op}: peak RSS at N={sizes[-1]:,} | "
                     + " | ".join("-" if p is None else f"{p:.0f} MB" for p in peaks) + " |")
    shares = []
    for res in (old, new):
        ours, bare = _median(res, "bulk/ours"), _median(res, "bulk/bare")
        shares.append(f"{bare / ours:.0%} ({_fmt(ours)} vs {_fmt(bare)})" if ours and bare
                      else "-")
    lines.append(f"| bulk push, share of bare rsync's throughput | {shares[0]} | {shares[1]} |")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--old-label", help="what the old run measured (default: its commit)")
    parser.add_argument("--new-label", help="what the new run measured")
    parser.add_argument("--readme", action="store_true",
                        help="also put the table into benchmarks/README.md (between markers)")
    args = parser.parse_args(argv)
    text = table(json.loads(args.old.read_text()), json.loads(args.new.read_text()),
                 args.old_label, args.new_label)
    print(text)
    if args.readme:
        readme.write_block(readme.PAGE, BEGIN, END, [text])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
