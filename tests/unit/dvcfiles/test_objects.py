"""Objects as data: refs and their paths, object sets, `.dir` manifests and the entries
they may name."""

from __future__ import annotations

import hashlib
import json

import pytest

from dvc_synced_plugin.dvcfiles.objects import ObjectSet, parse_manifest
from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.oids import ObjectRef


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def manifest(entries: dict[str, bytes]) -> bytes:
    return json.dumps([{"md5": md5(v), "relpath": k} for k, v in sorted(entries.items())]).encode()


def test_relpaths() -> None:
    oid = md5(b"x")
    assert ObjectRef(oid, False).relpath == f"files/md5/{oid[:2]}/{oid[2:]}"
    assert ObjectRef(oid, True).relpath == f"{oid[:2]}/{oid[2:]}"
    assert ObjectRef(oid + ".dir", False).relpath.endswith(".dir")
    assert ObjectRef(oid, False, "a") == ObjectRef(oid, False, "b")  # owner is only a label


def test_object_set_puts_manifests_last() -> None:
    objs = ObjectSet()
    d, f = ObjectRef(md5(b"d") + ".dir", False), ObjectRef(md5(b"f"), False)
    objs.add(d)
    objs.add(f)
    objs.add(ObjectRef(md5(b"f"), False, "other owner"))
    assert objs.all() == [f, d] and len(objs) == 2


# ------------------------------------------------------------------------- manifests


def test_parse_manifest() -> None:
    data = manifest({"a": b"1", "sub/b c": b"2"})
    entries = parse_manifest(data, legacy=False, owner="data")
    assert {k: v.oid for k, v in entries.items()} == {"a": md5(b"1"), "sub/b c": md5(b"2")}
    assert entries["sub/b c"].owner == "data/sub/b c"
    assert all(not v.legacy for v in entries.values())
    assert all(v.legacy for v in parse_manifest(data, legacy=True, owner="x").values())


@pytest.mark.parametrize("entry", [
    {"md5": "../x", "relpath": "x"},
    {"md5": "../../../../etc/passwd", "relpath": "x"},
    {"md5": md5(b"1").upper(), "relpath": "x"},
    {"md5": md5(b"1") + ".dir", "relpath": "x"},  # a manifest may only list files
    {"md5": md5(b"1")[:31], "relpath": "x"},
    {"md5": 12, "relpath": "x"},
    {"md5": md5(b"1")},
    {"relpath": "x"},
    "a string",
])
def test_hostile_manifest_entries_are_refused(entry: object) -> None:
    data = json.dumps([{"md5": md5(b"ok"), "relpath": "ok"}, entry]).encode()
    with pytest.raises(SyncError, match="not a file hash") as err:
        parse_manifest(data, legacy=False, owner="data")
    assert "dvc add" in str(err.value)


def test_entry_names_never_become_object_paths() -> None:
    """`relpath` is only a label: the object path comes from the validated hash alone."""
    data = json.dumps([{"md5": md5(b"1"), "relpath": "../../outside"}]).encode()
    [ref] = parse_manifest(data, legacy=False, owner="data").values()
    assert ref.relpath == ObjectRef(md5(b"1"), False).relpath
    assert ".." not in ref.relpath.split("/")


@pytest.mark.parametrize("data", [b"not json", b'{"md5": "x"}', b"\xff\xfe", b"null"])
def test_unreadable_manifests(data: bytes) -> None:
    with pytest.raises(SyncError, match="manifest of data"):
        parse_manifest(data, legacy=False, owner="data")
