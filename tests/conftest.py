"""Fixtures over the shared harness (dvc_synced_plugin/testing/harness.py): real git
servers, real DVC clones, a real sshd on loopback, moto S3."""

from __future__ import annotations

from pathlib import Path

import pytest

from dvc_synced_plugin.testing.harness import (  # noqa: F401 - re-exported for the tests
    GitRepo,
    S3Server,
    Sshd,
    Team,
    Unavailable,
    User,
    free_port,
    make_env,
    rclone_env,
    run,
    start_moto,
    start_sshd,
    store_objects,
    tree_digest,
    wait_for_port,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def team(tmp_path: Path) -> Team:
    """A team whose central storage is a plain directory (rsync to a local path)."""
    central = tmp_path / "central"
    central.mkdir()
    return Team(tmp_path, str(central))


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    try:
        server = start_sshd(tmp_path_factory.mktemp("sshd"))
    except Unavailable as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def ssh_team(tmp_path: Path, sshd: Sshd) -> Team:
    """Central over ssh through the seed's `dvc-server` alias (rsync over ssh)."""
    central = tmp_path / "central"
    central.mkdir()
    return Team(tmp_path, f"dvc-server:{central}",
                extra_env={"DVC_SYNCED_SSH_COMMAND": sshd.ssh_command()})


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    try:
        server = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    except Unavailable as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")
