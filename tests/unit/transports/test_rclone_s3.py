"""What rclone asks S3 for (issue #14): a few objects by name, many by listing, no HEAD
after each PUT, and never an overwrite. Real rclone against a real moto_server, whose
request log says which S3 requests each call made."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from dvc_synced_plugin.settings import Settings
from dvc_synced_plugin.transports import rclone
from tests.harness import Unavailable, rclone_env, start_moto

BUCKET = "req-test"


class Log:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def take(self) -> Counter[str]:
        """Requests since the last take: 'list', or the method of an object request."""
        data = self.path.read_bytes()[self.offset:]
        self.offset += len(data)
        kinds: Counter[str] = Counter()
        for line in data.decode(errors="replace").splitlines():
            if '"' not in line:
                continue
            method, target = line.split('"')[1].split()[:2]
            path = target.partition("?")[0].strip("/")
            if "/" not in path:  # bucket level: a listing (GET) or a bucket check/create
                kinds["list" if method == "GET" else f"bucket-{method.lower()}"] += 1
            elif "/files/" in path:  # an object
                kinds[method.lower()] += 1
            else:  # each rclone start asks whether its root `dvc` is a file
                kinds[f"root-{method.lower()}"] += 1
        return kinds


@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    try:
        server = start_moto(tmp_path / "moto.log")
    except Unavailable as exc:
        pytest.skip(str(exc))
    env = rclone_env("reqs3", {
        "type": "s3", "provider": "Other", "endpoint": server.endpoint, "region": "us-east-1",
        "access_key_id": "testing", "secret_access_key": "testing",
    })
    for key, value in {**env, "AWS_CA_BUNDLE": ""}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(rclone, "PER_OBJECT_MAX", 20)  # the switch, at a size moto does fast
    transport = rclone.RcloneTransport(Settings(
        root=tmp_path, central=f"reqs3:{BUCKET}/dvc", transport="rclone",
        remote="synced-storage", local=tmp_path / "local", jobs=4, timeout=30,
        ssh_command="ssh", sources={}))
    transport._rclone(["mkdir", "--", f"reqs3:{BUCKET}"], "making the bucket")
    log = Log(tmp_path / "moto.log")
    log.take()
    yield transport, log
    server.stop()


def objects(store: Path, names: range, fill: bytes) -> list[str]:
    rels = []
    for i in names:
        rel = f"files/md5/{i % 7:02x}/{i:030x}"
        path = store / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(fill * (i + 1))
        rels.append(rel)
    return rels


def test_few_by_name_many_by_listing_never_overwritten(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    transport, log = s3
    store = tmp_path / "store"
    many = objects(store, range(30), b"a")  # over PER_OBJECT_MAX: listed
    few = objects(store, range(30, 35), b"b")

    transport.upload(store, many)
    got = log.take()
    assert got["put"] == 30 and got["head"] == 0, got  # no HEAD per object, none after PUT
    assert transport.probe(many + few) == {r: int(r[-2:], 16) + 1 for r in many}
    got = log.take()
    assert got["head"] == 0 and got["list"] >= 1, got

    transport.upload(store, few)
    got = log.take()
    assert got["put"] == 5 and got["head"] == 5 and got["list"] == 0, got  # HEAD = exists?
    assert transport.probe(few) == {r: int(r[-2:], 16) + 1 for r in few}
    got = log.take()
    assert got["list"] == 0 and got["head"] == 5, got  # a change of 10 lists no directory

    # Under PER_OBJECT_MAX but several per directory (a first push of some hundreds):
    # listed too, since a listing costs a request per directory, not per object.
    dense = objects(store, range(40, 55), b"c")  # 15 objects in 7 directories
    transport.upload(store, dense)
    got = log.take()
    assert got["put"] == 15 and got["head"] == 0 and got["list"] >= 1, got
    assert transport.probe(dense) == {r: int(r[-2:], 16) + 1 for r in dense}
    got = log.take()
    assert got["head"] == 0 and got["list"] <= 7 + 3, got  # the 7, and their parents

    # Downloads: many listed (no HEAD per object), a few asked for by name.
    dest = tmp_path / "down"
    transport.download(many, dest)
    got = log.take()
    assert got["get"] == 30 and got["head"] == 0 and got["list"] >= 1, got
    transport.download(few, dest)
    got = log.take()
    assert got["get"] == 5 and got["head"] == 5 and got["list"] == 0, got
    for rel in many + few:
        assert (dest / rel).read_bytes() == (store / rel).read_bytes()

    # Other bytes under the same names, both ways: central keeps what it had.
    for rel in many + few:
        os.chmod(store / rel, 0o644)
        (store / rel).write_bytes(b"X")
    transport.upload(store, many)
    transport.upload(store, few)
    assert log.take()["put"] == 0
    assert transport.probe(many + few) == {r: int(r[-2:], 16) + 1 for r in many + few}


def test_upload_reads_what_it_copied_from_a_log_file_not_a_pipe(
        s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Without a terminal, rclone's line per copied object goes to a log file read once
    it exits (through the pipe each line cost the hook ~125 us of CPU, #23): the upload
    still tells what it copied from what central had, even with the user's own
    RCLONE_LOG_FILE set, and leaves no log file behind."""
    import tempfile

    transport, log = s3
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("RCLONE_LOG_FILE", str(tmp_path / "users.log"))
    store = tmp_path / "store"
    first = objects(store, range(3), b"a")
    assert transport.upload(store, first) == set()  # all three copied, and said so
    assert log.take()["put"] == 3
    later = objects(store, range(6), b"a")
    assert transport.upload(store, later) == set(first)  # central had these three
    assert log.take()["put"] == 3
    assert list(scratch.iterdir()) == []
