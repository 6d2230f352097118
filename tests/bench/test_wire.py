"""benchmarks/wire.py's own parts: the rows it reads back from each piece's JSON, the
verdict against #23's targets, and the README block between its own markers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks import s3, wire


def samples(*seconds: float) -> list[dict[str, Any]]:
    return [{"seconds": s, "rclone": 1, "connections": None} for s in seconds]


def series(median: float, peak: float = 50.0) -> dict[str, Any]:
    return {"median_s": median, "peak_rss_mb": peak, "s3_requests": [{"total": 100}]}


def phase(name: str, data: Any, error: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "load_before": 1.5, "load_after": 2.25,
                           "seconds": 10.0, "data": data}
    if error:
        out["error"] = error
    return out


def by_label(rows: list[wire.Row]) -> dict[str, tuple[Any, Any]]:
    return {r.label: wire.verdict(r) for r in rows}


def test_each_rule_judges_in_its_own_direction() -> None:
    def row(rule: str, ours: float, other: float, limit: float) -> wire.Row:
        return wire.Row("r", ours, other, "it", rule, limit)

    assert wire.verdict(row("within", 2.0, 1.0, 2.5)) == (2.0, True)
    assert wire.verdict(row("within", 3.0, 1.0, 2.5)) == (3.0, False)
    assert wire.verdict(row("faster", 1.0, 4.0, 3.0)) == (4.0, True)
    assert wire.verdict(row("faster", 2.0, 4.0, 3.0)) == (2.0, False)
    assert wire.verdict(row("share", 5.0, 4.0, 0.9)) == (0.8, False)
    assert wire.verdict(row("under", 250.0, 50.0, 300.0)) == (5.0, True)
    assert wire.verdict(row("under", 350.0, 50.0, 300.0)) == (7.0, False)
    assert wire.verdict(row("reference", 2.0, 1.0, 0.0)) == (2.0, None)
    # a missing figure or a failed piece is judged neither way
    assert wire.verdict(wire.Row("r", None, 1.0, "it", "within", 2.5)) == (None, None)
    assert wire.verdict(wire.Row("r", 1.0, 1.0, "it", "within", 2.5, error="boom"))[1] is None


def test_rows_read_back_from_the_pieces_json() -> None:
    rclone = {"meta": {"objects": 300},
              "samples": {"sftp/ours": samples(3.0, 2.0, 9.0), "sftp/rsync": samples(1.0)}}
    webdav = {"meta": {"objects": 300},
              "samples": {"webdav/ours": samples(1.3), "webdav/bare": samples(1.0)}}

    def s3_data(size: int, ours: float, dvc: float) -> dict[str, Any]:
        return {"results": {str(size): {
            "first/ours": series(ours), "first/dvc": series(dvc), "first/bare": series(1.0),
            "change-push/ours": series(1.0), "change-push/dvc": series(12.0)}}}

    bulk = {"mib": 1024, "accounts": ["root", "clean"], "results": {
        "bulk/ours": series(5.0), "bulk/bare": series(4.0),
        "bulk/ours@clean": series(4.0), "bulk/bare@clean": series(3.8)}}
    huge = {"results": {
        "huge/push/1000": series(1.0, 28), "huge/push/1000000": series(1.2, 169),
        "huge/pull/1000": series(1.0, 28), "huge/pull/1000000": series(1.9, 174),
        "huge/bare-dir/1000": series(0.3), "huge/bare-dir/1000000": series(0.6)}}
    phases = [phase("sftp", rclone), phase("webdav", webdav),
              phase("s3-1000", s3_data(1000, 2.0, 2.4)),
              phase("s3-10000", s3_data(10000, 2.0, 2.4)),
              phase("bulk", bulk), phase("huge", huge)]
    rows = wire.rows_of(phases, [1000, 10000], 1_000_000)
    got = by_label(rows)
    assert got["rclone over sftp, first push of 300 objects"] == (3.0, False)  # median 3 s
    assert got["WebDAV stand-in (`rclone serve webdav`), first push of 300 objects"][1] is False
    # 1.2x faster than dvc-s3 is enough at 1,000 objects, not at 10,000 (#23 asks 3x there)
    assert got["S3 (moto), first push of 1,000 objects"] == (1.2, True)
    assert got["S3 (moto), first push of 10,000 objects"] == (1.2, False)
    assert got["S3 (moto) at 10,000 objects, push of a change of 10"] == (12.0, True)
    assert got["S3 (moto), first push of 10,000 objects: moto's ceiling"] == (2.0, None)
    assert got["bulk push of 1024 MiB, root's shell"] == (0.8, False)
    assert got["bulk push of 1024 MiB, clean account's shell"] == (0.95, True)
    assert got["push of a change of 10 at 1,000,000 objects"] == (1.2, True)
    assert got["pull of that change at 1,000,000 objects"] == (1.9, False)
    assert got["peak memory of that push and pull at 1,000,000 objects"][1] is True
    text = wire.table(rows)
    assert text.count("\n") == len(rows) + 1  # header, rule, one line a row
    assert "| 1.5 / 2.25 |" in text and "**MISSED**" in text
    assert "| 80% (our throughput / its) | >= 90% of its throughput | **MISSED** |" in text
    assert "100 requests" in text  # the ceiling row shows what moto served


def test_a_failed_piece_keeps_its_rows_and_says_so() -> None:
    rows = wire.rows_of([phase("s3-100000", None, "moto died"), phase("huge", None, "x")],
                        [100000], 1_000_000)
    assert [r.label for r in rows] == [
        "S3 (moto), first push of 100,000 objects",
        "S3 (moto) at 100,000 objects, push of a change of 10",
        "push of a change of 10 at 1,000,000 objects", "pull of that change at 1,000,000 objects",
        "peak memory of that push and pull at 1,000,000 objects"]
    assert all("failed: " in wire.table_line(r) for r in rows)
    assert "failed: moto died" in wire.table_line(rows[0])
    first_min = s3.TARGETS["first_push_min_large"]
    assert rows[0].limit == first_min


def test_readme_block_replaced_between_its_own_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    s3_block = f"{s3.BEGIN}\ns3 figures\n{s3.END}\n"
    readme.write_text(f"intro\n{s3_block}\n{wire.BEGIN}\nold\n{wire.END}\ntail\n")
    meta = {"started": "t", "command": "c", "seconds": 1, "machine": {
        "dvc_synced_commit": "abc", "cores": 2, "cpu": "cpu", "memory_gb": 1, "python": "3",
        "dvc": "3", "rsync": "rsync"}}
    wire.update_readme(readme, "NEW TABLE", meta)
    text = readme.read_text()
    assert "NEW TABLE" in text and "old" not in text
    assert s3_block in text and text.startswith("intro\n") and text.endswith("tail\n")
    assert text.count(wire.BEGIN) == 1 and text.count(wire.END) == 1


def test_a_piece_that_raises_or_exits_is_recorded_not_fatal() -> None:
    def boom() -> dict[str, Any]:
        raise RuntimeError("moto died\ntraceback lines")

    def usage() -> dict[str, Any]:
        raise SystemExit(2)  # a piece's argparse error

    assert wire.run_phase("s3-100", boom)["error"] == "moto died"
    got = wire.run_phase("sftp", usage)
    assert got["error"] == "exit 2" and "data" not in got
    assert got["load_before"] is not None and got["load_after"] is not None
    assert wire.run_phase("bulk", lambda: {"mib": 1})["data"] == {"mib": 1}
