"""`dvc-synced gc` with real git history, a loopback central over ssh, and a central that is
down: it removes from the local storage exactly the objects no rule keeps, and a later
checkout of an old revision gets them back from central.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

from tests.conftest import Team, User, free_port, run, store_objects, tree_digest

OLD = {"GIT_AUTHOR_DATE": "2020-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2020-01-01T00:00:00Z"}


def obj(data: bytes) -> str:
    md5 = hashlib.md5(data).hexdigest()
    return f"files/md5/{md5[:2]}/{md5[2:]}"


def manifest(user: User, pointer: str) -> str:
    md5 = re.search(r"md5: ([0-9a-f]{32}\.dir)", (user.repo / pointer).read_text()).group(1)
    return f"files/md5/{md5[:2]}/{md5[2:]}"


def commit(user: User, msg: str, old: bool, **files: bytes) -> str:
    """Write files (`__` for `/`), `dvc add` their top-level paths, commit (dated 2020)."""
    tops = set()
    for key, data in files.items():
        rel = key.replace("__", "/")
        user.write(rel, data)
        tops.add(rel.split("/")[0])
    user.dvc("add", "-q", *sorted(tops))
    user.git("add", "-A")
    env = {**user.env, **(OLD if old else {})}
    run(["git", "commit", "-q", "-m", msg], user.repo, env)
    return user.git("rev-parse", "HEAD").stdout.strip()


def gc(user: User, *args: str, env: dict[str, str] | None = None, check: bool = True):  # type: ignore[no-untyped-def]
    return run([sys.executable, "-m", "dvc_synced_plugin", "gc", *args], user.repo,
               env or user.env, check=check)


def test_gc_keeps_exactly_what_is_needed_and_old_data_comes_back(ssh_team: Team) -> None:
    team = ssh_team
    central = Path(team.central.split(":", 1)[1])
    alice = team.founder()
    A, B, C, D, E, F = (bytes([65 + i]) * (1000 + 97 * i) for i in range(6))
    X, Y1, Y2 = b"x" * 3000, b"y1" * 2000, b"y2" * 2100

    c1 = commit(alice, "v1", True, **{"data.bin": A, "d__x": X, "d__y": Y1})
    m1 = manifest(alice, "d.dvc")
    alice.synced("push")
    alice.git("push", "-q", "origin", "main")
    commit(alice, "v2", True, **{"data.bin": B, "d__y": Y2})
    alice.synced("push")
    c2 = alice.git("rev-parse", "HEAD").stdout.strip()
    # v3 reaches the local storage by DVC's own push only: central never gets it.
    commit(alice, "v3", True, **{"data.bin": C})
    alice.dvc("push", "-q", "-r", "synced-storage")
    commit(alice, "v4", True, **{"data.bin": F})
    alice.synced("push")
    alice.git("push", "-q", "origin", "main")
    # Unpushed work: data on central, but no remote-tracking branch has the commit.
    alice.git("checkout", "-q", "-b", "feature")
    commit(alice, "feature", True, **{"other.bin": D})
    alice.synced("push")
    alice.git("checkout", "-q", "main")
    # A recent branch, pushed.
    alice.git("checkout", "-q", "-b", "recent")
    commit(alice, "recent", False, **{"data.bin": E})
    alice.synced("push")
    alice.git("push", "-q", "origin", "recent")
    alice.git("checkout", "-q", "main")
    # The index holds v2's pointer (staged, not committed).
    alice.git("checkout", c2, "--", "data.bin.dvc")

    local = alice.local_storage()
    cache = alice.repo / ".dvc" / "cache"
    before, cache_before, central_before = (store_objects(p) for p in (local, cache, central))
    expect_removed = {obj(A), obj(Y1), m1}
    assert expect_removed <= before and obj(C) in before and obj(C) not in central_before

    # --dry-run: the plan, nothing removed.
    plan = json.loads(gc(alice, "--dry-run", "--json").stdout)
    kept = {k: v["objects"] for k, v in plan["kept"].items()}
    assert kept == {"workspace": 5, "unpushed": 1, "recent": 1, "central": 1}, plan
    assert plan["removed"]["objects"] == 3
    assert store_objects(local) == before
    # Without the recent rule the recent branch's object goes too.
    plan0 = json.loads(gc(alice, "--dry-run", "--json", "--keep-recent", "0").stdout)
    assert plan0["removed"]["objects"] == 4 and plan0["kept"]["recent"]["objects"] == 0

    # Central down: nothing is removed, and gc says so.
    ssh = alice.env["DVC_SYNCED_SSH_COMMAND"]
    down = {**alice.env, "DVC_SYNCED_SSH_COMMAND": f"{ssh} -o Port={free_port()}"}
    failed = gc(alice, env=down, check=False)
    assert failed.returncode == 1
    assert "nothing was removed" in failed.stderr, failed.stderr
    assert store_objects(local) == before

    done = gc(alice)
    assert "removed 3 object(s)" in done.stdout, done.stdout
    assert "kept 1 object(s)" in done.stdout and "not confirmed on central" in done.stdout
    assert store_objects(local) == before - expect_removed
    assert store_objects(cache) == cache_before  # never the DVC cache
    assert store_objects(central) == central_before  # never central

    # A second clone of alice shares the gc'ed local storage: checking out v1 (its
    # post-checkout hook) fetches v1's data from central again.
    alice2 = User("alice2", alice.home, team.base / "alice2", alice.env)
    run(["git", "clone", "-q", str(team.server), str(alice2.repo)], team.base, alice.env)
    alice2.synced("install")
    alice2.git("checkout", "-q", c1)
    assert (alice2.repo / "data.bin").read_bytes() == A
    assert tree_digest(alice2.repo / "d") == {"x": hashlib.sha256(X).hexdigest(),
                                              "y": hashlib.sha256(Y1).hexdigest()}
    assert expect_removed <= store_objects(local)
    assert obj(A) in store_objects(alice2.repo / ".dvc" / "cache")


def test_recent_and_unpushed_commits_by_date(git_repo) -> None:  # type: ignore[no-untyped-def]
    import calendar

    from dvc_synced_plugin.sync.gc import recent_commits, unpushed_commits

    old = git_repo.commit("2020-01-01")
    git_repo.git("update-ref", "refs/remotes/origin/main", old)
    git_repo.env["GIT_COMMITTER_DATE"] = "2020-01-10T00:00:00Z"
    new = git_repo.commit("2020-01-10")
    now = calendar.timegm((2020, 1, 12, 0, 0, 0))
    assert recent_commits(git_repo.root, 5, now) == [new]
    assert set(recent_commits(git_repo.root, 30, now)) == {old, new}
    assert recent_commits(git_repo.root, 0, now) == []
    assert unpushed_commits(git_repo.root) == [new]


def test_local_objects_lists_objects_only(tmp_path: Path) -> None:
    from dvc_synced_plugin.sync.gc import local_objects

    for rel in ("files/md5/ab/" + "c" * 30, "files/md5/ab/" + "d" * 30 + ".dir",
                "ef/" + "0" * 30, "files/md5/ab/.tmpname.tmp", ".dvc-synced/incoming/files/md5/"
                "12/" + "3" * 30, "files/md5/ab/notanobject"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    found = {(r.oid, r.legacy) for r in local_objects(tmp_path)}
    assert found == {("ab" + "c" * 30, False), ("ab" + "d" * 30 + ".dir", False),
                     ("ef" + "0" * 30, True)}


def test_kept_manifest_keeps_its_files(tmp_path: Path) -> None:
    """A manifest central lacks stays, and so do its files, though central has them."""
    from types import SimpleNamespace

    from dvc_synced_plugin.storage.stores import ObjectStore
    from dvc_synced_plugin.sync.gc import Result, plan

    store = ObjectStore(tmp_path, "local storage")
    member, other = b"member\n", b"other\n"
    listing = json.dumps([{"md5": hashlib.md5(member).hexdigest(), "relpath": "m"}]).encode()
    objects = {obj(member): member, obj(other): other,
               obj(listing) + ".dir": listing}
    for rel, data in objects.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    on_central = {obj(member): len(member), obj(other): len(other)}  # not the manifest
    engine = SimpleNamespace(local=store, transport=SimpleNamespace(
        probe=lambda rels: {r: on_central[r] for r in rels if r in on_central}))
    result = Result(False, 0, str(tmp_path))
    removable = plan(engine, result, {"workspace": set(), "unpushed": set(), "recent": set()})
    assert [r.relpath for r in removable] == [obj(other)]
    assert result.kept["central"].objects == 2
