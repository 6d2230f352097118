"""The CLI contract through every transport, with real git, DVC, rsync, rclone, sshd and S3.

Alice builds one project once (a directory with awkward names, single files, a pipeline
output in dvc.lock, an uncached output, legacy 2.x objects) in two revisions: tag `v1`
and `main`. For each transport she runs `dvc-synced push` (no hooks) to a fresh central,
and a fresh teammate pulls both revisions; the second push and pull must move exactly the
objects that changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import yaml

from tests.conftest import Sshd, Team, User, rclone_env, run, store_objects, tree_digest

GEN_SCRIPT = """\
import os
os.makedirs("gen_out", exist_ok=True)
with open("gen_out/part 1.bin", "wb") as f:
    f.write(bytes(range(256)) * 64)
with open("gen_out/part2.txt", "w") as f:
    f.write("generated\\n")
with open("gen_nocache.txt", "w") as f:
    f.write("not cached\\n")
"""

LEGACY_BYTES = b"legacy line one\r\nlegacy line two\r\n"  # CRLF: md5-dos2unix differs


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def obj(oid: str, legacy: bool = False) -> str:
    return f"{oid[:2]}/{oid[2:]}" if legacy else f"files/md5/{oid[:2]}/{oid[2:]}"


def cache_objects(user: User) -> set[str]:
    """Content objects in the DVC cache (not the run cache)."""
    return {p for p in store_objects(user.repo / ".dvc" / "cache") if not p.startswith("runs/")}


def workspace(repo: Path) -> dict[str, str]:
    """Digest of every data path alice tracks (what bob must get byte for byte)."""
    result: dict[str, str] = {}
    for rel in ("data", "gen_out", "model.bin", "notes with space.txt", "legacy.txt",
                "legacy_dir"):
        for name, digest in tree_digest(repo / rel).items():
            result[f"{rel}/{name}"] = digest
    return result


@dataclass
class Project:
    team: Team
    alice: User
    v1_objects: set[str]  # what revision v1 needs on a storage
    v2_new: set[str]  # what main needs on top of v1


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    base = tmp_path_factory.mktemp("project")
    (base / "central").mkdir()
    team = Team(base, str(base / "central"))
    alice = team.founder("alice")

    rnd = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB of binary noise
    alice.write("data/sub dir/a b.bin", rnd)
    alice.write("data/sub dir/deeper/x.txt", "x v1\n")
    alice.write("data/é ü/naïve file.txt", "unicode name\n")
    alice.write("data/空/文件.bin", bytes(range(256)))
    alice.write("data/empty", b"")
    alice.write("model.bin", rnd[::-1])
    alice.write("notes with space.txt", "notes\n")
    alice.dvc("add", "-q", "data", "model.bin", "notes with space.txt")

    alice.write("gen.py", GEN_SCRIPT)
    alice.dvc("stage", "add", "-q", "-n", "gen", "-d", "gen.py", "-o", "gen_out",
              "-O", "gen_nocache.txt", f"{sys.executable} gen.py")
    alice.dvc("repro", "-q")

    # A legacy 2.x output: no `hash: md5`, object at <cache>/ab/cdef, md5 of the LF form.
    alice.write("legacy.txt", LEGACY_BYTES)
    legacy_md5 = md5(LEGACY_BYTES.replace(b"\r\n", b"\n"))
    alice.write("legacy.txt.dvc", f"outs:\n- md5: {legacy_md5}\n  size: {len(LEGACY_BYTES)}\n"
                                  "  path: legacy.txt\n")
    alice.write(f".dvc/cache/{obj(legacy_md5, legacy=True)}", LEGACY_BYTES)
    # ... and a legacy directory: a 2.x manifest at <cache>/ab/cdef.dir, its files beside it.
    legacy_files = {"a.txt": LEGACY_BYTES, "sub/b.bin": bytes(range(256))}  # binary: as is
    entries = [{"md5": md5(LEGACY_BYTES.replace(b"\r\n", b"\n")), "relpath": "a.txt"},
               {"md5": md5(bytes(range(256))), "relpath": "sub/b.bin"}]
    manifest = json.dumps(entries).encode()
    for entry, data in zip(entries, legacy_files.values()):
        alice.write(f".dvc/cache/{obj(entry['md5'], legacy=True)}", data)
    alice.write(f".dvc/cache/{obj(md5(manifest) + '.dir', legacy=True)}", manifest)
    alice.write("legacy_dir.dvc", f"outs:\n- md5: {md5(manifest)}.dir\n  path: legacy_dir\n")
    alice.dvc("checkout", "-q", "legacy_dir.dvc")
    with open(alice.repo / ".gitignore", "a") as f:
        f.write("/legacy.txt\n/legacy_dir\n")

    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "v1: data, model, pipeline, legacy file")
    alice.git("tag", "v1")
    v1_objects = cache_objects(alice)
    assert obj(legacy_md5, legacy=True) in v1_objects
    assert obj(md5(manifest) + ".dir", legacy=True) in v1_objects
    assert obj(md5(b"not cached\n")) not in v1_objects  # cache: false is never stored

    alice.write("data/sub dir/deeper/x.txt", "x v2\n")
    alice.write("data/é ü/new file.txt", "added in v2\n")
    alice.write("model.bin", rnd[1:])
    alice.dvc("add", "-q", "data", "model.bin")
    alice.git("commit", "-q", "-am", "v2: change a few files")
    alice.git("push", "-q", "origin", "main", "v1")
    data_dir = yaml.safe_load((alice.repo / "data.dvc").read_text())["outs"][0]["md5"]
    v2_new = {obj(md5(b"x v2\n")), obj(md5(b"added in v2\n")), obj(md5(rnd[1:])), obj(data_dir)}
    assert v2_new == cache_objects(alice) - v1_objects
    return Project(team, alice, v1_objects, v2_new)


@dataclass
class Central:
    """One way to reach a fresh central storage, and how to list what it holds."""

    env: dict[str, str]  # DVC_SYNCED_* (and rclone) settings for both teammates
    objects: Callable[[], set[str]]


def _local_dir_central(path: Path, url: str, transport: str, extra: dict[str, str]) -> Central:
    path.mkdir(parents=True)
    env = {"DVC_SYNCED_CENTRAL": url, "DVC_SYNCED_TRANSPORT": transport, **extra}
    return Central(env, lambda: store_objects(path))


def share(project: Project, name: str, central: Central, checks: bool = False,
          verify: bool = False) -> None:
    """Alice pushes v1 then main to `central`; teammate `name` pulls v1 then main.

    `checks` adds status before and after and a no-op push; `verify` a full verify (which
    downloads everything again: done for one transport of each kind, to keep this fast).
    """
    alice, v1, v2_new = project.alice, project.v1_objects, project.v2_new
    saved = dict(alice.env)
    alice.env.update(central.env)
    try:
        if checks:  # status before any push: central lacks everything
            out = alice.synced("status", "--json", check=False)
            assert out.returncode == 1, out
            report = json.loads(out.stdout)
            assert report["complete"] is False
            # main replaced three of v1's objects (x.txt, model.bin, the data manifest)
            assert report["objects"] == len(v1) + len(v2_new) - 3, report
            assert report["missing"]["central"]["objects"] == report["objects"], report
            assert report["missing"]["cache"]["objects"] == 0, report
        out = alice.synced("push", "--rev", "v1")
        assert f"uploaded {len(v1)} object(s)" in out.stdout, out.stdout
        assert central.objects() == v1
        out = alice.synced("push")
        assert f"uploaded {len(v2_new)} object(s)" in out.stdout, out.stdout
        assert central.objects() == v1 | v2_new  # only the changed objects moved
        if checks:
            out = alice.synced("push")  # nothing left to do
            assert "uploaded 0 object(s)" in out.stdout, out.stdout
            out = alice.synced("status")
            assert out.returncode == 0 and "central  complete" in out.stdout, out.stdout
    finally:
        alice.env.clear()
        alice.env.update(saved)

    bob = project.team.user(name)
    bob.env.update(central.env)
    bob.git("checkout", "-q", "v1")
    if checks:  # a fresh clone: the cache lacks everything, central has it all
        out = bob.synced("status", "--json", check=False)
        report = json.loads(out.stdout)
        assert out.returncode == 1 and not report["complete"], out
        assert report["objects"] == len(v1), report  # manifests read from central
        assert report["missing"]["cache"]["objects"] == len(v1), report
        assert report["missing"]["central"]["objects"] == 0, report
        out = bob.synced("status", check=False)
        assert out.returncode == 1 and f"cache    {len(v1)} missing" in out.stdout, out.stdout
    out = bob.synced("pull")
    assert f"downloaded {len(v1)} object(s)" in out.stdout, out.stdout
    bob.git("checkout", "-q", "main")
    before = store_objects(bob.local_storage())
    out = bob.synced("pull")
    assert f"downloaded {len(v2_new)} object(s)" in out.stdout, out.stdout
    assert store_objects(bob.local_storage()) - before == v2_new
    assert workspace(bob.repo) == workspace(alice.repo)
    assert (bob.repo / "legacy.txt").read_bytes() == LEGACY_BYTES
    assert (bob.repo / "legacy_dir" / "a.txt").read_bytes() == LEGACY_BYTES  # CRLF kept
    # Uncached: never required from a storage; git carries it like any file.
    assert (bob.repo / "gen_nocache.txt").read_text() == "not cached\n"
    assert central.objects() == v1 | v2_new  # a pull writes nothing on central

    if not verify:
        return
    out = bob.synced("verify")  # default: every branch and tag on origin
    assert out.returncode == 0, out
    assert f"verify OK: {len(v1 | v2_new)} object(s) of 2 revision(s)" in out.stdout, out.stdout


def test_rsync_local_path(project: Project, tmp_path: Path) -> None:
    share(project, "bob-rsync", _local_dir_central(
        tmp_path / "c", str(tmp_path / "c"), "rsync", {}), checks=True, verify=True)


def test_rsync_over_ssh(project: Project, tmp_path: Path, sshd: Sshd) -> None:
    share(project, "bob-ssh", _local_dir_central(
        tmp_path / "c", f"{sshd.host_alias}:{tmp_path / 'c'}", "rsync",
        {"DVC_SYNCED_SSH_COMMAND": sshd.ssh_command()}), verify=True)


def test_rsync_ssh_url_with_port(project: Project, tmp_path: Path, sshd: Sshd) -> None:
    """`ssh://user@host:port/path` with options in ssh-command; doctor agrees it works."""
    (tmp_path / "c").mkdir()
    env = {"DVC_SYNCED_CENTRAL": f"ssh://{sshd.user}@127.0.0.1:{sshd.port}{tmp_path / 'c'}",
           "DVC_SYNCED_SSH_COMMAND": f"ssh -i {sshd.client_key} -o IdentitiesOnly=yes "
                                     "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
                                     " -o LogLevel=ERROR"}
    alice = project.alice
    run_env = {**alice.env, **env}
    out = run([sys.executable, "-m", "dvc_synced_plugin", "push", "--rev", "v1"], alice.repo,
              run_env)
    assert f"uploaded {len(project.v1_objects)} object(s)" in out.stdout, out.stdout
    assert store_objects(tmp_path / "c") == project.v1_objects
    run([sys.executable, "-m", "dvc_synced_plugin", "install"], alice.repo, run_env)
    out = run([sys.executable, "-m", "dvc_synced_plugin", "doctor"], alice.repo, run_env)
    assert "all checks passed" in out.stdout, out.stdout


def test_rclone_local_path(project: Project, tmp_path: Path) -> None:
    share(project, "bob-rclone", _local_dir_central(
        tmp_path / "c", str(tmp_path / "c"), "rclone", {"RCLONE_CONFIG": "/dev/null"}))


def test_rclone_sftp(project: Project, tmp_path: Path, sshd: Sshd) -> None:
    env = rclone_env("teamsftp", {
        "type": "sftp", "host": "127.0.0.1", "port": str(sshd.port), "user": sshd.user,
        "key_file": str(sshd.client_key), "shell_type": "unix",
        # Without these rclone runs md5sum and sha1sum over ssh at every start (~0.5 s a
        # call); dvc-synced hashes objects itself.
        "md5sum_command": "none", "sha1sum_command": "none",
    })
    share(project, "bob-sftp", _local_dir_central(
        tmp_path / "c", f"teamsftp:{tmp_path / 'c'}", "rclone", env))


def test_rclone_s3(project: Project, moto_s3) -> None:  # type: ignore[no-untyped-def]
    import boto3

    creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing",
             "region_name": "us-east-1"}
    s3 = boto3.client("s3", endpoint_url=moto_s3.endpoint, **creds)
    s3.create_bucket(Bucket="team-data")
    env = rclone_env("teams3", {
        "type": "s3", "provider": "Other", "endpoint": moto_s3.endpoint,
        "access_key_id": "testing", "secret_access_key": "testing", "region": "us-east-1",
    })
    env["AWS_CA_BUNDLE"] = ""

    def objects() -> set[str]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket="team-data", Prefix="dvc/")
        keys = {o["Key"][len("dvc/"):] for page in pages for o in page.get("Contents", [])}
        return {k for k in keys if not k.startswith(".dvc-synced/")}

    share(project, "bob-s3", Central({"DVC_SYNCED_CENTRAL": "teams3:team-data/dvc",
                                      "DVC_SYNCED_TRANSPORT": "rclone", **env}, objects),
          verify=True)


def test_verify_reports_corrupt_and_missing(project: Project, tmp_path: Path) -> None:
    """verify downloads and hashes: a damaged or lost object on central fails it, by name."""
    central = _local_dir_central(tmp_path / "c", str(tmp_path / "c"), "rsync", {})
    alice = project.alice
    saved = dict(alice.env)
    alice.env.update(central.env)
    try:
        alice.synced("push", "--rev", "v1", "--rev", "main")
        assert alice.synced("verify").returncode == 0
        victim = sorted(project.v2_new - {o for o in project.v2_new if o.endswith(".dir")})[0]
        path = tmp_path / "c" / victim
        os.chmod(path, 0o644)
        path.write_bytes(b"bit rot")
        out = alice.synced("verify", check=False)
        assert out.returncode == 1
        assert f"corrupt  {victim}" in out.stdout and "verify FAILED" in out.stdout, out.stdout
        os.unlink(path)
        out = alice.synced("verify", check=False)
        assert out.returncode == 1 and f"missing  {victim}" in out.stdout, out.stdout
    finally:
        alice.env.clear()
        alice.env.update(saved)
