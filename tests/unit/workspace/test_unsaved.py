"""Unit tests of issue #21's pieces (no git, no DVC): a linked file's version is proved
from its bytes, temporary names never survive (hard links of one inode included), a
killed update's temporaries are removed by the next run, and the local storage never
hard-links an inode another name already shares."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dvc_synced_plugin import tempnames
from dvc_synced_plugin.dvcfiles.objects import ObjectRef
from dvc_synced_plugin.storage.stores import ObjectStore, generation
from dvc_synced_plugin.workspace import checkout as workspace
from tests.unit.workspace.test_checkout import _delta_case, _store


def test_replace_over_a_hard_link_of_the_same_inode_leaves_no_temporary(tmp_path: Path) -> None:
    final = tmp_path / "f"
    final.write_bytes(b"x")
    tmp = tempnames.temp_for(final)
    os.link(final, tmp)
    os.replace(tmp, final)
    assert tmp.exists(), "rename(2) over the same inode is a no-op: the reason for replace()"
    tempnames.replace(tmp, final)
    assert not tmp.exists() and final.read_bytes() == b"x"


def test_in_place_write_to_a_hard_linked_file_is_a_local_change(tmp_path: Path) -> None:
    repo, cache, changed, deltas = _delta_case(tmp_path)
    a = repo / "data/a.txt"
    a.unlink()
    old_obj = cache.path(ObjectRef(deltas[next(iter(deltas))].before["a.txt"], False))
    os.link(old_obj, a)  # cache.type hardlink: the workspace file is the object
    os.chmod(a, 0o644)
    with open(a, "ab") as fobj:
        fobj.write(b" and bob's line")
    assert workspace.update(repo, cache, ["hardlink"], changed, deltas) == {"data.dvc"}
    assert a.read_bytes() == b"a1 and bob's line"
    assert workspace.refused_files == [a]


def test_in_place_write_through_a_symlink_is_a_local_change(tmp_path: Path) -> None:
    repo, cache, changed, deltas = _delta_case(tmp_path)
    a = repo / "data/a.txt"
    a.unlink()
    old_obj = cache.path(ObjectRef(deltas[next(iter(deltas))].before["a.txt"], False))
    os.symlink(old_obj, a)
    os.chmod(old_obj, 0o644)
    with open(a, "ab") as fobj:
        fobj.write(b"!")
    assert workspace.update(repo, cache, ["symlink"], changed, deltas) == {"data.dvc"}
    assert a.read_bytes() == b"a1!"


def test_a_killed_update_leaves_a_journal_the_next_run_follows(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    git_dir = repo / ".git"
    (repo / "data").mkdir(parents=True)
    journal = workspace.journal_file(git_dir)
    token = tempnames.new_token()
    finals = [repo / "data" / "a.txt", repo / "data" / "b.txt"]
    workspace._write_journal(journal, repo, token, finals)
    left = tempnames.temp_for(finals[0], token)
    left.write_bytes(b"half")  # what SIGKILL left
    user_file = repo / "data" / ".a.txt.1234.tmp"
    user_file.write_bytes(b"not ours")
    assert workspace.recover(repo, git_dir) == 1
    assert not left.exists() and not journal.exists() and user_file.exists()


def test_sweep_removes_dead_writers_temporaries_only(tmp_path: Path) -> None:
    dead = tmp_path / ".obj.dvcsynced-999999999-0a0b0c0d.tmp"
    mine = tempnames.temp_for(tmp_path / "obj")
    other = tmp_path / ".obj.123.tmp"
    for path in (dead, mine, other):
        path.write_bytes(b"x")
    assert tempnames.sweep(tmp_path) == 1
    assert not dead.exists() and mine.exists() and other.exists()


def test_local_storage_never_hard_links_an_inode_another_name_shares(tmp_path: Path) -> None:
    local, put = _store(tmp_path / "local")
    md5 = put(b"object bytes")
    cache = ObjectStore(tmp_path / "cache-b", "DVC cache")
    src = local.path(ObjectRef(md5, False))
    os.link(src, tmp_path / "clone-a-workspace-file")  # clone A hard-linked it
    assert cache.add_copy(src, ObjectRef(md5, False), share=True, link_shared=False)
    got = cache.path(ObjectRef(md5, False))
    assert os.stat(got).st_ino != os.stat(src).st_ino
    assert not list((cache.root).rglob("*.tmp"))
    # Alone, it is shared: one inode for both stores (the disk saving stays).
    md5b = put(b"other bytes")
    assert cache.add_copy(local.path(ObjectRef(md5b, False)), ObjectRef(md5b, False),
                          share=True, link_shared=False)
    assert os.stat(cache.path(ObjectRef(md5b, False))).st_nlink == 2


def test_sharing_into_a_store_keeps_the_exec_bit_dvc_gave(tmp_path: Path) -> None:
    cache, put = _store(tmp_path / "cache")
    md5 = put(b"#!/bin/sh\n")
    obj = cache.path(ObjectRef(md5, False))
    os.chmod(obj, 0o544)  # DVC's checkout of an isexec output through a hard link
    local = ObjectStore(tmp_path / "local", "local storage")
    assert local.add_copy(obj, ObjectRef(md5, False), share=True)
    assert stat.S_IMODE(os.stat(obj).st_mode) == 0o544


def test_generation_is_renewed_and_made_afresh(tmp_path: Path) -> None:
    first = generation(tmp_path)
    assert generation(tmp_path) == first
    assert generation(tmp_path, renew=True) != first


def test_dvc_checkouts_temporaries_are_removed_after_a_kill(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    git_dir = repo / ".git"
    (repo / "data" / "sub").mkdir(parents=True)
    dvc_temp = repo / "data" / "sub" / ".AbCdEfGhIjKlMnOpQrStUv.tmp"  # tmp_fname("")
    beside = repo / ".0123456789abcdefghij_-.tmp"  # beside the single-file output
    user_file = repo / "data" / "keep.tmp"
    with pytest.raises(KeyboardInterrupt), workspace.dvc_journal(git_dir, ["data", "model.bin"]):
        for path in (dvc_temp, beside, user_file):
            path.write_bytes(b"half")
        raise KeyboardInterrupt  # the checkout dies here (or SIGKILL: no unwinding)
    assert workspace.recover(repo, git_dir) == 2
    assert not dvc_temp.exists() and not beside.exists() and user_file.exists()
    assert workspace.recover(repo, git_dir) == 0
