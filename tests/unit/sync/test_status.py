"""`status`: the objects of a revision, read from its manifests as DVC lists them."""

from __future__ import annotations

import hashlib
import json

import pytest

from dvc_synced_plugin.errors import SyncError


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_status_reads_a_manifests_objects_as_dvc_lists_them() -> None:
    """`status` takes md5s straight from DVC's plain layout (no object per entry at 10^6)
    and parses any other layout: both give the entries' md5s, nothing else."""
    from dvc_synced_plugin.sync.status import entry_oids

    a, b, c = md5(b"a"), md5(b"b"), md5(b"c")
    plain = json.dumps([{"md5": a, "relpath": "x/1"}, {"md5": b, "relpath": "y {md5: z}"}],
                       separators=(", ", ": ")).encode()
    assert list(entry_oids(plain, False, "data")) == [a, b]
    # A quote in a name: in the text, `{"md5": "` could then stand inside a name.
    tricky = json.dumps([{"md5": a, "relpath": f'q{{"md5": "{c}"'},
                         {"md5": b, "relpath": "ü"}], ensure_ascii=False).encode()
    assert sorted(entry_oids(tricky, False, "data")) == sorted([a, b])
    for bad in ([{"md5": "../../etc/passwd", "relpath": "p"}], {"md5": a}):
        with pytest.raises(SyncError):
            list(entry_oids(json.dumps(bad).encode(), False, "data"))
