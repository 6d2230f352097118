"""The object stores: a presence answer for many objects (directory listings) equals a stat
each; objects are verified before they are named and never overwritten."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from dvc_synced_plugin.errors import CorruptObjectError
from dvc_synced_plugin.oids import ObjectRef
from dvc_synced_plugin.safety import content_hash
from dvc_synced_plugin.storage.stores import ObjectStore


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


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


# ------------------------------------------------------------------------- stores


def test_store_add_copy_verifies_and_never_overwrites(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / "store", "local storage")
    src = tmp_path / "src"
    src.write_bytes(b"payload")
    ref = ObjectRef(md5(b"payload"), False, "data/f")
    assert store.add_copy(src, ref) is True
    assert store.read(ref) == b"payload"
    assert not os.access(store.path(ref), os.W_OK) or os.geteuid() == 0
    assert oct(store.path(ref).stat().st_mode & 0o777) == "0o444"
    src.write_bytes(b"other")  # same name, other bytes: the existing object stays
    assert store.add_copy(src, ref, verify=False) is False
    assert store.read(ref) == b"payload"
    wrong = ObjectRef(md5(b"something else"), False, "data/g")
    with pytest.raises(CorruptObjectError, match="data/g"):
        store.add_copy(src, wrong)
    assert not store.has(wrong)
    leftovers = [p.name for p in store.path(wrong).parent.iterdir()] \
        if store.path(wrong).parent.exists() else []
    assert not [n for n in leftovers if n.endswith(".tmp")]


def test_store_adopt_refuses_corrupt_staged_files(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / "store", "local storage")
    staged = tmp_path / "staged"
    staged.write_bytes(b"bit rot")
    ref = ObjectRef(md5(b"good"), False, "data/f")
    with pytest.raises(CorruptObjectError, match="corrupt"):
        store.adopt(staged, ref)
    assert not store.has(ref) and not staged.exists()


def test_an_object_adopted_here_is_not_hashed_again_unless_written_since(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pull adopts a download into the local storage (hashed), then links it into the
    cache: the second hash is skipped for that inode, but a write in between is caught."""
    import dvc_synced_plugin.storage.stores as stores

    local = ObjectStore(tmp_path / "local", "local storage")
    cache = ObjectStore(tmp_path / "cache", "cache")
    ref = ObjectRef(md5(b"fresh bytes"), False, "data/f")
    staged = tmp_path / "staged"
    staged.write_bytes(b"fresh bytes")
    assert local.adopt(staged, ref)
    hashed: list[Path] = []
    real_verify = stores.safety.verify
    monkeypatch.setattr(stores.safety, "verify",
                        lambda path, r: hashed.append(path) or real_verify(path, r))
    assert cache.add_copy(local.path(ref), ref, verify=True, share=True)
    assert cache.read(ref) == b"fresh bytes" and hashed == []

    other = ObjectRef(md5(b"other bytes"), False, "data/g")
    staged.write_bytes(b"other bytes")
    assert local.adopt(staged, other)
    path = local.path(other)
    os.chmod(path, 0o644)
    path.write_bytes(b"EDITED byte")  # same size, written in place: the mtime moves
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    with pytest.raises(CorruptObjectError):
        cache.add_copy(path, other, verify=True, share=True)
    assert not cache.has(other)


def test_legacy_hash_folds_crlf(tmp_path: Path) -> None:
    text = b"line one\r\nline two\r\n"
    path = tmp_path / "t"
    path.write_bytes(text)
    with open(path, "rb") as f:
        assert content_hash(f, legacy=True) == md5(text.replace(b"\r\n", b"\n"))
    with open(path, "rb") as f:
        assert content_hash(f, legacy=False) == md5(text)
    binary = bytes(range(256)) + b"\r\n"
    path.write_bytes(binary)
    with open(path, "rb") as f:
        assert content_hash(f, legacy=True) == md5(binary)  # binary: no folding


def test_ordered_map_keeps_order_bounds_what_is_queued_and_stops_at_a_failure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The copies and hashes of a push run `jobs` at a time, yielded in order, with at
    most jobs x AHEAD queued: all 100,000 objects of a first push queued up front held
    185 MB of futures (#23). A failure is raised in its turn, nothing after it yielded."""
    import threading

    from dvc_synced_plugin.storage import stores

    monkeypatch.setattr(stores, "AHEAD", 3)
    started: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            started.append(i)
        return i * i

    got = []
    for item, result in stores.ordered_map(work, list(range(100)), 2):
        # Whatever has been handed to the pool so far is within the window's reach.
        assert max(started) < item + 1 + 2 * 3
        got.append((item, result))
    assert got == [(i, i * i) for i in range(100)]

    def fails_at_5(i: int) -> int:
        if i == 5:
            raise ValueError("bad object")
        return i

    seen = []
    with pytest.raises(ValueError, match="bad object"):
        for item, _ in stores.ordered_map(fails_at_5, list(range(50)), 3):
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4]
    assert list(stores.ordered_map(work, [], 4)) == []
