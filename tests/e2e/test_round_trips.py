"""Round trips, counted (issue #14): how many ssh connections and sessions, and how many
rclone processes, a real `git push` / `git pull` with our plain hooks makes.

Each session starts the server account's shell (0.1-0.4 s here), so the count matters on
its own. Targets: the push of a change makes one connection and at most 2 sessions (files,
then manifests: a `.dir` must land only after its files); the pull of a change at most 2
(manifests, then the files they name); a no-op push or pull makes none. The counting ssh
(tests/counting.py) is the `ssh-command`, in front of the real ssh
and the loopback sshd of tests/conftest.py.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from pathlib import Path

import pytest

from dvc_synced_plugin import config
from dvc_synced_plugin.errors import CorruptObjectError
from dvc_synced_plugin.oids import ObjectRef
from dvc_synced_plugin.sync import flows
from dvc_synced_plugin.transports.rsync import SENT_MARK, SentFilter
from tests import counting
from tests import fake_transport as fake
from tests.conftest import GitRepo, Sshd, Team, User, store_objects, tree_digest
from tests.unit.sync.test_flows import Project, md5

# ------------------------------------------------------------------------- unit: the fold


def test_sent_names_are_split_from_progress_across_chunks() -> None:
    shown: list[str] = []
    sent = SentFilter(shown.append)
    stream = (f"{SENT_MARK}files/md5/aa/11\n\r  3  0%  0.00kB/s\r  9 100% (xfr#1)\n"
              f"{SENT_MARK}files/md5/bb/22\n{SENT_MARK}files/md5/\n\r 12 100%\n")
    for i in range(0, len(stream), 7):  # as rsync's writes arrive: cut anywhere
        sent.feed(stream[i:i + 7])
    sent.close()
    assert sent.sent == {"files/md5/aa/11", "files/md5/bb/22"}  # a directory is no object
    assert SENT_MARK not in "".join(shown) and "xfr#1" in "".join(shown)


@pytest.fixture
def reporting(monkeypatch: pytest.MonkeyPatch) -> list[fake.FakeTransport]:
    """Fakes that report what an upload skipped, as rsync 3 does."""
    made: list[fake.FakeTransport] = []

    class Reporting(fake.FakeTransport):
        def __init__(self, settings: config.Settings) -> None:
            super().__init__(settings)
            self.report_existing = True
            made.append(self)

    monkeypatch.setattr(fake, "TRANSPORT", Reporting)
    return made


def test_new_change_uploads_first_without_a_probe(
        git_repo: GitRepo, tmp_path: Path, reporting: list[fake.FakeTransport]) -> None:
    project = Project(git_repo, tmp_path)
    rev = project.commit_dir({"a": b"A", "b": b"B", "sub/c": b"C"})
    report = flows.push_changes(project.settings, project.changes(rev))
    assert (report.needed, report.moved, report.skipped) == (4, 4, 0)
    assert reporting[-1].calls == [("upload", 3), ("upload", 1)]
    assert store_objects(project.central) == store_objects(project.cache)


def test_skipped_objects_are_size_checked_before_the_manifest(
        git_repo: GitRepo, tmp_path: Path, reporting: list[fake.FakeTransport]) -> None:
    project = Project(git_repo, tmp_path)
    rev = project.commit_dir({"a": b"AAAA", "b": b"B"})
    project.put(project.central, b"B")  # whole: skipped, checked, fine
    report = flows.push_changes(project.settings, project.changes(rev))
    assert (report.moved, report.skipped) == (2, 1)
    assert reporting[-1].calls == [("upload", 2), ("probe", 2), ("upload", 1)]

    rev = project.commit_dir({"x": b"0123456789", "y": b"Y"})  # new objects: upload first
    short = project.central / ObjectRef(md5(b"0123456789"), False).relpath
    short.parent.mkdir(parents=True, exist_ok=True)
    short.write_bytes(b"0123")
    with pytest.raises(CorruptObjectError, match="wrong size on central"):
        flows.push_changes(project.settings, project.changes(rev))
    assert reporting[-1].calls == [("upload", 2), ("probe", 2)]
    assert short.read_bytes() == b"0123"  # never replaced
    manifests = {p for p in store_objects(project.central) if p.endswith(".dir")}
    assert len(manifests) == 1  # the first push's only: none for the refused one


def test_objects_already_in_local_storage_are_probed_first(
        git_repo: GitRepo, tmp_path: Path, reporting: list[fake.FakeTransport]) -> None:
    """A cut push's objects sit in the local storage and are likely on central: probe."""
    project = Project(git_repo, tmp_path)
    rev = project.commit_dir({"a": b"A"})
    flows.push_changes(project.settings, project.changes(rev))
    again = flows.push_changes(project.settings, project.changes(rev))
    assert (again.moved, again.skipped) == (0, 2)
    assert reporting[-1].calls == [("probe", 2)]


# -------------------------------------------------------------------------- e2e: counted


def test_parallel_lanes_share_one_connection(git_repo: GitRepo, tmp_path: Path,
                                             sshd: Sshd) -> None:
    """Two upload lanes start at once (a bulk push): one handshake, and no connection
    left running after close."""
    from concurrent.futures import ThreadPoolExecutor

    from dvc_synced_plugin.transports import open_transport

    log = tmp_path / "ssh.log"
    command = counting.ssh_wrapper(tmp_path / "bin", log, shlex.split(sshd.ssh_command()))
    central = tmp_path / "central"
    central.mkdir()
    settings = config.load(git_repo.root, env={
        "DVC_SYNCED_CENTRAL": f"dvc-server:{central}", "DVC_SYNCED_SSH_COMMAND": command,
        "DVC_SYNCED_LOCAL": str(tmp_path / "local")})
    src = tmp_path / "src"
    lanes = [[], []]  # type: list[list[str]]
    for i in range(4):
        ref = ObjectRef(md5(b"%d" % i), False)
        (src / ref.relpath).parent.mkdir(parents=True, exist_ok=True)
        (src / ref.relpath).write_bytes(b"%d" % i)
        lanes[i % 2].append(ref.relpath)
    transport = open_transport(settings)
    socket_dir = transport.ssh.tmp  # type: ignore[attr-defined]
    try:
        with ThreadPoolExecutor(2) as pool:
            found = list(pool.map(lambda rels: transport.upload(src, rels), lanes))
    finally:
        transport.close()
    assert found == [set(), set()]
    assert len(store_objects(central)) == 4
    counts = counting.read(log)
    assert (counts.connections, counts.sessions) == (1, 2), counts
    assert not [pid for pid in running_with(socket_dir)], "an ssh outlived the command"


def running_with(text: str) -> list[int]:
    """Processes whose command line mentions `text`."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if text in proc.joinpath("cmdline").read_bytes().decode(errors="replace"):
                pids.append(int(proc.name))
        except OSError:  # gone meanwhile
            continue
    return pids


def commit(user: User, files: dict[str, str | bytes], targets: list[str], msg: str) -> None:
    for rel, data in files.items():
        user.write(rel, data)
    user.dvc("add", "-q", *targets)
    user.git("add", "-A")
    user.git("commit", "-q", "-m", msg)


def server_ref(team: Team) -> str:
    return team.users["alice"].git("ls-remote", "origin", "refs/heads/main").stdout


def counted_ssh_team(tmp_path: Path, sshd: Sshd) -> tuple[Team, Path]:
    log = tmp_path / "ssh.log"
    command = counting.ssh_wrapper(tmp_path / "bin", log, shlex.split(sshd.ssh_command()))
    central = tmp_path / "central"
    central.mkdir()
    team = Team(tmp_path, f"dvc-server:{central}",
                extra_env={"DVC_SYNCED_SSH_COMMAND": command})
    return team, log


def test_ssh_change_push_and_pull_fit_the_session_budget(tmp_path: Path, sshd: Sshd) -> None:
    team, log = counted_ssh_team(tmp_path, sshd)
    alice = team.founder("alice")
    alice.synced("install")
    bob = team.user("bob")
    bob.synced("install")
    central = tmp_path / "central"

    commit(alice, {"data/a.txt": "a1\n", "data/b.txt": "b1\n", "single.txt": "s1\n"},
           ["data", "single.txt"], "v1")
    counting.take(log)
    alice.git("push", "-q", "origin", "main")
    pushed = counting.take(log)
    assert (pushed.connections, pushed.sessions) == (1, 2), pushed
    bob.git("pull", "-q")
    pulled = counting.take(log)
    assert pulled.connections == 1 and pulled.sessions <= 2, pulled
    assert tree_digest(bob.repo / "data") == tree_digest(alice.repo / "data")

    # A change: two files rewritten, one new, in the directory.
    before = store_objects(central)
    commit(alice, {"data/a.txt": "a2\n", "data/c.txt": "c2\n", "data/b.txt": "b2\n"},
           ["data"], "v2")
    counting.take(log)
    alice.git("push", "-q", "origin", "main")
    pushed = counting.take(log)
    assert (pushed.connections, pushed.sessions) == (1, 2), pushed
    assert len(store_objects(central) - before) == 4  # three files and the new manifest
    bob.git("pull", "-q")
    pulled = counting.take(log)
    assert pulled.connections == 1 and pulled.sessions <= 2, pulled
    assert tree_digest(bob.repo / "data") == tree_digest(alice.repo / "data")
    assert (bob.repo / "single.txt").read_text() == "s1\n"

    # No pointer change: no connection at all, either way.
    alice.write("README.txt", "notes\n")
    alice.git("add", "README.txt")
    alice.git("commit", "-q", "-m", "notes")
    counting.take(log)
    alice.git("push", "-q", "origin", "main")
    bob.git("pull", "-q")
    assert counting.take(log) == counting.Counts()
    assert (bob.repo / "README.txt").read_text() == "notes\n"


def test_push_onto_objects_central_has_checks_only_those(tmp_path: Path, sshd: Sshd) -> None:
    """The upload names what it sent; what it skipped was on central and gets the size
    check (one probe session more). Nothing there is replaced."""
    team, log = counted_ssh_team(tmp_path, sshd)
    alice = team.founder("alice")
    alice.synced("install")
    central = tmp_path / "central"
    commit(alice, {"data/a.txt": "same bytes\n", "data/b.txt": "b\n"}, ["data"], "v1")
    # A teammate pushed the same bytes before: central has that object already.
    oid = hashlib.md5(b"same bytes\n").hexdigest()
    there = central / "files" / "md5" / oid[:2] / oid[2:]
    there.parent.mkdir(parents=True)
    there.write_text("same bytes\n")
    inode = there.stat().st_ino
    counting.take(log)
    alice.git("push", "-q", "origin", "main")
    pushed = counting.take(log)
    assert (pushed.connections, pushed.sessions) == (1, 3), pushed  # files, probe, manifest
    assert there.stat().st_ino == inode
    assert len(store_objects(central)) == 3


def test_truncated_copy_on_central_refuses_before_the_manifest(tmp_path: Path,
                                                               sshd: Sshd) -> None:
    """A short copy on central (a cut seed upload) is found by the check of what the
    upload skipped: the push is refused, no manifest claims the directory, git did not
    move, and the short copy is left as it was (never overwritten)."""
    team, log = counted_ssh_team(tmp_path, sshd)
    alice = team.founder("alice")
    alice.synced("install")
    central = tmp_path / "central"
    data = b"0123456789" * 500
    commit(alice, {"data/a.bin": data, "data/b.bin": b"b" * 100}, ["data"], "v1")
    oid = hashlib.md5(data).hexdigest()
    short = central / "files" / "md5" / oid[:2] / oid[2:]
    short.parent.mkdir(parents=True)
    short.write_bytes(data[:100])
    before = server_ref(team)
    proc = alice.git("push", "origin", "main", check=False)
    assert proc.returncode != 0
    assert "wrong size on central" in proc.stderr and "data/a.bin" in proc.stderr, proc.stderr
    assert server_ref(team) == before
    assert short.read_bytes() == data[:100]
    assert not [p for p in store_objects(central) if p.endswith(".dir")]


def test_rclone_process_counts(tmp_path: Path) -> None:
    """rclone to a local path: every rclone process counted, beside what bob gets."""
    log = tmp_path / "rclone.log"
    wrapper = counting.rclone_wrapper(tmp_path / "bin", log)
    central = tmp_path / "central"
    central.mkdir()
    team = Team(tmp_path, str(central), transport="rclone")

    def member(name: str) -> User:
        user = team.founder(name) if name == "alice" else team.user(name)
        user.env["PATH"] = f"{wrapper}{os.pathsep}{user.env['PATH']}"
        user.synced("install")
        return user

    alice, bob = member("alice"), member("bob")
    commit(alice, {"data/a.txt": "a1\n", "data/b.txt": "b1\n"}, ["data"], "v1")
    alice.git("push", "-q", "origin", "main")
    bob.git("pull", "-q")
    commit(alice, {"data/a.txt": "a2\n", "data/c.txt": "c2\n"}, ["data"], "v2")
    counting.take(log)
    alice.git("push", "-q", "origin", "main")
    pushed = counting.take(log).rclone
    bob.git("pull", "-q")
    pulled = counting.take(log).rclone
    assert tree_digest(bob.repo / "data") == tree_digest(alice.repo / "data")
    # push: files copied to a scratch dir and moved in, manifests likewise (no probe
    # before, no listing after: rclone's log names what it copied and moved, #23).
    # pull: manifests, files.
    assert pushed <= 4, pushed
    assert pulled <= 2, pulled
    alice.write("README.txt", "notes\n")
    alice.git("add", "README.txt")
    alice.git("commit", "-q", "-m", "notes")
    alice.git("push", "-q", "origin", "main")
    bob.git("pull", "-q")
    assert counting.take(log).rclone == 0


def test_rclone_sftp_asks_the_backend_features_once(tmp_path: Path, sshd: Sshd) -> None:
    """Over sftp each rclone process is an ssh connection: whether the backend writes in
    place is asked on the first push and remembered in the local storage. (A plain sftp
    remote is known to write in place from its type: this one hides it behind an alias.)"""
    from tests.conftest import rclone_env

    log = tmp_path / "rclone.log"
    wrapper = counting.rclone_wrapper(tmp_path / "bin", log)
    central = tmp_path / "central"
    central.mkdir()
    env = rclone_env("box", {
        "type": "sftp", "host": "127.0.0.1", "port": str(sshd.port), "user": sshd.user,
        "key_file": str(sshd.client_key), "shell_type": "unix", "md5sum_command": "md5sum",
        "sha1sum_command": "sha1sum"})
    env.update({k: v for k, v in rclone_env("central", {"type": "alias", "remote": "box:"}
                                            ).items() if k != "RCLONE_CONFIG"})
    team = Team(tmp_path, f"central:{central}", transport="rclone", extra_env=env)
    alice = team.founder("alice")
    alice.env["PATH"] = f"{wrapper}{os.pathsep}{alice.env['PATH']}"
    alice.synced("install")

    def push(data: str) -> list[str]:
        commit(alice, {"data/a.txt": data}, ["data"], data)
        counting.take(log)
        alice.git("push", "-q", "origin", "main")
        return log.read_text().splitlines()

    first = push("one\n")
    assert sum(" backend features " in line for line in first) == 1
    # Whether central exists is asked once too (#22: nothing creates central implicitly).
    exists_check = " lsjson --max-depth 1 --dirs-only "
    assert sum(exists_check in line for line in first) == 1
    second = push("two\n")
    assert not [line for line in second if " backend features " in line], second
    assert not [line for line in second if exists_check in line], second
    assert len(second) == len(first) - 2
    # Still the in-place path: uploads land in the scratch dir and are moved in.
    assert any(" move " in line for line in second)
    assert len(store_objects(central)) == 4


def test_rclone_sftp_first_push_processes_sessions_connections(tmp_path: Path) -> None:
    """#23: a first push over an sftp remote as a user writes it (host, port, user,
    key_file: no tuning key) starts at most 4 rclone processes (central's existence, the
    copy of files and manifests to the scratch dir, the move of the files, the move of the
    manifest), runs no command on the server (no shell-type or hash probe: each starts the
    account's shell) and opens few ssh connections. Was 5 processes, 5 sessions, 23."""
    from tests.conftest import Unavailable, rclone_env, start_sshd, unavailable

    try:
        server = start_sshd(tmp_path / "sshd", log_level="VERBOSE")
    except Unavailable as exc:
        unavailable(exc)
    try:
        log = tmp_path / "rclone.log"
        wrapper = counting.rclone_wrapper(tmp_path / "bin", log)
        central = tmp_path / "central"
        central.mkdir()
        env = rclone_env("teamsftp", {
            "type": "sftp", "host": "127.0.0.1", "port": str(server.port),
            "user": server.user, "key_file": str(server.client_key)})
        team = Team(tmp_path, f"teamsftp:{central}", transport="rclone", extra_env=env)
        alice = team.founder("alice")
        alice.env["PATH"] = f"{wrapper}{os.pathsep}{alice.env['PATH']}"
        alice.synced("install")
        files = {f"data/f{i:03d}.bin": os.urandom(1024) for i in range(60)}
        commit(alice, files, ["data"], "60 files")
        counting.take(log)
        before = server.connections_seen()[0]
        sessions = server.log.read_text().count("Starting session: command")
        alice.git("push", "-q", "origin", "main")
        calls = log.read_text().splitlines()
        connections = server.connections_seen()[0] - before
        assert len(store_objects(central)) == 61
        # Everything sent to the scratch dir was published (the manifest too).
        assert not [p for p in (central / ".dvc-synced").rglob("*") if p.is_file()]
        assert len(calls) <= 4, calls
        assert sum(" copy " in line for line in calls) == 1, calls
        assert server.log.read_text().count("Starting session: command") == sessions
        # lsjson 1; copy 4 transfers (no checks in the scratch dir); moves: their source
        # and destination, one checker, two renames; 10 measured with 300 objects.
        assert connections <= 11, connections
    finally:
        server.stop()


def test_remembered_features_follow_the_remote_definition(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from dvc_synced_plugin.transports import rclone

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RCLONE_CONFIG", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("RCLONE_CONFIG_CENTRAL_TYPE", "s3")
    key = rclone.remote_key("central:bucket")
    assert rclone.remote_key("central:other/path") == key  # the remote, not the path
    assert rclone.remote_key("elsewhere:bucket") != key
    monkeypatch.setenv("RCLONE_CONFIG_CENTRAL_TYPE", "sftp")
    assert rclone.remote_key("central:bucket") != key
    conf = tmp_path / ".config" / "rclone" / "rclone.conf"
    conf.parent.mkdir(parents=True)
    before = rclone.remote_key("central:bucket")
    conf.write_text("[central]\ntype = local\n")
    assert rclone.remote_key("central:bucket") != before
