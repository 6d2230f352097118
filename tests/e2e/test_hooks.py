"""The git hooks end to end with real git, DVC, rsync (and sshd): plain `dvc-synced install`.

Every flow is a function taking a `Mode` (how the hooks get installed), so the pre-commit
tests (e2e/test_precommit.py) run the very same flows: the behaviour must not depend on
the way the hooks were installed. Teammates are two clones with own HOMEs; assertions
look at the bytes in the workspaces, the objects on central and the git server's refs.
"""

from __future__ import annotations

import configparser
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tests.conftest import REPO_ROOT, Team, User, on_terminal, run, store_objects

V1 = {
    "data/a.txt": b"alpha 1\n",
    "data/sub/b.txt": b"beta 1\n",
    "data/c.bin": bytes(range(256)) * 64,
    "model.bin": b"model 1\n" * 1000,
}
TARGETS = ["data", "model.bin"]


class Mode:
    """Plain hooks: `dvc-synced install` in every clone (the founder's too)."""

    name = "plain"
    shows_output = True  # hook output reaches the terminal also when the hook succeeds

    def prepare(self, team: Team) -> None:
        pass

    def setup_project(self, founder: User) -> None:
        self.install(founder)

    def install(self, user: User) -> None:
        user.synced("install")


PLAIN = Mode()


# ------------------------------------------------------------------------------ helpers


def obj(data: bytes) -> str:
    """Where DVC 3 keeps a file with these bytes, in a cache or a storage."""
    md5 = hashlib.md5(data).hexdigest()
    return f"files/md5/{md5[:2]}/{md5[2:]}"


def central_dir(team: Team) -> Path:
    return Path(team.central.rpartition(":")[2])


def local_storage(user: User) -> Path:
    """The DVC remote in .dvc/config.local, read without paying for a `dvc` process."""
    conf = configparser.ConfigParser()
    conf.read(user.repo / ".dvc" / "config.local")
    return Path(conf["'remote \"synced-storage\"'"]["url"])


def server_rev(team: Team, ref: str = "main") -> str:
    out = run(["git", "--git-dir", str(team.server), "rev-parse", "--verify", "-q", ref],
              team.base, check=False)
    return out.stdout.strip()


def head(user: User) -> str:
    return user.git("rev-parse", "HEAD").stdout.strip()


def output(proc: subprocess.CompletedProcess) -> str:
    return (proc.stdout or "") + (proc.stderr or "")


def commit_data(user: User, files: dict[str, bytes], targets: list[str], msg: str) -> None:
    for rel, data in files.items():
        user.write(rel, data)
    user.dvc("add", "-q", *targets)
    # Only what `dvc add` made: other files in the work tree are not this commit's business.
    pointers = [f"{t}.dvc" for t in targets] + [str(Path(t).parent / ".gitignore") for t in targets]
    user.git("add", "--", *pointers)
    user.git("commit", "-q", "-m", msg)


def assert_workspace(user: User, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = user.repo / rel
        assert path.is_file(), f"{user.name}: {rel} is missing"
        assert path.read_bytes() == data, f"{user.name}: {rel} has other bytes"


def assert_on_central(team: Team, files: dict[str, bytes] | list[bytes]) -> None:
    have = store_objects(central_dir(team))
    datas = files.values() if isinstance(files, dict) else files
    missing = [obj(d) for d in datas if obj(d) not in have]
    assert not missing, f"central lacks {missing}"


def one_summary(proc: subprocess.CompletedProcess, verb: str) -> None:
    """Exactly one summary line: several hooks of one git command sync once."""
    lines = [ln for ln in output(proc).splitlines() if f"dvc-synced: {verb}" in ln]
    assert len(lines) == 1, output(proc)


@contextmanager
def central_offline(team: Team) -> Iterator[None]:
    """Central unreachable: its directory is gone (for ssh too: the path does not exist)."""
    central = central_dir(team)
    aside = central.with_name(central.name + ".offline")
    central.rename(aside)
    try:
        yield
    finally:
        aside.rename(central)


@dataclass
class Project:
    """A team with data v1 on central: alice (founder) and, usually, bob in sync with it."""

    team: Team
    mode: Mode
    alice: User
    bob_: Optional[User]
    files: dict[str, bytes]  # the data of the latest commit on the server's main

    @property
    def bob(self) -> User:
        assert self.bob_ is not None
        return self.bob_


def start(team: Team, mode: Mode, with_bob: bool = True) -> Project:
    """alice sets the project up and pushes data v1; bob clones, installs, first sync."""
    mode.prepare(team)
    alice = team.founder("alice")
    mode.setup_project(alice)
    files = dict(V1)
    commit_data(alice, files, TARGETS, "data v1")
    pushed = alice.git("push", "-q", "origin", "main")
    assert_on_central(team, files)
    if mode.shows_output:
        assert "dvc-synced: uploaded" in output(pushed)
    if not with_bob:
        return Project(team, mode, alice, None, files)
    bob = team.user("bob")
    mode.install(bob)
    bob.git("checkout")  # a clone fires no hook; the first one after it syncs everything
    assert_workspace(bob, files)
    return Project(team, mode, alice, bob, files)


def change(user: User, files: dict[str, bytes], rel: str, data: bytes, msg: str,
           push: bool = True) -> subprocess.CompletedProcess | None:
    files[rel] = data
    commit_data(user, {rel: data}, [rel.split("/")[0]], msg)
    return user.git("push", "-q") if push else None


# -------------------------------------------------------------------------------- flows


def flow_share(p: Project) -> None:
    """The daily loop: alice pushes a change, bob pulls it; only the change moves."""
    mode, alice, bob, files = p.mode, p.alice, p.bob, p.files
    before = store_objects(local_storage(bob))
    change(alice, files, "data/a.txt", b"alpha 2 (share)\n", "change one file")
    pulled = bob.git("pull", "-q")
    assert_workspace(bob, files)
    moved = store_objects(local_storage(bob)) - before
    assert len(moved) == 2, moved  # the changed file and the directory's new manifest
    if mode.shows_output:
        one_summary(pulled, "downloaded")


def flow_pull_variants(p: Project) -> None:
    """merge, --rebase with and without local commits, checkout/switch, rebase, worktree."""
    team, mode, alice, bob, files = p.team, p.mode, p.alice, p.bob, p.files
    v1_sha, v1_files = head(bob), dict(files)

    # git pull that merges (bob has a local commit): post-merge.
    bob.write("notes/bob.txt", "bob 1\n")
    bob.git("add", "notes")
    bob.git("commit", "-q", "-m", "bob's notes")
    change(alice, files, "data/a.txt", b"alpha 2 (variants)\n", "v2")
    v2_files, v2_sha = dict(files), head(alice)
    bob.git("pull", "-q", "--no-rebase", "--no-edit")
    assert_workspace(bob, files)

    # git pull --rebase with local commits: post-checkout, post-commit, post-rewrite.
    bob.write("notes/bob.txt", "bob 2\n")
    bob.git("commit", "-q", "-am", "more notes")
    change(alice, files, "data/sub/b.txt", b"beta 3 (variants)\n", "v3")
    pulled = bob.git("pull", "-q", "--rebase")
    assert_workspace(bob, files)
    if mode.shows_output:
        one_summary(pulled, "downloaded")

    # git pull --rebase without local commits (bob pushes his first): post-merge.
    bob.git("push", "-q")
    alice.git("pull", "-q")
    change(alice, files, "model.bin", b"model 4 (variants)\n" * 1000, "v4")
    assert bob.git("status", "--porcelain").stdout == ""
    bob.git("pull", "-q", "--rebase")
    assert_workspace(bob, files)
    v4_sha = head(bob)

    # checkout of a commit (detached), switch back to the branch.
    bob.git("checkout", "-q", v1_sha)
    assert_workspace(bob, v1_files)
    bob.git("switch", "-q", "main")
    assert_workspace(bob, files)

    # git rebase: a feature branch made at v2 with its own data, rebased onto main.
    bob.git("switch", "-q", "-c", "feature", v2_sha)
    assert_workspace(bob, v2_files)
    extra = {"extra/e.bin": b"bob's extra data\n"}
    commit_data(bob, extra, ["extra"], "bob's data")
    rebased = bob.git("rebase", "-q", "main")
    assert head(bob) != v4_sha
    assert_workspace(bob, {**files, **extra})
    if mode.shows_output:
        one_summary(rebased, "downloaded")

    # A linked worktree gets the data of its branch on creation.
    wt = team.base / "bob-wt"
    bob.git("worktree", "add", "-q", str(wt), v1_sha)
    for rel, data in v1_files.items():
        assert (wt / rel).read_bytes() == data


def flow_refs(p: Project) -> None:
    """Every ref of a push carries its data: several refs, --tags, --all, force; not deletes."""
    team, mode, alice, bob, files = p.team, p.mode, p.alice, p.bob, p.files
    blobs = {name: f"data of ref {name}\n".encode() * 50 for name in "abcde"}
    for name, data in blobs.items():
        alice.write(f"ref-{name}/d.bin", data)
    alice.dvc("add", "-q", *[f"ref-{n}/d.bin" for n in blobs])  # one dvc call for all five

    def commit_on(branch: str, name: str) -> None:
        alice.git("switch", "-q", "-c", branch, "main")
        alice.git("add", f"ref-{name}")
        alice.git("commit", "-q", "-m", f"data {name}")

    commit_on("a", "a")
    commit_on("b", "b")
    pushed = alice.git("push", "-q", "origin", "a", "b")  # pre-commit shows hooks only a
    assert_on_central(team, [blobs["a"], blobs["b"]])
    if mode.shows_output:
        one_summary(pushed, "uploaded")

    commit_on("for-tag", "c")
    alice.git("tag", "-a", "-m", "tag c", "t-c")
    alice.git("switch", "-q", "main")
    alice.git("branch", "-q", "-D", "for-tag")  # only the tag holds the commit now
    alice.git("push", "-q", "origin", "--tags")
    assert_on_central(team, [blobs["c"]])

    commit_on("d", "d")
    alice.git("push", "-q", "--all", "origin")
    assert_on_central(team, [blobs["d"]])

    alice.git("switch", "-q", "a")
    alice.git("add", "ref-e")
    alice.git("commit", "-q", "--amend", "-m", "data a and e")
    alice.git("push", "-q", "-f", "origin", "a")
    assert_on_central(team, [blobs["e"]])
    assert server_rev(team, "a") == head(alice)

    deleted = alice.git("push", "-q", "origin", "--delete", "b")
    assert server_rev(team, "b") == ""
    assert "dvc-synced:" not in output(deleted)

    # bob: the tag's data by checkout, branch a's by a squash merge (post-merge flag 1).
    bob.git("fetch", "-q", "--tags")
    bob.git("checkout", "-q", "t-c")
    assert (bob.repo / "ref-c/d.bin").read_bytes() == blobs["c"]
    bob.git("switch", "-q", "main")
    bob.git("merge", "-q", "--squash", "origin/a")
    assert (bob.repo / "ref-a/d.bin").read_bytes() == blobs["a"]
    assert (bob.repo / "ref-e/d.bin").read_bytes() == blobs["e"]
    assert_workspace(bob, files)
    bob.git("commit", "-q", "-m", "squashed a")
    alice.git("switch", "-q", "main")


def flow_refused_push(p: Project) -> None:
    """A push whose data cannot reach central is refused; the git server does not move."""
    team, alice, files = p.team, p.alice, p.files
    shipped = server_rev(team)

    # 1. An object is in no cache and not on central: refused, the message says why and how.
    lost = b"data nobody has any more\n"
    commit_data(alice, {"lost/x.bin": lost}, ["lost"], "data whose cache copy is lost")
    cached = alice.repo / ".dvc" / "cache" / obj(lost)
    os.chmod(cached, 0o644)
    cached.unlink()
    refused = alice.git("push", "-q", check=False)
    assert refused.returncode != 0
    assert "push refused" in output(refused) and "lost/x.bin" in output(refused)
    assert "DVC_SYNCED_SKIP=1 git push" in output(refused)
    assert server_rev(team) == shipped

    # The way out the message names: push without the data.
    skipped = run(["git", "push", "-q"], alice.repo, env={**alice.env, "DVC_SYNCED_SKIP": "1"})
    assert "dvc-synced:" not in output(skipped)
    assert server_rev(team) == head(alice)
    shipped = head(alice)

    # 2. Central unreachable: refused with the cause; `--no-verify` pushes as git defines.
    change(alice, files, "data/a.txt", b"alpha offline\n", "change while offline", push=False)
    with central_offline(team):
        refused = alice.git("push", "-q", check=False)
        assert refused.returncode != 0 and "push refused" in output(refused)
        assert server_rev(team) == shipped
    # Central over ssh to a host that does not answer: refused, naming the host.
    env = {**alice.env, "DVC_SYNCED_CENTRAL": "dvc-server-down:/nowhere",
           "DVC_SYNCED_TIMEOUT": "3"}
    refused = run(["git", "push", "-q"], alice.repo, env=env, check=False)
    assert refused.returncode != 0 and "push refused" in output(refused)
    assert "dvc-server-down" in output(refused)
    assert server_rev(team) == shipped
    alice.git("push", "-q", "--no-verify")
    assert server_rev(team) == head(alice)
    assert obj(files["data/a.txt"]) not in store_objects(central_dir(team))


def flow_conflicted_merge(p: Project) -> None:
    """A pull that stops on a conflict fires no hook; committing the resolution syncs."""
    mode, alice, bob, files = p.mode, p.alice, p.bob, p.files
    bob.write("notes.txt", "bob's line\n")
    bob.git("add", "notes.txt")
    bob.git("commit", "-q", "-m", "bob's notes")
    alice.write("notes.txt", "alice's line\n")
    alice.git("add", "notes.txt")
    before = dict(files)
    change(alice, files, "data/a.txt", b"alpha merged\n", "alice's notes and data")
    stopped = bob.git("pull", "-q", "--no-rebase", check=False)
    assert stopped.returncode != 0 and "CONFLICT" in output(stopped)
    assert_workspace(bob, before)  # git stopped half-way: the data has not moved yet
    bob.write("notes.txt", "both lines\n")
    bob.git("add", "notes.txt")
    committed = bob.git("commit", "-q", "--no-edit")
    assert_workspace(bob, files)
    if mode.shows_output:
        one_summary(committed, "downloaded")
    bob.git("push", "-q")  # the merge's first-parent diff holds alice's data: already there
    alice.git("pull", "-q")


def flow_fetch_failure(p: Project) -> None:
    """When the data cannot come after git moved: git's state stays, a warning names the fix."""
    team, alice, bob, files = p.team, p.alice, p.bob, p.files
    old = dict(files)
    change(alice, files, "data/a.txt", b"alpha 2 (fetch failure)\n", "v2")
    with central_offline(team):
        pulled = bob.git("pull", "-q")  # post-merge's status does not matter to git
        assert head(bob) == head(alice)
        assert "dvc-synced pull" in output(pulled) and "warning" in output(pulled)
        assert_workspace(bob, old)
        # The next hook redoes the whole sync; post-checkout's failure is git switch's status.
        switched = bob.git("switch", "-q", "-c", "topic", check=False)
        assert switched.returncode == 1 and "dvc-synced pull" in output(switched)
    bob.synced("pull")
    assert_workspace(bob, files)
    quiet = bob.git("switch", "-q", "main")
    assert "dvc-synced:" not in output(quiet)

    # An object that never reached central (pushed with the hook skipped).
    change(alice, files, "data/a.txt", b"alpha 3 (fetch failure)\n", "v3", push=False)
    run(["git", "push", "-q"], alice.repo, env={**alice.env, "DVC_SYNCED_SKIP": "1"})
    pulled = bob.git("pull", "-q")
    assert "central" in output(pulled) and "dvc-synced pull" in output(pulled)
    assert head(bob) == head(alice)
    alice.synced("push")  # whoever has the data pushes it by hand
    bob.synced("pull")
    assert_workspace(bob, files)

    # DVC_SYNCED_SKIP=1 on a pull leaves the data; the next hook catches up.
    change(alice, files, "data/a.txt", b"alpha 4 (fetch failure)\n", "v4")
    before = dict(files)
    before["data/a.txt"] = b"alpha 3 (fetch failure)\n"
    run(["git", "pull", "-q"], bob.repo, env={**bob.env, "DVC_SYNCED_SKIP": "1"})
    assert_workspace(bob, before)
    bob.git("checkout")
    assert_workspace(bob, files)


IMPORTS = re.compile(r"\|\s+(dvc|dvc_data|dvc_objects|yaml|sh|git)(\.[\w.]+)?\s*$", re.M)


def flow_fast_path(p: Project) -> None:
    """Commits without pointer changes: no dvc/yaml/sh import, no network, no output."""
    team, alice, bob, files = p.team, p.alice, p.bob, p.files
    profile = {"PYTHONPROFILEIMPORTTIME": "1"}
    alice.git("pull", "-q")
    bob.git("pull", "-q")
    with central_offline(team):
        alice.write("notes-fast.txt", "words\n")
        alice.git("add", "notes-fast.txt")
        alice.git("commit", "-q", "-m", "no data")
        steps = [
            (alice, ["git", "push", "-q"]),
            (alice, ["git", "push", "-q"]),  # up to date
            (bob, ["git", "pull", "-q"]),
            (bob, ["git", "checkout", "-q", "--", "notes-fast.txt"]),
            (bob, ["git", "commit", "-q", "--allow-empty", "-m", "bob's"]),
            (bob, ["git", "commit", "-q", "--amend", "--allow-empty", "-m", "bob's, reworded"]),
            (bob, ["git", "switch", "-q", "-c", "fast"]),
            (bob, ["git", "switch", "-q", "main"]),
            (bob, ["git", "push", "-q"]),
            (alice, ["git", "pull", "-q"]),
        ]
        for user, args in steps:
            proc = run(args, user.repo, env={**user.env, **profile})
            if p.mode.shows_output:  # pre-commit's own python imports yaml: plain hooks only
                assert "import time" in proc.stderr, (args, proc.stderr)
                assert not IMPORTS.findall(proc.stderr), (args, IMPORTS.findall(proc.stderr))
            assert "dvc-synced:" not in output(proc), (args, output(proc))
    assert_workspace(bob, files)
    timings = measure_fast_path(alice, bob, rounds=2)
    print(f"\nfast path, {p.mode.name}:", {k: f"{v * 1000:.0f} ms" for k, v in timings.items()})


def flow_progress_and_generic_hooks(p: Project, bindir: Path) -> None:
    """The generic hooks/ copies find `dvc-synced` on PATH; a terminal shows live progress."""
    team, alice, bob, files = p.team, p.alice, p.bob, p.files
    hooks = alice.repo / alice.git("rev-parse", "--git-path", "hooks").stdout.strip()
    for script in (REPO_ROOT / "hooks").iterdir():
        shutil.copy(script, hooks / script.name)
    bindir.mkdir()
    (bindir / "dvc-synced").write_text(
        f"#!/bin/sh\nexec {sys.executable} -m dvc_synced_plugin \"$@\"\n")
    os.chmod(bindir / "dvc-synced", 0o755)
    env = {**alice.env, "PATH": f"{bindir}:{alice.env['PATH']}"}

    change(alice, files, "model.bin", os.urandom(3_000_000), "big model", push=False)
    status, shown = on_terminal(["git", "push", "-q"], alice.repo, env)
    assert status == 0, shown
    assert "xfr#" in shown and "100%" in shown, shown
    assert "dvc-synced: uploaded" in shown
    assert_on_central(team, files)
    status, shown = on_terminal(["git", "pull", "-q"], bob.repo, bob.env)
    assert status == 0, shown
    assert "xfr#" in shown and "dvc-synced: downloaded" in shown, shown
    assert_workspace(bob, files)
    alice.synced("install")  # back to the installed hooks


# -------------------------------------------------------------------------------- tests
# One long-lived project per test, as a team's repository lives: the flows run in turn,
# each leaving alice and bob in step. (Each start() costs a dvc init and a first sync.)


def test_story_local_central(team: Team, tmp_path: Path) -> None:
    p = start(team, PLAIN)
    flow_share(p)
    flow_conflicted_merge(p)
    flow_fetch_failure(p)
    flow_fast_path(p)
    flow_progress_and_generic_hooks(p, tmp_path / "bin")
    flow_pull_variants(p)
    flow_refs(p)
    flow_refused_push(p)


def test_main_flow_ssh_central(ssh_team: Team) -> None:
    flow_share(start(ssh_team, PLAIN))


def measure_fast_path(alice: User, bob: User, rounds: int = 3) -> dict[str, float]:
    """What hooks add to a push and a pull of commits without pointer changes (seconds)."""
    sums: dict[str, float] = {}

    def timed(key: str, user: User, *args: str) -> None:
        t = time.monotonic()
        user.git(*args)
        sums[key] = sums.get(key, 0.0) + (time.monotonic() - t) / rounds

    off = ("-c", "core.hooksPath=/nonexistent")
    for i in range(rounds):
        for hooked in (True, False):
            alice.write("README.txt", f"round {i} {hooked}\n")
            alice.git("add", "README.txt")
            alice.git("commit", "-q", "-m", "no data")
            label = "with hooks" if hooked else "no hooks"
            timed(f"git push, {label}", alice, *([] if hooked else off), "push", "-q")
            timed(f"git pull, {label}", bob, *([] if hooked else off), "pull", "-q")
        t = time.monotonic()
        bob.synced("hook", "post-merge", "0")
        sums["post-merge hook"] = sums.get("post-merge hook", 0.0) + (time.monotonic() - t) / rounds
    return sums


