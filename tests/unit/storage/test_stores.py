"""A store's presence answer for many objects (directory listings) equals a stat each."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from dvc_synced_plugin.oids import ObjectRef
from dvc_synced_plugin.storage.stores import ObjectStore


@pytest.mark.parametrize("legacy", [False, True])
def test_listing_answer_equals_the_stat_answer(tmp_path: Path, legacy: bool,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    store = ObjectStore(tmp_path / "store", "local storage")
    refs = [ObjectRef(hashlib.md5(str(i).encode()).hexdigest() + (".dir" if i % 7 == 0 else ""),
                      legacy) for i in range(300)]
    for i, ref in enumerate(refs):
        path = store.root / ref.relpath
        if i % 3 == 0:
            continue  # absent
        path.parent.mkdir(parents=True, exist_ok=True)
        if i % 3 == 1:
            path.write_bytes(b"x")
        elif i % 2:
            path.mkdir()  # a directory under an object's name is no object
        else:
            os.symlink(tmp_path / "nowhere", path)  # nor is a dangling link
    by_stat = {r for r in refs if store.has(r)}
    monkeypatch.setattr(ObjectStore, "LIST_FROM", 10)
    assert store.present(refs) == by_stat
    assert store.missing(refs) == [r for r in refs if r not in by_stat]
    assert len(by_stat) == 100
