"""Pointer parsing: which outputs a .dvc or dvc.lock records, and what it must refuse."""

from __future__ import annotations

from typing import Optional

import pytest

from dvc_synced_plugin.dvcfiles.pointers import parse_dvc_file, parse_dvc_lock, parse_pointer
from dvc_synced_plugin.errors import SyncError

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


@pytest.mark.parametrize("extra", [
    "  hash: md5\n  cache: false\n", "  hash: md5\n  push: false\n",
])
def test_uncached_and_unpushed_outputs_are_not_needed(extra: str) -> None:
    assert parse_dvc_file("a.dvc", dvc_file(out("a", extra=extra), out("b"))) == [
        *parse_dvc_file("a.dvc", dvc_file(out("b")))]


def test_output_without_md5_is_skipped() -> None:
    """Cloud-versioned outputs (`files:`/etag) are not in the content-addressed store."""
    content = b"outs:\n- path: s3data\n  files:\n  - relpath: x\n    etag: abc\n"
    assert parse_dvc_file("s3data.dvc", content) == []


@pytest.mark.parametrize("md5", [
    "../../../../etc/passwd", "0123456789ABCDEF0123456789ABCDEF", MD5[:-1], MD5 + "0",
    MD5 + ".dir/../x", "/" + MD5[1:], MD5[:16] + "/" + MD5[17:], "12", "null", "[1, 2]",
    MD5 + "\\n",
])
def test_malformed_md5_is_refused(md5: str) -> None:
    with pytest.raises(SyncError, match="malformed md5"):
        parse_dvc_file("a.dvc", dvc_file(out("a", md5=md5 if md5 != "null" else '"null"')))


def test_other_hash_names_are_refused() -> None:
    with pytest.raises(SyncError, match="supports md5"):
        parse_dvc_file("a.dvc", dvc_file(out("a", extra="  hash: sha256\n")))


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
    assert parse_dvc_file("a.dvc", b"deps: []\n") == []


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
  gen:
    foreach: [a, b]
    do:
      cmd: gen ${item}
      outs:
      - out/${item}.tmp:
          cache: false
      - out/${item}
"""


def test_dvc_lock_with_dvc_yaml_flags() -> None:
    outs = parse_dvc_lock("sub/dvc.lock", LOCK, YAML)
    got = {(o.key, o.path, o.oid, o.target) for o in outs}
    assert got == {
        ("train:model.pkl", "sub/model.pkl", MD5, "sub/dvc.yaml:train"),
        ("gen@a:out/a", "sub/out/a", MD5B + ".dir", "sub/dvc.yaml:gen@a"),
    }  # metrics.json and out/b.tmp are `cache: false` in dvc.yaml
    assert not any(o.legacy for o in outs)
    # Without dvc.yaml every recorded output counts (dvc.lock does not repeat the flags).
    assert len(parse_dvc_lock("dvc.lock", LOCK, None)) == 4


def test_dvc_lock_v1_format_and_empty() -> None:
    v1 = f"train:\n  cmd: x\n  outs:\n  - path: m\n    md5: {MD5}\n".encode()
    [o] = parse_dvc_lock("dvc.lock", v1)
    assert o.legacy and o.target == "dvc.yaml:train"
    assert parse_dvc_lock("dvc.lock", b"") == []
    assert parse_dvc_lock("dvc.lock", b"schema: '2.0'\nstages: {}\n") == []
    with pytest.raises(SyncError, match="not a dvc.lock"):
        parse_dvc_lock("dvc.lock", b"- a\n")


def test_parse_pointer_dispatches_and_reads_the_sibling_dvc_yaml() -> None:
    asked: list[str] = []

    def sibling(path: str) -> Optional[bytes]:
        asked.append(path)
        return YAML

    assert len(parse_pointer("x/dvc.lock", LOCK, sibling)) == 2
    assert asked == ["x/dvc.yaml"]
    assert parse_pointer("a.dvc", dvc_file(out("a")), sibling)[0].path == "a"
    assert parse_pointer("a.dvc", None, sibling) == []  # deleted side of a change
