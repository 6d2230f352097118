"""Shortcuts taken for speed never accept what the full check refuses."""

from __future__ import annotations

import json
import random

import pytest

from dvc_synced_plugin import safety

NAMES = ["a", "a/b", "", "/x", "x/", "a//b", ".", "..", "a/../b", ".git", "a/.GIT/b",
         ".gitx", "x.git", "..a", "a/.", "é/x", "a\\b", 'a"b', "a\x00b", "a\nb",
         "ok/fine.txt", "../.git/hooks/post-merge"]


def full_check(data: bytes, monkeypatch: pytest.MonkeyPatch) -> object:
    with monkeypatch.context() as m:
        m.setattr(safety, "_plainly_safe", lambda _data: False)
        return safety.unsafe_manifest(data)


def test_plain_manifest_check_agrees_with_the_full_one(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    taken = 0
    for _ in range(2000):
        entries: list[dict[str, object]] = [
            {"md5": f"{rng.getrandbits(128):032x}",
             "relpath": rng.choice(NAMES) + rng.choice(["", "/f1", "/.git"])}
            for _ in range(rng.randint(0, 5))]
        if rng.random() < 0.1:
            entries.append({"md5": "../../escaped", "relpath": "q"})
        if rng.random() < 0.05:
            entries.append({"md5": f"{rng.getrandbits(128):032x}", "relpath": "z", "size": 1})
        data = json.dumps(entries, sort_keys=True).encode()
        if safety._plainly_safe(data):
            taken += 1
            assert full_check(data, monkeypatch) is None, data
    assert taken > 100  # the shortcut is taken for ordinary manifests
