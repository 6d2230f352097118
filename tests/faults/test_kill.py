"""A pull killed at every phase, by every signal, in every cache type, recovers on the
next run (issue #21): real git, DVC, rsync and real signals.

The hook's pull (`dvc-synced hook post-merge`, after a `git reset --hard` that moved
HEAD and set ORIG_HEAD, as a merge does) runs as its own process. Two ways to kill it:
- an injection point per phase (`DVC_SYNCED_KILL_AT=PHASE:SIGNAL:N`, see faults.py): the
  process sends itself the signal the Nth time it reaches the phase: download (objects
  staged, none named), cache (an object written into the cache, not yet named),
  workspace (a workspace file made under its temporary name, not yet renamed in),
  state (the state file written under its temporary name);
- a real signal from outside at a random moment (bounded number of trials).
Then `dvc-synced pull` (what the interrupt message says to run) must succeed, and the
workspace must equal the target version: bytes, exec bits, link kinds as the cache type
makes them, no temporary name anywhere, `dvc status` clean.

The CI run covers every phase x every signal once, the cache types taking turns (each
phase and each signal meets four cache types); DVC_SYNCED_KILL_MATRIX=full runs all
4 x 4 x 5 trials.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import Team, User
from tests.e2e.test_unsaved import CACHE_TYPES, assert_no_temp_names, founder

PHASES = ("download", "cache", "workspace", "state")
SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGKILL")


def version(n: int, files: int) -> dict[str, bytes]:
    """Most files change between versions, some stay, one is executable."""
    data = {f"data/d{i % 4}/f{i:03d}.txt": (f"v{n} {i}\n" if i % 5 else f"same {i}\n").encode()
            for i in range(files)}
    data["model.bin"] = f"model v{n}\n".encode() * 2000
    return data


def expected(user: User, files: dict[str, bytes]) -> dict[str, str]:
    return {rel: hashlib.md5(data).hexdigest() for rel, data in files.items()}


def workspace(user: User) -> dict[str, str]:
    got = {}
    for path in [*sorted((user.repo / "data").rglob("*")), user.repo / "model.bin"]:
        if path.is_file():
            got[str(path.relative_to(user.repo))] = hashlib.md5(path.read_bytes()).hexdigest()
    return got


class Lab:
    """alice's two versions on central; one bob per cache type, at v1."""

    def __init__(self, team: Team, files: int) -> None:
        alice = founder(team)
        self.versions = [version(1, files), version(2, files)]
        self.commits = []
        for files_of in self.versions:
            for rel, data in files_of.items():
                alice.write(rel, data)
            alice.dvc("add", "-q", "data", "model.bin")
            alice.git("add", "-A")
            alice.git("commit", "-q", "-m", "data")
            self.commits.append(alice.git("rev-parse", "HEAD").stdout.strip())
        alice.git("push", "-q", "origin", "main")
        self.bobs: dict[str, User] = {}
        self.at: dict[str, int] = {}
        for i, cache_type in enumerate(CACHE_TYPES):
            bob = team.user(f"bob{i}")
            if cache_type:
                bob.dvc("config", "--local", "cache.type", cache_type)
            bob.synced("install")
            bob.git("reset", "-q", "--hard", self.commits[0])
            bob.synced("pull")
            self.bobs[cache_type] = bob
            self.at[cache_type] = 0

    def only_in(self, n: int) -> set[str]:
        """Object paths of version n that the other version lacks (files and manifests)."""
        other = {hashlib.md5(d).hexdigest() for d in self.versions[1 - n].values()}
        return {hashlib.md5(d).hexdigest() for d in self.versions[n].values()} - other

    def start(self, cache_type: str, env: dict[str, str], full: bool = False
              ) -> tuple[User, int, subprocess.Popen]:
        """Move bob's HEAD to the other version (no hook) with its data nowhere on his
        machine, then start the hook's sync (`full`: `dvc-synced pull`, DVC's checkout)."""
        bob = self.bobs[cache_type]
        target = 1 - self.at[cache_type]
        for store in (bob.repo / ".dvc" / "cache", bob.local_storage()):
            for oid in self.only_in(target):
                path = store / "files" / "md5" / oid[:2] / oid[2:]
                if path.exists():
                    path.unlink()
        bob.git("reset", "-q", "--hard", self.commits[target])
        command = ["pull"] if full else ["hook", "post-merge", "0"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "dvc_synced_plugin", *command],
            cwd=bob.repo, env={**bob.env, **env}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True)
        return bob, target, proc

    def recover(self, cache_type: str, target: int, said: str, by_hook: bool = False) -> None:
        """The next run: `dvc-synced pull` (what the message names), or the next hook."""
        bob = self.bobs[cache_type]
        done = bob.synced("hook", "post-merge", "0", check=False) if by_hook else bob.synced(
            "pull", check=False)
        where = f"[{cache_type or 'default'}] interrupted run said: {said!r}"
        assert done.returncode == 0, f"{where}; recovery: {done.stderr}"
        assert workspace(bob) == expected(bob, self.versions[target]), where
        kinds = {p.is_symlink() for p in (bob.repo / "data").rglob("*.txt")}
        if cache_type == "symlink":
            assert kinds == {True}, where
        elif cache_type in ("", "copy"):
            assert kinds == {False}, where
        assert_no_temp_names(bob)
        assert not list((bob.repo / ".git" / "dvc-synced").glob("*.tmp")), where
        self.at[cache_type] = target

    def dvc_status_clean(self) -> None:
        for cache_type, bob in self.bobs.items():
            status = json.loads(bob.dvc("status", "--json").stdout or "{}")
            assert status == {}, f"[{cache_type or 'default'}] dvc status {status}"


def check_said(sig: str, phase: str, code: int, said: str) -> None:
    """What the hook printed is true: an interrupt is named with the way to finish."""
    if sig == "SIGKILL":
        assert code == -signal.SIGKILL, (code, said)
        return
    assert code == 128 + getattr(signal, sig), (phase, sig, code, said)
    assert f"interrupted ({sig})" in said and "dvc-synced pull" in said, said


def _matrix() -> list[tuple[str, str, str]]:
    if os.environ.get("DVC_SYNCED_KILL_MATRIX") == "full":
        return [(p, s, t) for p in PHASES for s in SIGNALS for t in CACHE_TYPES]
    trials = [(p, s) for p in PHASES for s in SIGNALS]
    return [(p, s, CACHE_TYPES[i % len(CACHE_TYPES)]) for i, (p, s) in enumerate(trials)]


@pytest.mark.timeout(900)
def test_kill_at_every_phase_recovers(team: Team) -> None:
    lab = Lab(team, files=24)
    for i, (phase, sig, cache_type) in enumerate(_matrix()):
        # The workspace point is reached once per file written: kill in the middle.
        nth = "5" if phase == "workspace" else "1"
        bob, target, proc = lab.start(cache_type, {"DVC_SYNCED_KILL_AT": f"{phase}:{sig}:{nth}"})
        out, err = proc.communicate(timeout=120)
        check_said(sig, phase, proc.returncode, err)
        by_hook = i % 2 == 1
        lab.recover(cache_type, target, err, by_hook)
        print(f"{phase} x {sig} x {cache_type or 'default'}: exit {proc.returncode}, "
              f"recovered by {'the next hook' if by_hook else 'dvc-synced pull'}",
              file=sys.stderr)
    lab.dvc_status_clean()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_real_signals_at_random_moments_recover(team: Team) -> None:
    """No injection: a real signal from outside at a random moment of the hook's run."""
    seed = int(os.environ.get("DVC_SYNCED_KILL_SEED") or random.SystemRandom().randrange(1 << 30))
    trials = int(os.environ.get("DVC_SYNCED_KILL_TRIALS") or 4)
    print(f"kill seed {seed} (replay: DVC_SYNCED_KILL_SEED={seed})", file=sys.stderr)
    rng = random.Random(seed)
    lab = Lab(team, files=200)
    outcomes = []
    for trial in range(trials):
        cache_type = rng.choice(CACHE_TYPES)
        sig = rng.choice(SIGNALS)
        delay = rng.uniform(0.3, 2.5)
        full = rng.random() < 0.5
        bob, target, proc = lab.start(cache_type, {}, full)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, getattr(signal, sig))
        out, err = proc.communicate(timeout=120)
        lab.recover(cache_type, target, err, by_hook=trial % 2 == 1)
        outcomes.append(f"trial {trial}: {'dvc-synced pull' if full else 'hook'} {sig} after "
                        f"{delay:.2f}s [{cache_type or 'default'}] exit {proc.returncode}: "
                        "recovered")
    print("\n".join(outcomes), file=sys.stderr)
    lab.dvc_status_clean()


def test_signal_while_a_workspace_file_is_written_recovers(team: Team) -> None:
    """The issue's Ctrl-C, without injection: a real signal the moment a temporary file
    shows up in the output (big files, copy cache type: the copy takes a while). The
    half-written copy must not survive, and the next `dvc-synced pull` finishes. SIGINT
    on the way to v1, SIGTERM on the way back to v0."""
    alice = founder(team)
    rng = random.Random(21)
    commits = []
    versions = []
    for n in range(2):
        files = {f"data/f{i}.bin": rng.randbytes(16 << 20) for i in range(3)}
        for rel, data in files.items():
            alice.write(rel, data)
        alice.dvc("add", "-q", "data")
        alice.git("add", "-A")
        alice.git("commit", "-q", "-m", f"v{n}")
        commits.append(alice.git("rev-parse", "HEAD").stdout.strip())
        versions.append({rel: hashlib.md5(d).hexdigest() for rel, d in files.items()})
    alice.git("push", "-q", "origin", "main")
    bob = team.user("bob")
    bob.dvc("config", "--local", "cache.type", "copy")
    bob.synced("install")
    bob.git("reset", "-q", "--hard", commits[0])
    bob.synced("pull")
    bob.synced("fetch", commits[1])  # the data is local: the workspace phase comes soon
    for sig, target in (("SIGINT", 1), ("SIGTERM", 0)):
        bob.git("reset", "-q", "--hard", commits[target])
        proc = subprocess.Popen(
            [sys.executable, "-m", "dvc_synced_plugin", "hook", "post-merge", "0"],
            cwd=bob.repo, env=bob.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        deadline = time.monotonic() + 60
        seen = ""
        while proc.poll() is None and time.monotonic() < deadline and not seen:
            with os.scandir(bob.repo / "data") as entries:
                seen = next((e.name for e in entries if e.name.endswith(".tmp")), "")
        if proc.poll() is None:
            os.kill(proc.pid, getattr(signal, sig))
        _out, err = proc.communicate(timeout=120)
        assert seen, f"no temporary file was seen being written: {err}"
        left = [p.name for p in (bob.repo / "data").iterdir() if p.name.endswith(".tmp")]
        assert not left, f"{sig} left {left}; the hook said: {err}"
        done = bob.synced("pull", check=False)
        assert done.returncode == 0, done.stderr
        assert {f"data/{p.name}": hashlib.md5(p.read_bytes()).hexdigest()
                for p in (bob.repo / "data").iterdir()} == versions[target]
