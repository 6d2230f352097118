"""The fast parser: which outputs a .dvc or dvc.yaml + dvc.lock records, what it must
refuse, and what it leaves to DVC (`NeedsDvc`: outside the subset it proves)."""

from __future__ import annotations

from typing import Optional

import pytest

from dvc_synced_plugin.dvcfiles.pointers import NeedsDvc, Out, parse_pipeline, parse_pointer
from dvc_synced_plugin.dvcfiles.pointers import parse_dvc_file as parse_file
from dvc_synced_plugin.errors import SyncError


def parse_dvc_file(pointer: str, content: bytes) -> list[Out]:
    return list(parse_file(pointer, content).outs)


def parse_dvc_lock(pointer: str, lock: bytes, spec: Optional[bytes] = None) -> list[Out]:
    return list(parse_pipeline(pointer, lock, spec).outs)

MD5 = "0123456789abcdef0123456789abcdef"
MD5B = "fedcba9876543210fedcba9876543210"


def dvc_file(*outs: str) -> bytes:
    return ("outs:\n" + "".join(outs)).encode()


def out(path: str, md5: str = MD5, extra: str = "  hash: md5\n") -> str:
    return f"- md5: {md5}\n  size: 1\n  path: {path}\n{extra}"


def test_dvc_file_outputs() -> None:
    [o] = parse_dvc_file("sub/dir/data.dvc", dvc_file(out("data", MD5 + ".dir")))
    assert (o.path, o.oid, o.is_dir, o.legacy) == ("sub/dir/data", MD5 + ".dir", True, False)
    assert (o.key, o.pointer, o.target) == ("data", "sub/dir/data.dvc", "sub/dir/data.dvc")


def test_legacy_output_has_no_hash_field() -> None:
    [o] = parse_dvc_file("m.dvc", dvc_file(out("m.bin", extra="")))
    assert o.legacy and not o.is_dir


def test_uncached_outputs_are_not_needed_but_are_outputs() -> None:
    content = dvc_file(out("a", extra="  hash: md5\n  cache: false\n"), out("b"))
    assert parse_dvc_file("a.dvc", content) == parse_dvc_file("a.dvc", dvc_file(out("b")))
    assert parse_file("a.dvc", content).paths == {"a", "b"}


@pytest.mark.parametrize("content", [
    b"outs:\n- path: s3data\n  files:\n  - relpath: x\n    etag: abc\n",  # cloud-versioned
    dvc_file(out("a", extra="  hash: md5\n  push: false\n")),
    dvc_file(out("a", extra="  hash: md5\n  remote: secure\n")),
    dvc_file(out("a", extra="  hash: md5\n  cache: no\n")),  # YAML 1.1's boolean only
    dvc_file(out("a", extra="  hash: sha256\n")),
    dvc_file(out("../a")), dvc_file(out("/abs/a")), dvc_file(out("s3://bucket/a")),
    dvc_file(out("2024-01-01")), dvc_file(out("a"), out("a")),
    b"wdir: ..\n" + dvc_file(out("a")),
    b"deps: []\n", b"frozen: true\n" + dvc_file(out("a")),
    b"deps:\n- path: ../src\nouts:\n- path: a\n  md5: " + MD5.encode() + b"\n",
    b"outs:\n- path: a\n  md5: " + MD5.encode() + b"\n  md5: " + MD5B.encode() + b"\n",
])
def test_outside_the_subset_goes_to_dvc(content: bytes) -> None:
    with pytest.raises(NeedsDvc):
        parse_dvc_file("a.dvc", content)


@pytest.mark.parametrize("md5", [
    "../../../../etc/passwd", "0123456789ABCDEF0123456789ABCDEF", MD5[:-1], MD5 + "0",
    MD5 + ".dir/../x", "/" + MD5[1:], MD5[:16] + "/" + MD5[17:], "12", "null", "[1, 2]",
    MD5 + "\\n",
])
def test_malformed_md5_is_refused(md5: str) -> None:
    with pytest.raises(SyncError, match="malformed md5"):
        parse_dvc_file("a.dvc", dvc_file(out("a", md5=md5 if md5 != "null" else '"null"')))


@pytest.mark.parametrize(("content", "message"), [
    (b"outs: [\n", "not valid YAML"),
    (b"- just\n- a list\n", "not a DVC file"),
    (b"outs:\n- just a string\n", "fix the file"),
    (b"outs:\n- md5: " + MD5.encode() + b"\n", "has no path"),
])
def test_broken_dvc_files(content: bytes, message: str) -> None:
    with pytest.raises(SyncError, match=message) as err:
        parse_dvc_file("a.dvc", content)
    assert "a.dvc" in str(err.value) and "\n" not in str(err.value)


def test_empty_dvc_file_and_no_outs() -> None:
    assert parse_dvc_file("a.dvc", b"") == []
    assert parse_dvc_file("a.dvc", b"outs:\n") == []
    assert parse_dvc_file("a.dvc", b"meta: {x: 1}\ndesc: d\n") == []


LOCK = f"""\
schema: '2.0'
stages:
  train:
    cmd: python train.py
    outs:
    - path: model.pkl
      hash: md5
      md5: {MD5}
      size: 3
    - path: metrics.json
      hash: md5
      md5: {MD5B}
      size: 3
  gen@a:
    cmd: gen a
    outs:
    - path: out/a
      hash: md5
      md5: {MD5B}.dir
      size: 3
  gen@b:
    cmd: gen b
    outs:
    - path: out/b.tmp
      hash: md5
      md5: {MD5}
      size: 3
""".encode()

YAML = b"""\
stages:
  train:
    cmd: python train.py
    outs:
    - model.pkl
    metrics:
    - metrics.json:
        cache: false
  gen@a:
    cmd: gen a
    outs:
    - out/a
  gone:
    cmd: never run
    outs:
    - never.bin
"""
PLAIN = YAML.replace(b"gen@a", b"gen")


def test_dvc_lock_with_dvc_yaml_flags() -> None:
    outs = parse_dvc_lock("sub/dvc.lock", LOCK, PLAIN.replace(b"gen:", b"genx:"))
    got = {(o.key, o.path, o.oid, o.target) for o in outs}
    assert got == {("train:model.pkl", "sub/model.pkl", MD5, "sub/dvc.yaml:train")}
    # metrics.json is `cache: false`; lock stages dvc.yaml lacks (gen@a, gen@b) mean
    # nothing to DVC, and a stage without a lock entry has no hashes yet.
    assert not any(o.legacy for o in outs)
    assert parse_pipeline("sub/dvc.lock", LOCK, PLAIN).paths == {
        "sub/model.pkl", "sub/metrics.json", "sub/out/a", "sub/never.bin"}


def test_lock_entries_are_matched_by_stage_and_path() -> None:
    lock = LOCK.replace(b"gen@a:", b"gen:")
    outs = parse_dvc_lock("dvc.lock", lock, PLAIN)
    assert {o.key for o in outs} == {"train:model.pkl", "gen:out/a"}
    edited = PLAIN.replace(b"- out/a", b"- out/b")  # an output renamed by hand, not rerun
    assert {o.key for o in parse_dvc_lock("dvc.lock", lock, edited)} == {"train:model.pkl"}


@pytest.mark.parametrize(("lock", "spec"), [
    (LOCK, YAML),  # gen@a: a name only foreach makes
    (LOCK, PLAIN.replace(b"    cmd: gen a", b"    vars: [p.yaml]\n    cmd: gen a")),
    (LOCK, b"vars:\n- x: 1\n" + PLAIN),
    (LOCK, PLAIN.replace(b"- out/a", b"- out/${x}")),
    (LOCK, PLAIN.replace(b"    cmd: gen a", b"    wdir: sub\n    cmd: gen a")),
    (LOCK, PLAIN.replace(b"    - out/a", b"    - out/a:\n        remote: secure")),
    (LOCK, PLAIN.replace(b"    - out/a", b"    - out/a:\n        push: false")),
    (LOCK, PLAIN.replace(b"    cmd: gen a", b"    foreach: [a]\n    do: {}")),
    (LOCK.replace(b"schema: '2.0'\n", b""), PLAIN),  # 1.x lock layout
    (LOCK.replace(b"      size: 3\n", b"      size: 3\n      files: []\n", 1), PLAIN),
    (LOCK, None),  # a dvc.lock without dvc.yaml
    (LOCK, PLAIN + b"datasets: []\n"),
])
def test_pipelines_outside_the_subset_go_to_dvc(lock: bytes, spec: Optional[bytes]) -> None:
    with pytest.raises(NeedsDvc):
        parse_pipeline("dvc.lock", lock, spec)


def test_legacy_lock_entries_and_empty_files() -> None:
    legacy = LOCK.replace(b"      hash: md5\n", b"")
    outs = parse_dvc_lock("dvc.lock", legacy, PLAIN)
    assert outs and all(o.legacy for o in outs)
    assert parse_dvc_lock("dvc.lock", b"", PLAIN) == []
    assert parse_dvc_lock("dvc.lock", b"schema: '2.0'\nstages: {}\n", PLAIN) == []
    assert parse_pipeline("dvc.lock", None, None).outs == ()


def test_parse_pointer_dispatches_and_reads_the_sibling_dvc_yaml() -> None:
    asked: list[str] = []

    def sibling(path: str) -> Optional[bytes]:
        asked.append(path)
        return PLAIN

    assert len(parse_pointer("x/dvc.lock", LOCK, sibling)) == 1
    assert asked == ["x/dvc.yaml"]
    assert parse_pointer("a.dvc", dvc_file(out("a")), sibling)[0].path == "a"
    assert parse_pointer("a.dvc", None, sibling) == []  # deleted side of a change
