"""`import-url` / `update` end to end over every upstream kind, with real git, DVC, rsync,
rclone, the loopback sshd and moto's S3; the data then travels by plain `git push`/`pull`.

What crossed the wire is read from the transport's own log: rsync's `--log-file` (a wrapper
`rsync` first on PATH adds it; `>f` lines are files received) and rclone's `--log-file`
(through RCLONE_LOG_FILE / RCLONE_VERBOSE; "Copied" lines).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import pytest
import yaml

from tests.conftest import Sshd, Team, User, rclone_env, tree_digest

CHANGED_SAME_SIZE = "same size.txt"  # rewritten in place, same size, mtime kept
NEW_FILE = "new sub/文件 ñ.txt"
UNICODE_FILE = "keep/é ü.txt"
BIG = "big unchanged.bin"


def noise(tag: str, size: int) -> bytes:
    out = b""
    while len(out) < size:
        out += hashlib.sha256(f"{tag}{len(out)}".encode()).digest()
    return out[:size]


@dataclass
class Upstream:
    """One upstream: how to change it, its URL, and what its transport's log says."""

    url: str
    transport: Optional[str]  # given on the command line; None: the default must fit
    has_hash: bool  # listings carry md5 (so a same-size, same-mtime change is seen)
    env: dict[str, str]
    put: Callable[[str, bytes], None]
    delete: Callable[[str], None]
    put_same_mtime: Callable[[str, bytes], None]
    read_all: Callable[[], dict[str, str]]  # relpath -> sha256, as the upstream holds it
    log: Path
    kind: str = "rsync"
    extra: dict[str, object] = field(default_factory=dict)

    def reset_log(self) -> None:
        self.log.write_text("")

    def transferred(self) -> list[str]:
        """Files that crossed the wire since reset_log, from the tool's own log."""
        raw = self.log.read_bytes() if self.log.exists() else b""
        # rsync's log writes some bytes of non-ASCII names as \#ooo (octal)
        raw = re.sub(rb"\\#([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), raw)
        text = raw.decode("utf-8", errors="replace")
        if self.kind == "rsync":
            return sorted(m.group(1) for m in re.finditer(r"\] >f\S* (.+)$", text, re.M))
        return sorted(m.group(1) for m in re.finditer(
            r"INFO\s+:\s+(.+?): Copied \(", text))


def _dir_upstream(root: Path, url: str, transport: Optional[str], has_hash: bool,
                  env: dict[str, str], log: Path, kind: str) -> Upstream:
    root.mkdir(parents=True, exist_ok=True)

    def put(rel: str, data: bytes) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def put_same_mtime(rel: str, data: bytes) -> None:
        path = root / rel
        st = path.stat()
        assert len(data) == st.st_size
        path.write_bytes(data)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # `touch -r`

    return Upstream(url, transport, has_hash, env, put, lambda rel: (root / rel).unlink(),
                    put_same_mtime, lambda: tree_digest(root), log, kind)


def rsync_wrapper(bin_dir: Path, log: Path) -> dict[str, str]:
    """A `rsync` first on PATH that makes the real one keep its own log of every file."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    real = shutil.which("rsync")
    wrapper = bin_dir / "rsync"
    wrapper.write_text(f"#!/bin/sh\nexec {real} --log-file={log} '--log-file-format=%i %n' "
                       '"$@"\n')
    wrapper.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def rclone_log(log: Path) -> dict[str, str]:
    return {"RCLONE_LOG_FILE": str(log), "RCLONE_VERBOSE": "1"}


def make_upstream(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Upstream:
    log = tmp_path / "wire.log"
    root = tmp_path / "upstream" / "ds"
    if kind == "local":
        return _dir_upstream(root, str(root), None, False, rsync_wrapper(tmp_path / "bin", log),
                             log, "rsync")
    if kind == "rsync-ssh":
        sshd: Sshd = request.getfixturevalue("sshd")
        env = {**rsync_wrapper(tmp_path / "bin", log),
               "DVC_SYNCED_SSH_COMMAND": sshd.ssh_command()}
        return _dir_upstream(root, f"{sshd.host_alias}:{root}", None, False, env, log, "rsync")
    if kind == "rclone-local":
        env = {"RCLONE_CONFIG": "/dev/null", **rclone_log(log)}
        return _dir_upstream(root, str(root), "rclone", True, env, log, "rclone")
    if kind == "rclone-sftp":
        sshd = request.getfixturevalue("sshd")
        env = {**rclone_env("upsftp", {
            "type": "sftp", "host": "127.0.0.1", "port": str(sshd.port), "user": sshd.user,
            "key_file": str(sshd.client_key), "shell_type": "unix",
            "md5sum_command": "md5sum", "sha1sum_command": "none",  # the server hashes
        }), **rclone_log(log)}
        return _dir_upstream(root, f"upsftp:{root}", None, True, env, log, "rclone")
    assert kind == "s3"
    import boto3

    moto = request.getfixturevalue("moto_s3")
    s3 = boto3.client("s3", endpoint_url=moto.endpoint, aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    bucket = f"up-{hashlib.md5(str(tmp_path).encode()).hexdigest()[:12]}"
    s3.create_bucket(Bucket=bucket)
    env = {**rclone_env("ups3", {
        "type": "s3", "provider": "Other", "endpoint": moto.endpoint,
        "access_key_id": "testing", "secret_access_key": "testing", "region": "us-east-1",
    }), "AWS_CA_BUNDLE": "", **rclone_log(log)}

    def put(rel: str, data: bytes) -> None:
        s3.put_object(Bucket=bucket, Key=f"ds/{rel}", Body=data)

    def read_all() -> dict[str, str]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="ds/")
        keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        return {k[3:]: hashlib.sha256(s3.get_object(Bucket=bucket, Key=k)["Body"].read())
                .hexdigest() for k in sorted(keys)}

    return Upstream(f"ups3:{bucket}/ds", None, True, env, put,
                    lambda rel: s3.delete_object(Bucket=bucket, Key=f"ds/{rel}"),
                    put, read_all, log, "rclone")


def meta_files(user: User, rel: str) -> dict[str, list[str]]:
    """The record's listing: path -> [size, mtime, hash or "-"] (one line a file)."""
    data = yaml.safe_load((user.repo / f"{rel}.dvc").read_text())
    lines = data["meta"]["dvc-synced-import"]["files"].splitlines()
    return {parts[3]: parts[:3] for parts in (ln.split(" ", 3) for ln in lines)}


def cache_inodes(user: User) -> dict[str, int]:
    cache = user.repo / ".dvc" / "cache" / "files"
    return {str(p.relative_to(cache)): p.stat().st_ino for p in cache.rglob("*") if p.is_file()}


KINDS = ["local", "rsync-ssh", "rclone-local", "rclone-sftp", "s3"]


@pytest.mark.parametrize("kind", KINDS)
def test_import_update_commit_push_pull(kind: str, team: Team, tmp_path: Path,
                                        request: pytest.FixtureRequest) -> None:
    up = make_upstream(kind, tmp_path, request)
    team.extra_env.update(up.env)
    initial = {
        "a.bin": noise("a", 5000),
        CHANGED_SAME_SIZE: b"version one\n",
        UNICODE_FILE: b"unicode name, kept\n",
        "gone.txt": b"to be removed upstream\n",
        BIG: noise("big", 200_000),
    }
    for rel, data in initial.items():
        up.put(rel, data)

    alice = team.founder()
    alice.synced("install")
    up.reset_log()
    args = ["import-url", up.url, "data/ds"] + (["--transport", up.transport]
                                                if up.transport else [])
    out = alice.synced(*args)
    assert "imported" in out.stdout and "5 file(s)" in out.stdout, out.stdout
    assert up.transferred() == sorted(initial), up.transferred()
    assert tree_digest(alice.repo / "data" / "ds") == up.read_all()
    record = yaml.safe_load((alice.repo / "data" / "ds.dvc").read_text())
    assert record["meta"]["dvc-synced-import"]["url"] == up.url
    assert record["meta"]["dvc-synced-import"]["transport"] == (
        "rclone" if up.kind == "rclone" else "rsync")
    files = meta_files(alice, "data/ds")
    assert sorted(files) == sorted(initial)
    assert files["a.bin"][0] == "5000"
    for entry in files.values():
        assert entry[2].startswith("md5:") is up.has_hash, entry
    if up.has_hash:
        assert files[UNICODE_FILE][2] == "md5:" + hashlib.md5(initial[UNICODE_FILE]).hexdigest()
    # DVC keeps working on a .dvc file with our meta
    assert "up to date" in alice.dvc("status").stdout
    alice.git("add", "data/ds.dvc", "data/.gitignore")
    alice.git("commit", "-q", "-m", "Import ds")
    alice.git("push", "-q", "origin", "main")

    bob = team.user("bob")
    bob.synced("install")
    bob.synced("pull")
    assert tree_digest(bob.repo / "data" / "ds") == tree_digest(alice.repo / "data" / "ds")

    out = alice.synced("update", "--check")
    assert out.returncode == 0 and "up to date" in out.stdout, out.stdout

    # The upstream changes on its own: a new size, a same-size rewrite with the mtime kept,
    # a file in a new folder with a non-ASCII name, a removal.
    up.put("a.bin", noise("a2", 6000))
    up.put_same_mtime(CHANGED_SAME_SIZE, b"version two\n")
    up.put(NEW_FILE, b"brand new\n")
    up.delete("gone.txt")
    changed = ["a.bin", CHANGED_SAME_SIZE] if up.has_hash else ["a.bin"]

    up.reset_log()
    out = alice.synced("update", "--check", "--json", check=False)
    assert out.returncode == 1, out
    (report,) = json.loads(out.stdout)
    assert (report["changed"], report["added"], report["removed"]) == (
        changed, [NEW_FILE], ["gone.txt"]), report
    assert report["fetch_bytes"] == 6000 + len(b"brand new\n") + (
        12 if up.has_hash else 0)
    assert up.transferred() == []  # --check downloads nothing
    out = alice.synced("status", check=False)
    assert "upstream: not checked  (data/ds)" in out.stdout, out.stdout
    out = alice.synced("status", "--upstream", check=False)
    assert f"upstream: {len(changed) + 2} changed (use dvc-synced update)" in out.stdout, out

    before = cache_inodes(alice)
    up.reset_log()
    out = alice.synced("update", "--commit")
    message = (f"Update data/ds from {up.url}: {len(changed)} changed, 1 added, 1 removed")
    assert alice.git("log", "-1", "--format=%s").stdout.strip() == message
    assert message in out.stdout, out.stdout
    # Only the added and changed files crossed the wire, by the transport's own account.
    assert up.transferred() == sorted(changed + [NEW_FILE]), up.transferred()
    after = cache_inodes(alice)
    assert all(after[k] == v for k, v in before.items())  # unchanged objects not copied again
    assert alice.git("status", "--porcelain").stdout == ""
    assert "up to date" in alice.dvc("status").stdout
    if up.has_hash:
        assert tree_digest(alice.repo / "data" / "ds") == up.read_all()
    else:
        # Documented limit: size and mtime cannot see a same-size rewrite that kept its mtime.
        expect = up.read_all()
        expect[CHANGED_SAME_SIZE] = hashlib.sha256(b"version one\n").hexdigest()
        assert tree_digest(alice.repo / "data" / "ds") == expect
    assert not (alice.repo / "data" / "ds" / "gone.txt").exists()

    # dvc checkout still restores the output from a .dvc file carrying our record
    shutil.rmtree(alice.repo / "data" / "ds")
    alice.dvc("checkout", "-q", "data/ds.dvc")
    out = alice.synced("update", "--check")
    assert out.returncode == 0, out

    alice.git("push", "-q", "origin", "main")
    bob.git("pull", "-q")
    assert tree_digest(bob.repo / "data" / "ds") == tree_digest(alice.repo / "data" / "ds")
    if up.has_hash:
        assert tree_digest(bob.repo / "data" / "ds") == up.read_all()


def test_update_with_no_change_imports_no_dvc(team: Team, tmp_path: Path) -> None:
    """--check (and an update with nothing to do) never imports DVC: cron-cheap."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.txt").write_text("x\n")
    alice = team.founder()
    alice.synced("import-url", str(src), "f-data")
    probe = ("import sys; from dvc_synced_plugin.cli import main; rc = main(sys.argv[1:]); "
             "print('DVC-IMPORTED' if 'dvc.repo' in sys.modules else 'no-dvc'); sys.exit(rc)")
    for args in (["update", "--check"], ["update"]):
        out = alice.run(sys.executable, "-c", probe, *args)
        assert "no-dvc" in out.stdout, out.stdout


HASH_PROBE = """\
import sys
import dvc_data.hashfile.hash as h
hashed = []
real = h._hash_file
def counting(path, *args, **kwargs):
    hashed.append(str(path))
    return real(path, *args, **kwargs)
h._hash_file = counting
from dvc_synced_plugin.cli import main
rc = main(["update"])
print("HASHED", sorted(p for p in hashed if not p.startswith("memory://")))
sys.exit(rc)
"""


def test_update_hashes_only_the_changed_files(team: Team, tmp_path: Path) -> None:
    """DVC's own hash function, counted in-process: unchanged files are not read again."""
    src = tmp_path / "src"
    for i in range(30):
        (src / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 3}" / f"f{i}.bin").write_bytes(noise(str(i), 2000))
    alice = team.founder()
    alice.synced("import-url", str(src), "ds")
    (src / "d1" / "f1.bin").write_bytes(noise("new", 2100))
    (src / "d2" / "new.bin").write_bytes(noise("added", 10))
    out = alice.run(sys.executable, "-c", HASH_PROBE)
    hashed = out.stdout.split("HASHED ", 1)[1].strip()
    assert hashed == str(sorted([str(alice.repo / "ds" / "d1" / "f1.bin"),
                                 str(alice.repo / "ds" / "d2" / "new.bin")])), out.stdout


def test_the_background_job_watches_upstreams_and_never_commits(team: Team,
                                                                tmp_path: Path) -> None:
    """The scheduled job logs that an upstream changed; taking it stays the user's step."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.txt").write_text("v1\n")
    alice = team.founder()
    alice.synced("import-url", str(src), "f-data")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "import")
    alice.git("push", "-q", "origin", "main")
    record = (alice.repo / "f-data.dvc").read_bytes()
    head = alice.git("rev-parse", "HEAD").stdout
    alice.synced("schedule", "run")
    assert "upstream-changed" not in alice.synced("schedule", "status").stdout
    (src / "f.txt").write_text("v2 changed\n")
    alice.synced("schedule", "run")
    shown = alice.synced("schedule", "status").stdout
    assert "upstream-changed" in shown and "f-data: 1 changed" in shown, shown
    assert (alice.repo / "f-data.dvc").read_bytes() == record  # nothing taken on its own
    assert alice.git("rev-parse", "HEAD").stdout == head
    assert (alice.repo / "f-data" / "f.txt").read_text() == "v1\n"
