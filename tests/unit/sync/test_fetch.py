"""Which revisions `fetch --recent` takes and which pointer versions it plans (real git)."""

from __future__ import annotations

import calendar
import hashlib
import json
import time
from pathlib import Path

from dvc_synced_plugin.oids import object_path
from dvc_synced_plugin.sync import fetch
from tests.conftest import GitRepo

DAY = 86400


def at(repo: GitRepo, date: str) -> None:
    repo.env.update(GIT_AUTHOR_DATE=f"{date}T12:00:00Z", GIT_COMMITTER_DATE=f"{date}T12:00:00Z")


def stamp(date: str) -> float:
    return calendar.timegm(time.strptime(f"{date}T12:00:00", "%Y-%m-%dT%H:%M:%S"))


def blob(repo: GitRepo, rev: str, path: str) -> str:
    return repo.git("rev-parse", f"{rev}:{path}")


def test_recent_tips_and_history(git_repo: GitRepo) -> None:
    repo = git_repo
    at(repo, "2020-01-01")
    c1 = repo.commit("v1", **{"a.dvc": "v1\n"})
    at(repo, "2020-01-10")
    c2 = repo.commit("v2", **{"a.dvc": "v2\n"})
    at(repo, "2020-01-12")
    c3 = repo.commit("v3", **{"a.dvc": "v3\n", "b.dvc": "w1\n"})
    repo.git("switch", "-q", "-c", "old", c1)
    at(repo, "2020-01-02")
    c4 = repo.commit("old", **{"c.dvc": "old\n"})
    repo.git("switch", "-q", "main")
    for name, sha in (("main", c3), ("old", c4)):
        repo.git("update-ref", f"refs/remotes/origin/{name}", sha)
    repo.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    now = stamp("2020-01-13")

    assert fetch.recent_tips(repo.root, "origin", 5, now) == [c3]
    assert set(fetch.recent_tips(repo.root, "origin", 30, now)) == {c3, c4}

    (tip, tips), (label, history) = fetch.plan_changes(repo.root, [c3], 5, now)
    assert tip == c3 and label == "recent commits"
    assert {(c.path, c.new_blob) for c in tips} == {
        ("a.dvc", blob(repo, c3, "a.dvc")), ("b.dvc", blob(repo, c3, "b.dvc"))}
    # v2 (replaced inside the window) and v1 (the version c2 replaced), each as a delta
    # against the version that replaced it.
    assert {(c.new_blob, c.old_blob) for c in history} == {
        (blob(repo, c2, "a.dvc"), blob(repo, c3, "a.dvc")),
        (blob(repo, c1, "a.dvc"), blob(repo, c2, "a.dvc"))}
    _, (_, short) = fetch.plan_changes(repo.root, [c3], 1, now)
    assert [c.new_blob for c in short] == [blob(repo, c2, "a.dvc")]

    # A second tip counts by its difference from the first only.
    groups = fetch.plan_changes(repo.root, [c3, c4], None, now)
    assert [name for name, _ in groups] == [c3, c4]
    assert [(c.path, c.old_blob, c.new_blob) for c in groups[1][1]] == [
        ("a.dvc", blob(repo, c3, "a.dvc"), blob(repo, c4, "a.dvc")),
        ("c.dvc", None, blob(repo, c4, "c.dvc"))]


def test_upstream_counts_whatever_its_age(git_repo: GitRepo) -> None:
    repo = git_repo
    old = repo.commit("old", **{"a.dvc": "v1\n"})
    repo.git("update-ref", "refs/remotes/origin/main", old)
    repo.git("remote", "add", "origin", str(repo.root / "nowhere"))
    repo.git("config", "branch.main.remote", "origin")
    repo.git("config", "branch.main.merge", "refs/heads/main")
    assert fetch.recent_tips(repo.root, "origin", 1) == [old]  # dated 2020
    repo.git("config", "--unset", "branch.main.remote")
    assert fetch.recent_tips(repo.root, "origin", 1) == []


def test_days_must_be_positive() -> None:
    assert fetch.parse_days("3") == 3 and fetch.parse_days(None) is None
    for bad in ("0", "-1", "x", "1.5", ""):
        try:
            fetch.parse_days(bad)
        except fetch.ConfigError as exc:
            assert "positive" in str(exc)
        else:
            raise AssertionError(bad)


def test_fetched_commits_are_not_planned_again(git_repo: GitRepo) -> None:
    repo = git_repo
    at(repo, "2020-01-10")
    c1 = repo.commit("v1", **{"a.dvc": "v1\n", "b.dvc": "w1\n"})
    at(repo, "2020-01-11")
    c2 = repo.commit("v2", **{"a.dvc": "v2\n"})
    now = stamp("2020-01-13")
    assert fetch.plan_changes(repo.root, [c2], 5, now, done={c1, c2}, anchor=c2) == []
    at(repo, "2020-01-12")
    c3 = repo.commit("v3", **{"b.dvc": "w2\n"})
    # Only the new commit, as its difference from the anchor: nothing in full.
    groups = fetch.plan_changes(repo.root, [c3], 5, now, done={c1, c2}, anchor=c2)
    assert [(name, [(c.path, c.old_blob, c.new_blob) for c in changes])
            for name, changes in groups] == [
        (c3, [("b.dvc", blob(repo, c2, "b.dvc"), blob(repo, c3, "b.dvc"))])]


# ------------------------------------------------------------------- what a fetch brings


class Central:
    """A git repo whose DVC data lies on a central directory (the fake transport), with
    what each commit's outputs hold recorded here: the oracle a fetch is checked against."""

    def __init__(self, repo: GitRepo, tmp: Path) -> None:
        from dvc_synced_plugin import config

        self.repo = repo
        (repo.root / ".dvc").mkdir()
        (repo.root / ".dvc" / "config").write_text("")
        self.central, self.local = tmp / "central", tmp / "local"
        self.cache = repo.root / ".dvc" / "cache"
        self.central.mkdir()
        # Commits dated now: `--recent` takes them. A remote by name only: nothing is
        # asked of it when revisions are named.
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        repo.env.update(GIT_AUTHOR_DATE=now, GIT_COMMITTER_DATE=now)
        repo.git("remote", "add", "origin", str(tmp / "nowhere"))
        self.settings = config.load(repo.root, env={
            "DVC_SYNCED_CENTRAL": str(self.central), "DVC_SYNCED_TRANSPORT": "fake",
            "DVC_SYNCED_LOCAL": str(self.local)})
        self.objects: dict[str, set[str]] = {}  # commit -> object paths of its outputs

    def put(self, store: Path, data: bytes, suffix: str = "") -> str:
        oid = hashlib.md5(data).hexdigest() + suffix
        path = store / object_path(oid, False)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return oid

    def manifest(self, entries: dict[str, bytes]) -> bytes:
        return json.dumps([{"md5": hashlib.md5(v).hexdigest(), "relpath": k}
                           for k, v in sorted(entries.items())], sort_keys=True).encode()

    def commit(self, message: str, dirs: dict[str, dict[str, bytes]],
               files: dict[str, bytes]) -> str:
        """Pointers for directory and file outputs, every object on central."""
        pointers: dict[str, str] = {}
        objects: set[str] = set()
        for path, entries in dirs.items():
            for data in entries.values():
                objects.add(object_path(self.put(self.central, data), False))
            oid = self.put(self.central, self.manifest(entries), ".dir")
            objects.add(object_path(oid, False))
            pointers[f"{path}.dvc"] = f"outs:\n- md5: {oid}\n  hash: md5\n  path: {path}\n"
        for path, data in files.items():
            oid = self.put(self.central, data)
            objects.add(object_path(oid, False))
            pointers[f"{path}.dvc"] = f"outs:\n- md5: {oid}\n  hash: md5\n  path: {path}\n"
        sha = self.repo.commit(message, **pointers)
        self.objects[sha] = objects
        return sha


def test_fetch_brings_exactly_every_object_of_the_revisions(git_repo: GitRepo,
                                                            tmp_path: Path) -> None:
    """Whole manifests (the base revision's, a root commit's in the recent history, an
    output new on a second tip) are read entry by entry, not planned as objects: the
    local storage ends with exactly the objects of every commit, each counted once. A
    second run finds every commit fetched before and computes nothing (the root commit,
    whose version a later commit replaced, too: at 10^6 it was a whole manifest again)."""
    from tests.conftest import store_objects

    c = Central(git_repo, tmp_path)
    data1 = {f"d{i % 3}/f{i}": b"v1 %d" % i for i in range(40)}
    c1 = c.commit("v1", {"data": data1, "imgs": {"x": b"X"}}, {"model.bin": b"M1"})
    data2 = {**data1, "d0/f0": b"v2", "new": b"N"}
    c2 = c.commit("v2", {"data": data2, "imgs": {"x": b"X"}}, {"model.bin": b"M1"})
    c.repo.git("switch", "-q", "-c", "side", c1)
    c3 = c.commit("side", {"data": {**data1, "d1/f1": b"side"}, "imgs": {"x": b"X"},
                           "more": {"m": b"M", "x": b"X"}}, {"model.bin": b"M3"})
    expected = set().union(*c.objects.values())
    # Some objects are here already: in the local storage (present) or the cache (copied).
    present = {object_path(c.put(c.local, b"v1 5"), False)}
    copied = {object_path(c.put(c.cache, b"M3"), False),
              object_path(c.put(c.cache, b"v2"), False)}
    report = fetch.fetch(c.settings, [c2, c3], days=7)
    assert store_objects(c.local) == expected
    assert (report.needed, report.present, report.copied, report.fetched) == (
        len(expected), len(present), len(copied), len(expected - present - copied))
    assert not report.problems and report.revisions == 2
    again = fetch.fetch(c.settings, [c2, c3], days=7)
    assert (again.known, again.needed, again.fetched) == (2, 0, 0)


def test_a_manifest_central_lacks_a_file_of_stays_behind(git_repo: GitRepo,
                                                         tmp_path: Path) -> None:
    """A directory whose file is not on central: its files that are come, its manifest
    does not (a .dir in a DVC remote tells DVC the whole directory is there)."""
    from tests.conftest import store_objects

    c = Central(git_repo, tmp_path)
    c1 = c.commit("v1", {"data": {"a": b"A", "b": b"B"}, "ok": {"c": b"C"}}, {})
    (c.central / object_path(hashlib.md5(b"B").hexdigest(), False)).unlink()
    report = fetch.fetch(c.settings, [c1], days=None)
    lacking = {object_path(hashlib.md5(b"B").hexdigest(), False), object_path(
        hashlib.md5(c.manifest({"a": b"A", "b": b"B"})).hexdigest() + ".dir", False)}
    assert store_objects(c.local) == c.objects[c1] - lacking
    assert report.missing == 2 and len(report.problems) == 1
    assert "data" in report.problems[0]
