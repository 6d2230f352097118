"""Issue #23, "Done when": every row of the issue from one run, in one table.

    python benchmarks/run.py --wire [--repeat 3] [--warmup 1] [--workdir DIR] [--readme]
        [--wire-rows sftp,webdav,s3,bulk,huge] [--wire-objects 300]
        [--wire-s3-sizes 1000,10000,100000] [--wire-s3-repeat 1] [--no-ceiling]
        [--bulk-mib 1024] [--wire-huge-size 1000000] [--wire-huge-workdir DIR]

It measures nothing itself: it calls the pieces that do, one after another in this process,
each writing its own JSON under `--workdir`/wire, and reads their figures back:

  sftp, webdav  benchmarks/rclone_rows.py, one call per row: rclone over sftp vs rsync over
                ssh; `rclone serve webdav` vs a bare `rclone copy --files-from --no-traverse`
  s3            benchmarks/s3.py --ceiling, one call per size: ours vs dvc-s3 (first push,
                change of 10), and a bare rclone copy of one PUT per object (moto's ceiling)
  bulk          run.bulk: our push vs a bare `rsync --files-from` of the same objects, root
                and (as root) the clean server account
  huge          huge.main: the change at --wire-huge-size vs at 1,000, push and pull, and
                the peak memory at the large size (its project cached under its workdir)

A piece that fails is reported as failed and the others still run. Prints one markdown table
(row, ours, what it is compared with, ratio, #23's target, met or missed, the load average
before and after the piece); writes benchmarks/results-wire.json (every piece's own JSON
inside); --readme puts the table between the `wire` markers of benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import huge, rclone_rows, readme, run, s3  # noqa: E402

PHASES = ("sftp", "webdav", "s3", "bulk", "huge")
DEFAULT_WORKDIR = Path("/var/tmp/dvc-synced-bench")
BEGIN = "<!-- wire: written by `python benchmarks/run.py --wire --readme`, not by hand -->"
END = "<!-- end of wire -->"
# How a row's ratio is taken and judged against its limit.
RULES = {
    "within": "ours / it",  # ours may be at most `limit` times slower
    "faster": "it / ours",  # ours must be at least `limit` times faster
    "share": "our throughput / its",  # at least `limit` of its throughput
    "under": "ours / it",  # ours (MB) at most `limit`; the ratio is shown only
    "reference": "ours / it",  # no target: a floor to read the others against
}

Phase = dict[str, Any]  # name, load_before, load_after, seconds, error, data (piece's JSON)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load1() -> float:
    return round(os.getloadavg()[0], 2)


# ------------------------------------------------------------------------------- rows


@dataclass
class Row:
    label: str
    ours: Optional[float]
    other: Optional[float]
    other_label: str
    rule: str
    limit: float = 0.0
    load: tuple[Optional[float], Optional[float]] = (None, None)
    unit: str = "s"
    notes: tuple[str, str] = ("", "")  # appended to the ours / compared-with cells
    error: str = ""


def verdict(row: Row) -> tuple[Optional[float], Optional[bool]]:
    """(ratio in the row's own direction, met) ; None where a figure is missing."""
    r: Optional[float] = None
    if row.ours is not None and row.other is not None:
        if row.rule in ("faster", "share"):
            r = row.other / row.ours if row.ours else None
        else:
            r = row.ours / row.other if row.other else None
    if row.error or row.rule == "reference":
        return r, None
    if row.rule == "under":
        return r, None if row.ours is None else row.ours <= row.limit
    if r is None:
        return None, None
    return r, r <= row.limit if row.rule == "within" else r >= row.limit


def fmt_value(value: Optional[float], unit: str) -> str:
    if value is None:
        return "-"
    if unit == "MB":
        return f"{value:.0f} MB"
    return s3.fmt_s(value)


def target_text(row: Row) -> str:
    if row.rule == "within":
        return f"<= {row.limit:g}x"
    if row.rule == "faster":
        return f">= {row.limit:g}x faster"
    if row.rule == "share":
        return f">= {row.limit:.0%} of its throughput"
    if row.rule == "under":
        return f"<= {row.limit:g} MB"
    return "none (reference)"


def table_line(row: Row) -> str:
    r, met = verdict(row)
    shown = "-" if r is None else f"{r:.0%}" if row.rule == "share" else s3.fmt_ratio(r)
    mark = (f"failed: {row.error}" if row.error else "-" if row.rule == "reference"
            else "n/a" if met is None else "met" if met else "**MISSED**")
    before, after = row.load
    load = "-" if before is None else f"{before} / {'-' if after is None else after}"
    ours = fmt_value(row.ours, row.unit) + row.notes[0]
    other = f"{row.other_label}: {fmt_value(row.other, row.unit)}{row.notes[1]}"
    return (f"| {row.label} | {ours} | {other} | {shown} ({RULES[row.rule]}) | "
            f"{target_text(row)} | {mark} | {load} |")


def table(rows: list[Row]) -> str:
    return "\n".join([
        "| row | ours | compared with | ratio | #23 target | met? | load (1 min) before / "
        "after |", "|---|---|---|---|---|---|---|", *(table_line(r) for r in rows)])


# ------------------------------------------------------------- rows from the pieces' JSON


def _loads(phase: Phase) -> tuple[Optional[float], Optional[float]]:
    return phase.get("load_before"), phase.get("load_after")


def _failed(phase: Phase, label: str, other_label: str, rule: str, limit: float,
            unit: str = "s") -> list[Row]:
    """A piece that did not finish still has its row, saying so."""
    return [Row(label, None, None, other_label, rule, limit, _loads(phase), unit,
                error=phase.get("error") or "no figures")]


def _med(got: dict[str, Any], key: str) -> Optional[float]:
    """The median of a series as run.Series.as_dict and s3.Results.as_dict write it."""
    return got[key]["median_s"] if key in got else None


def _median(samples: Optional[list[dict[str, Any]]]) -> Optional[float]:
    return statistics.median(s["seconds"] for s in samples) if samples else None


def rclone_rows_of(phase: Phase) -> list[Row]:
    """sftp or webdav, from rclone_rows.py's JSON (its `samples`)."""
    row = phase["name"]
    reference, limit = rclone_rows.TARGETS[row]
    data = phase.get("data")
    objects = data["meta"]["objects"] if data else "?"
    if row == "sftp":
        label = f"rclone over sftp, first push of {objects} objects"
        other_label = "rsync over ssh, same sshd"
    else:
        label = f"WebDAV stand-in (`rclone serve webdav`), first push of {objects} objects"
        other_label = "bare `rclone copy --files-from --no-traverse`"
    if not data:
        return _failed(phase, label, other_label, "within", limit)
    samples = data["samples"]
    return [Row(label, _median(samples.get(f"{row}/ours")),
                _median(samples.get(f"{row}/{reference}")), other_label, "within", limit,
                _loads(phase))]


def s3_rows_of(phase: Phase, size: int) -> list[Row]:
    """One size of s3.py's JSON: first push and change of 10 vs dvc-s3, and the ceiling."""
    first_min = s3.TARGETS["first_push_min_large" if size >= s3.TARGETS["large_from"]
                           else "first_push_min"]
    first_label = f"S3 (moto), first push of {size:,} objects"
    change_label = f"S3 (moto) at {size:,} objects, push of a change of 10"
    dvc_label = "dvc-s3 (`git push` + `dvc push`)"
    data = phase.get("data")
    if not data:
        return [*_failed(phase, first_label, dvc_label, "faster", first_min),
                *_failed(phase, change_label, dvc_label, "faster",
                         s3.TARGETS["change_push_min"])]
    got = data["results"][str(size)]
    rows = [Row(first_label, _med(got, "first/ours"), _med(got, "first/dvc"), dvc_label,
                "faster", first_min, _loads(phase))]
    if "first/bare" in got:
        def requests(key: str) -> str:
            counts = [r.get("total", 0) for r in got[key]["s3_requests"]]
            return f", {statistics.median(counts):,.0f} requests" if counts else ""

        rows.append(Row(f"S3 (moto), first push of {size:,} objects: moto's ceiling",
                        _med(got, "first/ours"), _med(got, "first/bare"),
                        "bare `rclone copy --files-from --no-traverse` (one PUT each)",
                        "reference", 0.0, _loads(phase),
                        notes=(requests("first/ours"), requests("first/bare"))))
    rows.append(Row(change_label, _med(got, "change-push/ours"), _med(got, "change-push/dvc"),
                    dvc_label, "faster", s3.TARGETS["change_push_min"], _loads(phase)))
    return rows


def bulk_rows_of(phase: Phase) -> list[Row]:
    """run.bulk's series, one row per server account."""
    data = phase.get("data")
    limit = run.TARGETS["bulk_min"]
    other_label = "bare `rsync -t --files-from`, same ssh"
    if not data:
        return _failed(phase, "bulk push, root's shell", other_label, "share", limit)
    rows = []
    got = data["results"]
    for account in data["accounts"]:
        suffix = "" if account == "root" else f"@{account}"
        shell = "root's shell" if account == "root" else f"{account} account's shell"
        rows.append(Row(f"bulk push of {data['mib']} MiB, {shell}",
                        _med(got, f"bulk/ours{suffix}"), _med(got, f"bulk/bare{suffix}"),
                        other_label, "share", limit, _loads(phase)))
    return rows


def huge_rows_of(phase: Phase, size: int) -> list[Row]:
    """huge.py's JSON: the change at `size` vs at 1,000, and the peak RSS at `size`."""
    small = huge.SMALL_SIZE
    limit = huge.TARGETS["scale_ratio_max"]
    memory = huge.TARGETS["memory_mb_max"]
    same = f"the same at {small:,} objects"
    labels = {"push": f"push of a change of 10 at {size:,} objects",
              "pull": f"pull of that change at {size:,} objects"}
    mem_label = f"peak memory of that push and pull at {size:,} objects"
    data = phase.get("data")
    if not data:
        return [*(r for op in ("push", "pull")
                  for r in _failed(phase, labels[op], same, "within", limit)),
                *_failed(phase, mem_label, f"at {small:,}", "under", memory, "MB")]
    got = data["results"]
    rows = [Row(labels[op], _med(got, f"huge/{op}/{size}"), _med(got, f"huge/{op}/{small}"),
                same, "within", limit, _loads(phase)) for op in ("push", "pull")]
    rows.append(Row(f"bare `rsync` of the change's new `.dir` alone at {size:,} objects",
                    _med(got, f"huge/bare-dir/{size}"), _med(got, f"huge/bare-dir/{small}"),
                    same, "reference", 0.0, _loads(phase)))

    def peak(n: int) -> Optional[float]:
        found = [got[k]["peak_rss_mb"] for k in (f"huge/push/{n}", f"huge/pull/{n}")
                 if k in got]
        return max(found) if found else None

    rows.append(Row(mem_label, peak(size), peak(small), f"at {small:,}", "under", memory,
                    _loads(phase), "MB"))
    return rows


def rows_of(phases: list[Phase], s3_sizes: list[int], huge_size: int) -> list[Row]:
    rows: list[Row] = []
    for phase in phases:
        name = phase["name"]
        if name in ("sftp", "webdav"):
            rows += rclone_rows_of(phase)
        elif name.startswith("s3-"):
            rows += s3_rows_of(phase, int(name[3:]))
        elif name == "bulk":
            rows += bulk_rows_of(phase)
        elif name == "huge":
            rows += huge_rows_of(phase, huge_size)
    return rows


# ------------------------------------------------------------------------------ phases


def run_phase(name: str, work: Callable[[], dict[str, Any]]) -> Phase:
    """One piece, its stdout (its own table) sent to stderr, the load taken around it."""
    log(f"== {name} ({time.strftime('%H:%M:%S')}, load {load1()})")
    phase: Phase = {"name": name, "load_before": load1()}
    started = time.monotonic()
    try:
        with contextlib.redirect_stdout(sys.stderr):
            phase["data"] = work()
    except (Exception, SystemExit) as exc:  # one broken piece must not cost the others
        traceback.print_exc()
        text = f"exit {exc.code}" if isinstance(exc, SystemExit) else str(exc).strip()
        phase["error"] = (text.splitlines() or [type(exc).__name__])[0][:200]
    phase["seconds"] = round(time.monotonic() - started, 1)
    phase["load_after"] = load1()
    return phase


def _read(code: int, out: Path) -> dict[str, Any]:
    if code != 0:
        raise RuntimeError(f"exit {code}")
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def bulk_phase(workdir: Path, mib: int, repeat: int, warmup: int) -> dict[str, Any]:
    """run.bulk as run.py's main calls it: its sshd, its counting log, root and clean."""
    results = run.Results()
    workdir.mkdir(parents=True, exist_ok=True)
    server, _port, _login = run.start_sshd(workdir)
    previous, run.COUNT_LOG = run.COUNT_LOG, workdir / "ssh" / "counts.log"
    try:
        found = run.clean_account(workdir)
        others = [found] if found is not None else []
        run.bulk(workdir, mib, repeat, warmup, results, others)
    finally:
        run.COUNT_LOG = previous
        server.stop()  # type: ignore[attr-defined]
    return {"mib": mib, "accounts": ["root", *(a.key for a, _ in others)],
            "results": {k: v.as_dict() for k, v in sorted(results.series.items())}}


def measure(args: argparse.Namespace, wanted: list[str], command: str) -> list[Phase]:
    work = args.workdir / "wire"
    work.mkdir(parents=True, exist_ok=True)
    phases: list[Phase] = []
    for row in ("sftp", "webdav"):
        if row in wanted:
            out = work / f"{row}.json"
            phases.append(run_phase(row, lambda row=row, out=out: _read(rclone_rows.main([
                "--rows", row, "--objects", str(args.wire_objects),
                "--repeat", str(args.repeat), "--out", str(out)]), out)))
    if "s3" in wanted:
        for size in args.s3_sizes:
            out = work / f"s3-{size}.json"
            phases.append(run_phase(f"s3-{size}", lambda size=size, out=out: _read(s3.main([
                "--s3-size", str(size), "--repeat", str(args.wire_s3_repeat),
                "--change-repeat", str(args.repeat), "--workdir", str(args.workdir),
                "--out", str(out), *([] if args.no_ceiling else ["--ceiling"])]), out)))
    if "bulk" in wanted:
        phases.append(run_phase("bulk", lambda: bulk_phase(
            args.workdir, args.bulk_mib, args.repeat, args.warmup)))
    if "huge" in wanted:
        out = work / "huge.json"
        phases.append(run_phase("huge", lambda: _read(huge.main(
            args.wire_huge_workdir, args.repeat, args.warmup, False, False, out, command,
            args.wire_huge_size), out)))
    return phases


# -------------------------------------------------------------------------------- main


def report(rows: list[Row], phases: list[Phase], meta: dict[str, Any]) -> str:
    lines = [
        f"Issue #23's rows from one run (`benchmarks/wire.py`), each pair side by side inside "
        f"its own piece; medians of {meta['repeat']} counted run(s) (S3 first pushes: "
        f"{meta['s3_repeat']}). Ratio: ours / the other for an upper limit, the "
        "other / ours for a lower one, bulk as our throughput's share of bare rsync's. Load "
        "average (1 min) before and after the piece that measured the row, on "
        f"{os.cpu_count()} cores.",
        "",
        table(rows),
    ]
    failed = [p for p in phases if p.get("error")]
    if failed:
        lines += ["", "Failed: " + "; ".join(f"{p['name']} ({p['error']})" for p in failed)]
    lines += ["", "Time per piece: " + ", ".join(f"{p['name']} {p['seconds']:.0f} s"
                                                 for p in phases) + "."]
    return "\n".join(lines)


def update_readme(path: Path, text: str, meta: dict[str, Any]) -> None:
    """Replace the block between this benchmark's own markers (not the pieces' blocks)."""
    m = meta["machine"]
    readme.write_block(path, BEGIN, END, [
        f"Run of {meta['started']} (`{meta['command']}`, {meta['seconds']} s; dvc-synced "
        f"{m['dvc_synced_commit']}) on {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB "
        f"RAM; Python {m['python']}, DVC {m['dvc']}, {m['rsync']}.", "", text])


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wire-rows", default=",".join(PHASES),
                        help=f"pieces to run (default {','.join(PHASES)})")
    parser.add_argument("--wire-objects", type=int, default=300,
                        help="objects of the sftp and webdav first pushes (default 300)")
    parser.add_argument("--wire-s3-sizes", default=s3.DEFAULT_SIZES,
                        help=f"S3 project sizes (default {s3.DEFAULT_SIZES})")
    parser.add_argument("--wire-s3-repeat", type=int, default=1,
                        help="S3 first pushes per size (default 1: minutes each at 100,000)")
    parser.add_argument("--no-ceiling", action="store_true",
                        help="skip the bare rclone copy to moto (about 400 s at 100,000)")
    parser.add_argument("--bulk-mib", type=int, default=1024, help="bulk size (default 1024)")
    parser.add_argument("--wire-huge-size", type=int, default=huge.HUGE_SIZE,
                        help=f"the large project of the huge row (default {huge.HUGE_SIZE:,})")
    parser.add_argument("--wire-huge-workdir", type=Path,
                        help="where the huge row's projects are cached (default --workdir)")
    parser.add_argument("--repeat", type=int, default=3, help="counted repetitions: rclone "
                        "rows, S3 changes, bulk, huge (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted runs first: bulk, "
                        "huge (default 1)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help=f"S3 projects, bulk, the pieces' JSON (default {DEFAULT_WORKDIR})")
    parser.add_argument("--readme", action="store_true",
                        help="also put the table into benchmarks/README.md")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results-wire.json")
    args = parser.parse_args(argv)
    wanted = [p for p in args.wire_rows.split(",") if p]
    try:
        args.s3_sizes = sorted({int(x) for x in args.wire_s3_sizes.split(",") if x.strip()})
    except ValueError:
        parser.error("--wire-s3-sizes: whole numbers, comma separated")
    if not wanted or set(wanted) - set(PHASES):
        parser.error(f"--wire-rows: a comma list of {','.join(PHASES)}")
    if args.repeat < 1 or args.warmup < 0 or args.wire_s3_repeat < 1:
        parser.error("--repeat and --wire-s3-repeat at least 1, --warmup at least 0")
    if not args.s3_sizes or args.s3_sizes[0] < 100 or args.wire_objects < 2:
        parser.error("--wire-s3-sizes at least 100 objects, --wire-objects at least 2")
    if args.wire_huge_size <= huge.SMALL_SIZE:
        parser.error(f"--wire-huge-size must be above {huge.SMALL_SIZE:,}")
    args.wire_huge_workdir = args.wire_huge_workdir or args.workdir
    meta: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/run.py", "--wire", *argv]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": run.machine(),
        "rows": wanted, "repeat": args.repeat, "warmup": args.warmup,
        "s3_sizes": args.s3_sizes, "s3_repeat": args.wire_s3_repeat,
        "ceiling": not args.no_ceiling, "objects": args.wire_objects,
        "bulk_mib": args.bulk_mib, "huge_size": args.wire_huge_size,
        "huge_workdir": str(args.wire_huge_workdir), "workdir": str(args.workdir),
    }
    started = time.monotonic()
    phases = measure(args, wanted, meta["command"])
    meta["seconds"] = round(time.monotonic() - started, 1)
    rows = rows_of(phases, args.s3_sizes, args.wire_huge_size)
    text = report(rows, phases, meta)
    print(text)
    args.out.write_text(json.dumps({
        "meta": meta, "rows": [{**asdict(r), "ratio": verdict(r)[0], "met": verdict(r)[1],
                                "target": target_text(r)} for r in rows],
        "phases": phases, "table": text}, indent=1) + "\n")
    log(f"wrote {args.out} ({meta['seconds']} s)")
    if args.readme:
        update_readme(readme.PAGE, text, meta)
    return 1 if any(p.get("error") for p in phases) else 0


if __name__ == "__main__":
    raise SystemExit(main())
