"""Fixtures over the shared harness (tests/harness.py): real git
servers, real DVC clones, a real sshd on loopback, moto S3."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dvc_synced_plugin.hooks.events import PRE_COMMIT_HOOKS
from dvc_synced_plugin.transports import TRANSPORTS, Entry
from tests.harness import (  # noqa: F401 - re-exported for the tests
    GitRepo,
    S3Server,
    Sshd,
    Team,
    Unavailable,
    User,
    free_port,
    make_env,
    on_terminal,
    rclone_env,
    run,
    start_moto,
    start_sshd,
    store_objects,
    tree_digest,
    wait_for_port,
)

REPO_ROOT = Path(__file__).resolve().parent.parent

# The in-process fake transport (tests/fake_transport.py) is the tests' own: registered
# here, never offered by the package's registry.
TRANSPORTS.setdefault("fake", Entry("tests.fake_transport", "in-process copies (tests)",
                                    public=False))


# The longest tests and modules, longest first (measured with --durations under
# pytest-xdist; a stale entry only changes the order). In parallel runs they start first,
# so they overlap each other and the short tests fill the gaps, instead of one of them
# starting last and running alone at the end. Whole modules keep their own order, so a
# module-scoped fixture is still built once per worker.
LONG_FIRST: tuple[str, ...] = (
    "tests/e2e/test_differential.py",  # 2-2.5 min each at load 5-8
    "tests/e2e/test_precommit.py",  # the shared hook environment is built by the first
    "tests/e2e/test_hooks.py",
    "tests/e2e/test_quickstart.py",  # its own hook environment, as a user builds it
    "tests/e2e/test_conformance.py",
    "tests/e2e/test_divergences.py",
    "tests/e2e/test_first_day.py",
    "tests/unit/sync/test_gc.py",
    "tests/e2e/test_imports.py",
    "tests/faults/test_imports.py",
    "tests/faults/test_kill.py",
    "tests/faults/test_fleet.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return  # one process: pytest's own order

    def rank(item: pytest.Item) -> int:
        for i, prefix in enumerate(LONG_FIRST):
            if item.nodeid.startswith(prefix):
                return i
        return len(LONG_FIRST)

    items.sort(key=rank)  # stable: the order within each rank stays pytest's


def unavailable(exc: Unavailable) -> None:
    """A server the tests need is missing: a skip on a developer's machine, a failure in
    CI, where the README's test command must have installed it (a skip there once hid
    that moto_server was not on PATH)."""
    if os.environ.get("CI"):
        pytest.fail(f"{exc}: the test command's setup must install it", pytrace=False)
    pytest.skip(str(exc))


def temporaries_left(team: Team) -> list[str]:
    """dvc-synced's temporary names (`.NAME.dvcsynced-PID-HEX.tmp`) in any teammate's work
    tree once a test is over: a sync, interrupted or not, must leave none there (the
    stores' scratch dirs are swept by the next run: tests/faults/test_kill.py checks)."""
    found = []
    for user in team.users.values():
        for top, dirs, files in os.walk(user.repo):
            dirs[:] = [d for d in dirs if d not in (".git", ".dvc")]
            found += [os.path.join(top, f) for f in files if ".dvcsynced-" in f]
    return found


@pytest.fixture
def team(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A team whose central storage is a plain directory (rsync to a local path)."""
    central = tmp_path / "central"
    central.mkdir()
    made = Team(tmp_path, str(central))
    yield made
    left = temporaries_left(made)
    assert not left, f"temporary names survived: {left}"


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    try:
        server = start_sshd(tmp_path_factory.mktemp("sshd"))
    except Unavailable as exc:
        unavailable(exc)
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
        unavailable(exc)
    yield server
    server.stop()


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


# ------------------------------------------------------------------------------- pre-commit
# The hook repository is a snapshot of this working tree committed in a temporary git
# repository (so uncommitted work is what gets tested); PRE_COMMIT_HOME is one directory
# per test session, so pre-commit builds the hook environment (a venv with dvc) once.

# What pre-commit's `pip install .` needs is in the working tree; tests and tooling are not.
SNAPSHOT_SKIP = ("tests/", "benchmarks/", "scripts/", ".ci/", "dvc_synced.egg-info/")


def config_text(repo: Path, rev: str, suffix: str = "") -> str:
    """The .pre-commit-config.yaml the README tells a team to commit."""
    hooks = "".join(f"      - id: dvc-synced-{name}{suffix}\n" for name in PRE_COMMIT_HOOKS)
    return (
        "default_install_hook_types: [pre-push, post-checkout, post-merge, post-rewrite, "
        "post-commit]\n"
        "default_stages: [pre-commit]\n"
        "repos:\n"
        f"  - repo: {repo}\n"
        f"    rev: {rev}\n"
        "    hooks:\n" + hooks
    )


def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory every worker of this pytest run shares: the base temp dir, or under
    pytest-xdist its parent (each worker's own base temp is `popen-gwN` inside it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str,
                 build: Callable[[Path], dict[str, str]]) -> dict[str, str]:
    """`build(dir)` once for the whole run, whichever worker gets here first; the others
    wait on a file lock and read what it returned (JSON beside `dir`). For what is too slow
    to build in every worker, such as pre-commit's hook environment."""
    root = run_root(tmp_path_factory)
    done = root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return dict(json.loads(done.read_text()))
        path = root / name
        if path.exists():  # a worker's build that failed: start again
            shutil.rmtree(path)
        path.mkdir()
        result = build(path)
        done.write_text(json.dumps(result))
        return result


def build_hook_repo(path: Path) -> dict[str, str]:
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                 REPO_ROOT).stdout.split("\0")
    for name in listed:
        src = REPO_ROOT / name
        if name and not name.startswith(SNAPSHOT_SKIP) and src.is_file():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, path / name)
    env = make_env(path, {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                          "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})
    run(["git", "init", "-q", "-b", "main"], path, env)
    run(["git", "add", "-A"], path, env)
    run(["git", "commit", "-q", "-m", "snapshot of the working tree"], path, env)
    return {"path": str(path), "rev": run(["git", "rev-parse", "HEAD"], path, env).stdout.strip()}


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This working tree's package files, committed: pre-commit installs from a git rev.
    One snapshot per run (shared by the xdist workers: pre-commit keys its environments by
    repository and rev, so one snapshot means one hook environment)."""
    made = once_per_run(tmp_path_factory, "hook-repo", build_hook_repo)
    return Path(made["path"]), made["rev"]


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory,
                    hook_repo: tuple[Path, str]) -> Path:
    """PRE_COMMIT_HOME with the hook environment built once for the whole run (all xdist
    workers share it: pre-commit itself locks its store, and running hooks only reads it).
    Each test still runs a real `pre-commit install` and real git commands; only the
    ~70 s environment build is shared. test_quickstart builds its own, as a user does."""

    def build(home: Path) -> dict[str, str]:
        scratch = home / "build-scratch"  # pre-commit's own files are in home/repo*
        scratch.mkdir()
        env = make_env(scratch, {"PRE_COMMIT_HOME": str(home)})
        run(["git", "init", "-q"], scratch, env)
        (scratch / ".pre-commit-config.yaml").write_text(config_text(*hook_repo))
        started = time.monotonic()
        run([sys.executable, "-m", "pre_commit", "install-hooks"], scratch, env)
        print(f"\npre-commit built the hook environment in {time.monotonic() - started:.1f}s")
        return {"home": str(home)}

    return Path(once_per_run(tmp_path_factory, "pre-commit-home", build)["home"])
