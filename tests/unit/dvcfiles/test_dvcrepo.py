"""Our light reader of DVC's config agrees with DVC's own `Config` on what we use."""

from __future__ import annotations

from pathlib import Path

import pytest

from dvc_synced_plugin.dvcfiles import dvcrepo

CASES = {
    "defaults": ("", ""),
    "relative cache dir, list of types": (
        "[cache]\n    dir = ../shared-cache\n    type = hardlink,symlink\n", ""),
    "local overrides repo": (
        "[cache]\n    dir = /srv/cache\n    type = copy\n",
        "[cache]\n    dir = ../../elsewhere\n['remote \"store\"']\n    url = ../store\n"),
    "home and url": (
        "['remote \"Store\"']\n    url = ~/store\n['remote \"s3\"']\n    url = s3://b/p\n", ""),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_reader_matches_dvc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    repo_conf, local_conf = CASES[case]
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(tmp_path / "global"))
    monkeypatch.setenv("DVC_SYSTEM_CONFIG_DIR", str(tmp_path / "system"))
    (tmp_path / "global").mkdir()
    (tmp_path / "global" / "config").write_text("[cache]\n    type = reflink,copy\n")
    dvc_dir = tmp_path / "repo" / ".dvc"
    dvc_dir.mkdir(parents=True)
    (dvc_dir / "config").write_text(repo_conf)
    if local_conf:
        (dvc_dir / "config.local").write_text(local_conf)

    ours = dvcrepo._read_config(dvc_dir.parent)
    theirs = dvcrepo._config(dvc_dir.parent)
    for key in ("dir", "type"):
        want = theirs["cache"].get(key)
        got = ours["cache"].get(key)
        if key == "type" and isinstance(got, str):
            got = got.split(",")
        assert got == want, (key, got, want)
    for name, remote in theirs["remote"].items():
        assert ours["remote"][name]["url"] == remote["url"]
    assert dvcrepo.cache_types(dvc_dir.parent)
