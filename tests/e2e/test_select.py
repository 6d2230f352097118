"""Fetch patterns (`dvc-synced.fetch-include` / `fetch-exclude`) end to end, DVC the oracle.

One project: two directory outputs, an executable file output, a model and a pipeline
stage with two outputs (one excluded). bob includes some paths (through the environment,
as his hooks see it) and excludes the raw data and one stage output (git config). Each
step compares the workspace, kept by the real hooks (`git pull`, `git switch`) or by
`dvc-synced pull`, with what plain DVC makes: a fresh clone at the same commit with
`dvc pull TARGETS`, and `dave`, a clone without dvc-synced doing the same git commands
followed by `dvc pull TARGETS` (so an output pulled on demand earlier keeps the version
DVC leaves there). Files, bytes, exec bits and directories are compared
(`test_differential.snapshot`). The push half: an excluded output's change in a pushed
merge passes when central has its data, and is refused when it is nowhere.
"""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from tests.conftest import Team, User, run, store_objects, tree_digest
from tests.e2e.test_differential import differences, snapshot
from tests.faults.support import commit, server_ref

SELECTED = ["data/features", "models/m.bin", "tools/run.sh", "out/keep.txt"]
INCLUDE = "data, models/*.bin, tools, out"  # everything but the root's own outputs
EXCLUDE = "data/raw, out/skip.txt"


def write_version(user: User, n: int, raw: bool = True, features: bool = True) -> None:
    """Version n of the outputs alice tracks (`dvc add`, `dvc repro`)."""
    if raw:
        for i in range(3):
            user.write(f"data/raw/part{i}.csv", f"raw {n} {i}\n" * 50)
        user.dvc("add", "-q", "data/raw")
    if features:
        user.write("data/features/f.csv", f"features {n}\n")
        user.write("data/features/sub/g.csv", f"deep features {n}\n")
        user.write("models/m.bin", f"model {n}\n".encode() * 100)
        script = user.write("tools/run.sh", f"#!/bin/sh\necho {n}\n")
        script.chmod(0o755)
        user.dvc("add", "-q", "data/features", "models/m.bin", "tools/run.sh")
        user.write("src/k", f"keep {n}\n")
        user.write("src/s", f"skip {n}\n")
        user.dvc("repro", "-q")


def stage_version(user: User, n: int) -> None:
    """A commit that changes only the stage's out/skip.txt (out/keep.txt keeps its bytes)."""
    user.write("src/s", f"skip {n}\n")
    user.dvc("repro", "-q")
    commit(user, f"skip v{n}")


def plain_pull(user: User, central: str, targets: list[str]) -> None:
    """dave's half of the oracle: DVC's own pull of just these targets from central."""
    config = user.repo / ".dvc" / "config.local"
    if not config.exists():
        config.write_text(f"[core]\n    remote = central\n['remote \"central\"']\n"
                          f"    url = {central}\n")
    user.dvc("pull", "-q", *targets)


def fresh_oracle(user: User, central: str, targets: list[str], dest: Path) -> dict:
    """A fresh clone at `user`'s HEAD with plain `dvc pull TARGETS`."""
    sha = user.git("rev-parse", "HEAD").stdout.strip()
    run(["git", "clone", "-q", "--no-checkout", str(user.repo), str(dest)], user.repo.parent,
        user.env)
    run(["git", "checkout", "-q", sha], dest, user.env)
    clone = User(dest.name, user.home, dest, user.env)
    plain_pull(clone, central, targets)
    return snapshot(dest)


def objects_of(path: Path) -> set[str]:
    """The DVC object paths of the files under `path` (md5 of their bytes)."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return {f"files/md5/{d[:2]}/{d[2:]}" for d in
            (hashlib.md5(p.read_bytes()).hexdigest() for p in files)}


def test_fetch_patterns_follow_dvc_pull_of_the_selected_targets(tmp_path: Path,
                                                                team: Team) -> None:
    central = team.central
    alice = team.founder("alice")
    alice.synced("install")
    alice.write("src/k", "keep 0\n")
    alice.write("src/s", "skip 0\n")
    alice.dvc("stage", "add", "-q", "-n", "gen", "-d", "src/k", "-d", "src/s",
              "-o", "out/keep.txt", "-o", "out/skip.txt",
              "mkdir -p out && cp src/k out/keep.txt && cp src/s out/skip.txt")
    write_version(alice, 1)
    commit(alice, "v1")
    alice.git("push", "-q", "origin", "main")
    raw_v1 = tree_digest(alice.repo / "data" / "raw")

    # bob: patterns in git config; `dvc-synced pull` brings only the selected outputs.
    bob = team.user("bob")
    bob.env["DVC_SYNCED_FETCH_INCLUDE"] = INCLUDE
    bob.git("config", "dvc-synced.fetch-exclude", EXCLUDE)
    bob.synced("install")
    bob.synced("pull")
    got = differences(snapshot(bob.repo), fresh_oracle(bob, central, SELECTED,
                                                       tmp_path / "o1"))
    assert not got, got
    assert not (bob.repo / "data" / "raw").exists()
    assert not (bob.repo / "out" / "skip.txt").exists()
    assert (bob.repo / "out" / "keep.txt").read_text() == "keep 1\n"
    assert (bob.repo / "tools" / "run.sh").stat().st_mode & stat.S_IXUSR
    # Nothing of the excluded outputs came to this machine.
    here = store_objects(bob.repo / ".dvc" / "cache") | store_objects(bob.local_storage())
    assert objects_of(bob.repo / "data" / "features") <= here
    assert not (objects_of(alice.repo / "data" / "raw") |
                objects_of(alice.repo / "out" / "skip.txt")) & here
    # status: excluded, not missing; doctor names the patterns in force.
    status = bob.synced("status")
    assert "excluded data/raw" in status.stdout and "excluded out/skip.txt" in status.stdout
    assert "  cache    complete" in status.stdout, status.stdout
    doctor = bob.synced("doctor", check=False).stdout
    assert ("fetch patterns: include data, models/*.bin, tools, out; exclude data/raw, "
            "out/skip.txt (fetch-include from environment, fetch-exclude from git config)"
            ) in doctor, doctor
    assert "leave out 2 of 6 output(s) of HEAD: data/raw, out/skip.txt" in doctor, doctor

    # On demand: a named output whatever the patterns say; nothing else moves.
    bob.synced("pull", "data/raw")
    assert tree_digest(bob.repo / "data" / "raw") == raw_v1
    assert not (bob.repo / "out" / "skip.txt").exists()
    bad = bob.synced("pull", "data/raw/part0.csv", check=False)
    assert bad.returncode != 0 and "inside the output data/raw" in bad.stderr

    # dave: the same history with plain DVC (no dvc-synced): the incremental oracle.
    dave = team.user("dave")
    plain_pull(dave, central, [*SELECTED, "data/raw"])

    # alice: v2 on main, v3 on a branch.
    write_version(alice, 2)
    commit(alice, "v2")
    alice.git("push", "-q", "origin", "main")
    alice.git("switch", "-q", "-c", "exp")
    write_version(alice, 3)
    commit(alice, "v3")
    alice.git("push", "-q", "-u", "origin", "exp")
    alice.git("switch", "-q", "main")

    # git pull (post-merge): the selected outputs follow; raw keeps what DVC leaves (v1).
    for user in (bob, dave):
        user.git("pull", "-q", "origin", "main")
    plain_pull(dave, central, SELECTED)
    got = differences(snapshot(bob.repo), snapshot(dave.repo))
    assert not got, got
    assert tree_digest(bob.repo / "data" / "raw") == raw_v1
    assert (bob.repo / "out" / "keep.txt").read_text() == "keep 2\n"

    # fetch: the branch's selected data into the local storage, none of its raw data.
    bob.git("fetch", "-q", "origin")
    before = store_objects(bob.local_storage())
    report = bob.synced("fetch", "origin/exp").stdout
    assert "2 output(s) excluded by the fetch patterns" in report, report
    fetched = store_objects(bob.local_storage()) - before
    alice.git("switch", "-q", "exp")
    wanted = objects_of(alice.repo / "data" / "features") | objects_of(
        alice.repo / "models" / "m.bin")
    assert wanted <= fetched, wanted - fetched
    assert not objects_of(alice.repo / "data" / "raw") & fetched

    # git switch (post-checkout): as plain DVC again; central not needed for the features.
    dave.git("fetch", "-q", "origin")
    for user in (bob, dave):
        user.git("switch", "-q", "exp")
    plain_pull(dave, central, SELECTED)
    got = differences(snapshot(bob.repo), snapshot(dave.repo))
    assert not got, got

    # New patterns (raw included again): the next sync brings every selected output of
    # HEAD, so raw arrives whole at exp's version, as a fresh `dvc pull` makes it.
    bob.git("config", "dvc-synced.fetch-exclude", "out/skip.txt")
    # Push: a merge bringing alice's change to an output bob excludes (never fetched) goes
    # through when central has the data, and is refused when the data is nowhere.
    stage_version(alice, 4)
    alice.git("push", "-q", "origin", "exp")
    bob.write("notes.txt", "bob's notes\n")
    commit(bob, "notes")
    bob.git("pull", "-q", "--no-edit", "origin", "exp")
    assert bob.git("rev-list", "--count", "--merges", "HEAD^..HEAD").stdout.strip() == "1"
    got = differences(snapshot(bob.repo), fresh_oracle(bob, central, [*SELECTED, "data/raw"],
                                                       tmp_path / "o2"))
    assert not got, got
    assert tree_digest(bob.repo / "data" / "raw") == tree_digest(alice.repo / "data" / "raw")
    bob.git("push", "-q", "origin", "exp")
    assert server_ref(bob, "refs/heads/exp") == bob.git("rev-parse", "HEAD").stdout.strip()
    assert not (bob.repo / "out" / "skip.txt").exists()
    assert not objects_of(alice.repo / "out" / "skip.txt") & (
        store_objects(bob.repo / ".dvc" / "cache") | store_objects(bob.local_storage()))

    stage_version(alice, 5)
    alice.git("pull", "-q", "--no-edit", "origin", "exp")
    alice.run("git", "push", "-q", "origin", "exp",
              env={**alice.env, "DVC_SYNCED_SKIP": "1"})  # its data reaches no storage
    bob.write("notes.txt", "more notes\n")
    commit(bob, "more notes")
    bob.git("pull", "-q", "--no-edit", "origin", "exp")
    before = server_ref(bob, "refs/heads/exp")
    refused = bob.git("push", "-q", "origin", "exp", check=False)
    assert refused.returncode != 0
    assert "push refused" in refused.stderr and "out/skip.txt" in refused.stderr, \
        refused.stderr
    assert server_ref(bob, "refs/heads/exp") == before
