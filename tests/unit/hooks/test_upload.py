"""The background upload's queue, state and waiting, with the upload itself faked
(the end-to-end behaviour is in tests/e2e/test_upload_on_commit.py)."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.hooks import upload
from tests.conftest import GitRepo


@pytest.fixture
def repo(git_repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    for key, value in git_repo.env.items():
        monkeypatch.setenv(key, value)
    return git_repo


def queue(root: Path, *commits: str) -> None:
    upload._dir(root).mkdir(parents=True, exist_ok=True)
    with open(upload._todo(root), "a") as f:
        f.writelines(f"{c}\n" for c in commits)


def test_one_job_takes_commits_queued_while_it_runs(repo: GitRepo,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    c1, c2, c3 = (repo.commit(n) for n in ("1", "2", "3"))
    calls: list[list[str]] = []

    def fake(root: Path, tips: list[str]) -> str:
        calls.append(tips)
        if len(calls) == 1:  # two hooks queue while this upload runs: they see it running
            queue(root, c2)
            queue(root, c3)
            assert upload.running(root)
        return f"uploaded {len(tips)}"

    monkeypatch.setattr(upload, "upload", fake)
    queue(repo.root, c1)
    assert upload.run_job(repo.root) == 0
    assert calls == [[c1], [c2, c3]]
    state = upload.read_state(repo.root)
    assert (state["result"], state["commit"], state["retry"]) == ("ok", c3, [])
    assert not upload.running(repo.root) and not upload._todo(repo.root).exists()
    assert "done at" in (upload.status_line(repo.root) or "")


def test_a_second_job_leaves_the_queue_to_the_running_one(repo: GitRepo,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    c1 = repo.commit("1")
    monkeypatch.setattr(upload, "upload", lambda root, tips: pytest.fail("ran twice"))
    queue(repo.root, c1)
    upload._dir(repo.root).mkdir(parents=True, exist_ok=True)
    fd = os.open(upload._lock(repo.root), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert upload.run_job(repo.root) == 0
    finally:
        os.close(fd)
    assert upload._todo(repo.root).exists()  # still queued for the running job


def test_a_failure_is_kept_for_the_retry_and_told_once(repo: GitRepo,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    c1, c2 = repo.commit("1"), repo.commit("2")
    seen: list[list[str]] = []

    def failing(root: Path, tips: list[str]) -> str:
        seen.append(tips)
        raise SyncError("central is not reachable")

    monkeypatch.setattr(upload, "upload", failing)
    queue(repo.root, c1)
    assert upload.run_job(repo.root) == 1
    state = upload.outcome(repo.root)
    assert (state["result"], state["retry"]) == ("failed", [c1])
    assert "failed" in (upload.status_line(repo.root) or "")
    capsys.readouterr()
    upload.tell_failure_once(repo.root, "this push uploads it")
    upload.tell_failure_once(repo.root, "this push uploads it")
    told = capsys.readouterr().err
    assert told.count("central is not reachable") == 1, told
    monkeypatch.setattr(upload, "upload", lambda root, tips: seen.append(tips) or "ok")
    queue(repo.root, c2)
    assert upload.run_job(repo.root) == 0
    assert seen[-1] == [c1, c2]  # the failed commit is retried with the next one


def test_a_job_that_died_is_told_and_the_push_waits_for_a_running_one(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    c1 = repo.commit("1")
    upload._write_state(repo.root, result="running", pid=999999, commit=c1,
                        started=time.time())
    assert upload.outcome(repo.root)["result"] == "died"  # no job holds the lock
    assert "stopped before it finished" in (upload.status_line(repo.root) or "")
    fd = os.open(upload._lock(repo.root), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    upload._progress(repo.root).write_text("  512.00M  50%  100.00MB/s    0:00:05\r")
    threading.Timer(0.5, os.close, [fd]).start()  # the job ends
    start = time.monotonic()
    upload.before_push(repo.root, poll=0.05)
    assert time.monotonic() - start >= 0.4
    err = capsys.readouterr().err
    assert "waiting for the background upload" in err
    assert err.count("stopped before it finished; this push uploads it") == 1
    assert upload._last_progress(repo.root).startswith("512.00M")
