"""Benchmark projects: built once per size, cached on disk, reused by every repetition.

One project of N tracked objects ((N-4) small files in `data/`, its `.dir` manifest and 3
large files in `models/`) is shared by three workflows, each with its own git server and
its own central storage, so their costs are measured side by side on the same data:

  ours    alice pushes with `git push` (our plain hooks), bob-ours pulls with `git pull`
  seed    alice: git push + `dvc push` + `rsync -r -P` of the whole local storage;
          bob-seed: git pull + `rsync -r -P` back + `dvc pull`   (the seed tutorial)
  native  alice: git push + `dvc push -r ssh`; bob-native: git pull + `dvc pull -r ssh`

As root, the run also measures a second server account (benchmarks/accounts.py): each
workflow gets a second git server, central storage (its directories owned by that
account) and bob clone, named with the account's suffix (`server-ours-clean.git`,
`central-ours-clean`, `bob-ours-clean`); alice keeps her one clone and pushes to both.
That part is added to a built project on its first run with the account (READY-clean).

Stores are filled once with hard links (`cp -al`) of alice's cache: objects are immutable
and every tool replaces rather than rewrites a file, so the links never leak a change.
Workspaces are real copies. Building 100,000 files and `dvc add`-ing them takes minutes,
so a project is only rebuilt when its directory lacks the `READY` marker.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from benchmarks.accounts import ROOT, Account, Login, give_dirs, split_flow
from tests import harness
from tests.harness import make_env  # the test teammates' env

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURE_VERSION = 2  # 2: pre-commit through the hook repository's own env
FILES_PER_SUBDIR = 1000
LARGE_FILES = 3
LARGE_SIZE = 8 << 20

PRE_COMMIT_HOOKS = ("pre-push", "post-checkout", "post-merge", "post-rewrite", "post-commit")


def run(args: list[str], cwd: Path, env: dict[str, str], check: bool = True,
        input: Optional[bytes] = None) -> subprocess.CompletedProcess:
    """The harness's `run`, with bytes (the benchmarks read outputs as bytes)."""
    return harness.run(args, cwd, env, check=check, input=input, text=False)


class User(harness.User):
    """One teammate's HOME and clone: the test suite's, with outputs as bytes."""

    text = False


@dataclass
class Project:
    """A built project of `size` objects and everything around it, under `root`."""

    size: int
    root: Path
    workdir: Path  # shared across sizes: ssh config, empty hooks dir, pre-commit home

    @property
    def ssh_config(self) -> Path:
        return self.workdir / "ssh" / "config"

    @property
    def ssh_key(self) -> Path:
        return self.workdir / "ssh" / "client_key"

    @property
    def ssh_command(self) -> str:
        """The counting ssh (benchmarks/run.py writes it beside the config): every ssh call
        of a timed command is logged, so round trips are reported beside the times."""
        return str(self.workdir / "ssh" / "counting-ssh")

    @property
    def no_hooks(self) -> Path:
        return self.workdir / "no-hooks"

    @property
    def precommit_hooks(self) -> Path:
        return self.root / "hooks-precommit"

    def store(self, name: str) -> Path:
        return self.root / "stores" / name

    def server(self, name: str) -> Path:
        return self.root / f"server-{name}.git"

    def extra_env(self, account: Account = ROOT) -> dict[str, str]:
        env = {
            "DVC_SYNCED_SSH_COMMAND": self.ssh_command,
            "PRE_COMMIT_HOME": str(self.workdir / "pre-commit-home"),
        }
        if account is not ROOT:  # root's central is the one the team file names
            env["DVC_SYNCED_CENTRAL"] = self.central(account)
        return env

    def central(self, account: Account = ROOT) -> str:
        """Our flow's central storage, reached as `account` (each account has its own)."""
        return f"{account.host}:{self.store(f'central-ours{account.suffix}')}"

    def user(self, name: str, account: Account = ROOT) -> User:
        home = self.root / f"home-{name}"
        return User(name, home, self.root / name, make_env(home, self.extra_env(account)))

    @property
    def alice(self) -> User:
        return self.user("alice")

    def alice_for(self, account: Account) -> User:
        """alice's one clone, with the environment that sends our flow to `account`.

        Our flow gets a local storage of its own per account: one shared between two
        centrals makes the second push find the change's objects in it, as a retry of a
        cut push would, and take the probe-first path (one session more), which a team
        with one central never sees on a new change."""
        user = self.user("alice", account)
        if account is not ROOT:
            user.env["DVC_SYNCED_REMOTE"] = f"synced-storage{account.suffix}"
            user.env["DVC_SYNCED_LOCAL"] = str(self.store(f"alice-local-ours{account.suffix}"))
        return user

    def puller(self, flow: str) -> User:
        base, account = split_flow(flow)
        return self.user(f"bob-{base}{account.suffix}", account)

    def seed_rsh(self) -> str:
        return self.ssh_command


# ----------------------------------------------------------------------------- building


def _new_user(project: Project, name: str) -> User:
    user = project.user(name)
    user.home.mkdir(parents=True, exist_ok=True)
    for key, value in (("user.name", name), ("user.email", f"{name}@example.com"),
                       ("init.defaultBranch", "main"), ("pull.rebase", "false"),
                       ("advice.detachedHead", "false")):
        run(["git", "config", "--global", key, value], user.home, user.env)
    return user


def write_small_files(data: Path, count: int, rng: random.Random) -> None:
    for i in range(count):
        sub = data / f"d{i // FILES_PER_SUBDIR:03d}"
        if i % FILES_PER_SUBDIR == 0:
            sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:06d}.txt").write_bytes(rng.randbytes(rng.randint(64, 2048)))


def small_paths(size: int) -> list[str]:
    return [f"data/d{i // FILES_PER_SUBDIR:03d}/f{i:06d}.txt" for i in range(size - 4)]


def precommit_config(python: str) -> str:
    """Our hooks as `repo: local` hooks: pre-commit's dispatch cost, no env to build.

    The fallback when pre-commit cannot build the hook repository's own environment."""
    hooks = "".join(
        f"  - id: dvc-synced-{name}\n"
        f"    name: dvc-synced {name}\n"
        f"    entry: {python} -m dvc_synced_plugin hook {name}\n"
        "    language: system\n"
        f"    stages: [{name}]\n"
        "    pass_filenames: false\n"
        "    always_run: true\n"
        for name in PRE_COMMIT_HOOKS
    )
    return (
        f"default_install_hook_types: [{', '.join(PRE_COMMIT_HOOKS)}]\n"
        "repos:\n- repo: local\n  hooks:\n" + hooks
    )


def hook_repo_config(rev: str) -> str:
    """This repository's .pre-commit-hooks.yaml at `rev`, as a team would use it: pre-commit
    builds a virtualenv with dvc-synced in it (once, under PRE_COMMIT_HOME)."""
    hooks = "".join(f"  - id: dvc-synced-{name}\n" for name in PRE_COMMIT_HOOKS)
    return (
        f"default_install_hook_types: [{', '.join(PRE_COMMIT_HOOKS)}]\n"
        f"repos:\n- repo: {REPO_ROOT}\n  rev: {rev}\n  hooks:\n" + hooks
    )


def choose_precommit_config(project: Project, log=print) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """(config text, mode): the hook repository with its built env, else local hooks."""
    env = project.alice.env
    rev = run(["git", "rev-parse", "HEAD"], REPO_ROOT, env).stdout.decode().strip()
    scratch = project.root / "precommit-probe"
    run(["git", "init", "-q", str(scratch)], project.root, env)
    text = hook_repo_config(rev)
    (scratch / ".pre-commit-config.yaml").write_text(text)
    try:
        run([sys.executable, "-m", "pre_commit", "install-hooks"], scratch, env)
        return text, f"hook repository at {rev[:10]}, language: python (env built)"
    except RuntimeError as exc:
        log(f"  pre-commit could not build the hook env, using local hooks: "
            f"{str(exc).splitlines()[0]}")
        return precommit_config(sys.executable), "repo: local, language: system"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def configure_ssh_remote(user: User, project: Project, port: int, login: str,
                         account: Account = ROOT) -> None:
    """DVC's own ssh remote, settings in .dvc/config.local (rewritten each run: new port).

    Against root it is `ssh` (store `native`), against another account `ssh-<key>` (store
    `native-<key>`), logging in as `login`."""
    name = f"ssh{account.suffix}"
    url = f"ssh://127.0.0.1{project.store(f'native{account.suffix}')}"
    user.dvc("remote", "add", "--local", "-f", name, url)
    user.dvc("remote", "modify", "--local", name, "port", str(port))
    user.dvc("remote", "modify", "--local", name, "user", login)
    user.dvc("remote", "modify", "--local", name, "keyfile", str(project.ssh_key))


def _link_store(cache_files: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    if not (dest / "files").exists():
        subprocess.run(["cp", "-al", str(cache_files), str(dest / "files")], check=True)


def build(project: Project, port: int, login: str, log=print) -> None:  # type: ignore[no-untyped-def]
    """Create the project from scratch (minutes at 100k objects)."""
    if project.root.exists():
        shutil.rmtree(project.root)
    project.root.mkdir(parents=True)
    started = time.monotonic()
    for flow in ("ours", "seed", "native"):
        run(["git", "init", "-q", "--bare", "-b", "main", str(project.server(flow))],
            project.root, os.environ.copy())
    alice = _new_user(project, "alice")
    run(["git", "clone", "-q", str(project.server("ours")), str(alice.repo)], project.root,
        alice.env)
    alice.git("remote", "add", "seed", str(project.server("seed")))
    alice.git("remote", "add", "native", str(project.server("native")))
    alice.dvc("init", "-q")
    project.store("central-ours").parent.mkdir(parents=True, exist_ok=True)
    central = f"dvc-server:{project.store('central-ours')}"
    alice.synced("init", "--central", central, "--transport", "rsync", "--create")
    alice.dvc("remote", "add", "--local", "seed-storage", str(project.store("alice-seed-local")))
    configure_ssh_remote(alice, project, port, login)

    rng = random.Random(project.size)
    write_small_files(alice.repo / "data", project.size - 4, rng)
    (alice.repo / "models").mkdir()
    for i in range(LARGE_FILES):
        (alice.repo / "models" / f"m{i}.bin").write_bytes(rng.randbytes(LARGE_SIZE))
    log(f"  n={project.size}: files written ({time.monotonic() - started:.0f}s)")
    alice.dvc("add", "-q", "data", *[f"models/m{i}.bin" for i in range(LARGE_FILES)])
    log(f"  n={project.size}: dvc add done ({time.monotonic() - started:.0f}s)")
    precommit_text, precommit_mode = choose_precommit_config(project, log)
    (alice.repo / ".pre-commit-config.yaml").write_text(precommit_text)
    (alice.repo / "notes.txt").write_text("code-only commits change this file\n")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "project")
    for flow in ("ours", "seed", "native"):
        alice.git("-c", f"core.hooksPath={project.no_hooks}", "push", "-q",
                  "origin" if flow == "ours" else flow, "main")
    alice.synced("install")

    cache_files = alice.repo / ".dvc" / "cache" / "files"
    local_ours = Path(alice.dvc("config", "--local", "remote.synced-storage.url")
                      .stdout.decode().strip())
    for store in (local_ours, project.store("alice-seed-local"), project.store("central-ours"),
                  project.store("central-seed"), project.store("native")):
        _link_store(cache_files, store)
    log(f"  n={project.size}: stores linked ({time.monotonic() - started:.0f}s)")

    for flow in ("ours", "seed", "native"):
        bob = _new_puller(project, flow, port, login, cache_files)
        log(f"  n={project.size}: {bob.name} ready ({time.monotonic() - started:.0f}s)")
    precommit_hooks(project, precommit_text)
    (project.root / "READY").write_text(json.dumps({
        "size": project.size, "version": FIXTURE_VERSION, "pre_commit": precommit_mode,
        "build_seconds": round(time.monotonic() - started, 1),
    }))


def _new_puller(project: Project, flow: str, port: int, login: str, cache_files: Path) -> User:
    """bob's clone for `flow` (`ours`, `seed`, `native`, or `ours@clean` ...), with alice's
    workspace copied and her cache linked: up to date, as a teammate who pulled before."""
    base, account = split_flow(flow)
    alice = project.alice
    bob = project.puller(flow)
    _new_user(project, bob.name)
    run(["git", "clone", "-q", str(project.server(f"{base}{account.suffix}")), str(bob.repo)],
        project.root, bob.env)
    _link_store(cache_files, bob.repo / ".dvc" / "cache")
    for rel in ("data", "models"):
        subprocess.run(["cp", "-a", str(alice.repo / rel), str(bob.repo / rel)], check=True)
    if base == "ours":
        bob.synced("install")
        bob.synced("pull")  # sets up its local storage, records the synced state
        _link_store(cache_files, Path(bob.dvc(
            "config", "--local", "remote.synced-storage.url").stdout.decode().strip()))
    elif base == "seed":
        local = project.store(f"bob-seed{account.suffix}-local")
        bob.dvc("remote", "add", "--local", "--default", "synced-storage", str(local))
        _link_store(cache_files, local)
        bob.dvc("status", "-q", check=False)  # warms DVC's hash state for the workspace
    else:
        configure_ssh_remote(bob, project, port, login, account)
        bob.dvc("status", "-q", check=False)
    return bob


ACCOUNT_FLOWS = ("ours", "seed", "native")  # what build_account adds for another account


def account_ready(project: Project, account: Account) -> Path:
    return project.root / f"READY{account.suffix}"


def account_built(project: Project, account: Account, login: Login) -> bool:
    """Whether the account's part is built, for this very account: one deleted and made
    again has another uid and could not write into the stores the old one owned."""
    try:
        marker = json.loads(account_ready(project, account).read_text())
    except (OSError, ValueError):
        return False
    return bool(marker.get("login") == login.name and marker.get("uid") == login.uid
                and marker.get("flows") == list(ACCOUNT_FLOWS))


def build_account(project: Project, port: int, login: Login, account: Account,
                  log=print) -> None:  # type: ignore[no-untyped-def]
    """The three workflows against another server account, added to a built project: own
    git servers, central stores owned by the account, and bob clones (the seed's alice
    keeps her one local-directory remote: the seed's workflow has one per user).

    Made from alice's current state (her cache holds every object, her workspace is HEAD),
    so an older project gains it without a rebuild."""
    started = time.monotonic()
    alice = project.alice
    for flow in ACCOUNT_FLOWS:
        server = project.server(f"{flow}{account.suffix}")
        if server.exists():  # a build cut short: start this account over
            shutil.rmtree(server)
        run(["git", "init", "-q", "--bare", "-b", "main", str(server)], project.root,
            os.environ.copy())
        remote = f"{flow}{account.suffix}"
        alice.git("remote", "remove", remote, check=False)
        alice.git("remote", "add", remote, str(server))
        alice.git("-c", f"core.hooksPath={project.no_hooks}", "push", "-q", remote, "main")
    configure_ssh_remote(alice, project, port, login.name, account)
    cache_files = alice.repo / ".dvc" / "cache" / "files"
    for name in (f"central-ours{account.suffix}", f"central-seed{account.suffix}",
                 f"native{account.suffix}"):
        store = project.store(name)
        if store.exists():
            shutil.rmtree(store)
        _link_store(cache_files, store)
        give_dirs(store, login)
    for flow in ACCOUNT_FLOWS:
        bob = project.puller(account.flow(flow))
        for path in (bob.home, bob.repo):
            if path.exists():
                shutil.rmtree(path)
        _new_puller(project, account.flow(flow), port, login.name, cache_files)
    account_ready(project, account).write_text(json.dumps({
        "login": login.name, "uid": login.uid, "flows": list(ACCOUNT_FLOWS),
        "build_seconds": round(time.monotonic() - started, 1)}))
    log(f"  n={project.size}: {account.label}: ready ({time.monotonic() - started:.0f}s)")


def precommit_hooks(project: Project, config: str) -> None:
    """pre-commit's hook scripts, installed in a scratch repository and kept in a directory
    that `git -c core.hooksPath=` selects (pre-commit refuses to install with hooksPath set)."""
    scratch = project.root / "precommit-scratch"
    env = project.alice.env
    run(["git", "init", "-q", str(scratch)], project.root, env)
    (scratch / ".pre-commit-config.yaml").write_text(config)
    run([sys.executable, "-m", "pre_commit", "install", "--install-hooks"], scratch, env)
    project.precommit_hooks.mkdir(exist_ok=True)
    for name in PRE_COMMIT_HOOKS:
        shutil.copy2(scratch / ".git" / "hooks" / name, project.precommit_hooks / name)
    shutil.rmtree(scratch)


def prepare(workdir: Path, size: int, port: int, login: str, rebuild: bool,
            log=print, others: Sequence[tuple[Account, Login]] = ()  # type: ignore[no-untyped-def]
            ) -> Project:
    """The project of `size` objects, built if needed; per-run settings (ssh port) refreshed.

    `others`: further server accounts to run our flow and the native one against."""
    project = Project(size, workdir / f"v{FIXTURE_VERSION}-n{size}", workdir)
    project.no_hooks.mkdir(parents=True, exist_ok=True)
    if rebuild or not (project.root / "READY").exists():
        log(f"building the n={size} project under {project.root} (once; cached afterwards)")
        build(project, port, login, log)
    else:
        configure_ssh_remote(project.alice, project, port, login)
        configure_ssh_remote(project.puller("native"), project, port, login)
    for account, account_login in others:
        if not account_built(project, account, account_login):
            log(f"  n={size}: adding the {account.label} flows (once)")
            build_account(project, port, account_login, account, log)
        else:
            configure_ssh_remote(project.alice, project, port, account_login.name, account)
            configure_ssh_remote(project.puller(account.flow("native")), project, port,
                                 account_login.name, account)
    return project
