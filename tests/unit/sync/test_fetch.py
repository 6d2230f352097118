"""Which revisions `fetch --recent` takes and which pointer versions it plans (real git)."""

from __future__ import annotations

import calendar
import time

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
