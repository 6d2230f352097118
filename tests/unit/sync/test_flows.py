"""The push and pull flows and the transfer queue, driven through the fake transport.

Real git, a real DVC cache layout and real files; only central is the in-process fake
(`tests/fake_transport.py`), so every call the flows make to it can be counted and faulted.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from dvc_synced_plugin import config, transports
from dvc_synced_plugin.errors import CorruptObjectError, MissingObjectsError
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.oids import ObjectRef
from dvc_synced_plugin.sync import flows
from dvc_synced_plugin.sync.transfer import UploadQueue
from tests import fake_transport as fake
from tests.conftest import GitRepo, store_objects


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class Project:
    """A git repo with a DVC cache holding one directory output and one file output."""

    def __init__(self, repo: GitRepo, tmp: Path) -> None:
        self.repo = repo
        (repo.root / ".dvc").mkdir()
        (repo.root / ".dvc" / "config").write_text("")
        self.central = tmp / "central"
        self.central.mkdir()
        self.local = tmp / "local"
        self.cache = repo.root / ".dvc" / "cache"
        self.settings = config.load(repo.root, env={
            "DVC_SYNCED_CENTRAL": str(self.central), "DVC_SYNCED_TRANSPORT": "fake",
            "DVC_SYNCED_LOCAL": str(self.local)})

    def put(self, store: Path, data: bytes, suffix: str = "") -> ObjectRef:
        ref = ObjectRef(md5(data) + suffix, False)
        path = store / ref.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return ref

    def commit_dir(self, files: dict[str, bytes], store: Path | None = None) -> str:
        """Commit `data.dvc` for a directory of `files`, their objects in `store` (cache)."""
        store = store or self.cache
        for data in files.values():
            self.put(store, data)
        manifest = json.dumps([{"md5": md5(v), "relpath": k} for k, v in sorted(
            files.items())], sort_keys=True).encode()
        oid = self.put(store, manifest, ".dir").oid
        return self.repo.commit("data", **{
            "data.dvc": f"outs:\n- md5: {oid}\n  hash: md5\n  path: data\n"})

    def changes(self, rev: str) -> list[gitinfo.PointerChange]:
        return gitinfo.changes_between(self.repo.root, None, rev)


@pytest.fixture
def project(git_repo: GitRepo, tmp_path: Path) -> Project:
    return Project(git_repo, tmp_path)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> list[fake.FakeTransport]:
    """Every fake transport the flows open, to look at their calls afterwards."""
    made: list[fake.FakeTransport] = []

    class Recording(fake.FakeTransport):
        def __init__(self, settings: config.Settings) -> None:
            super().__init__(settings)
            made.append(self)

    monkeypatch.setattr(fake, "TRANSPORT", Recording)
    return made


def test_a_transport_is_one_module_and_one_registry_line(project: Project) -> None:
    assert transports.TRANSPORTS["fake"].module == "tests.fake_transport"
    opened = transports.open_transport(project.settings)
    assert isinstance(opened, fake.FakeTransport)
    assert transports.required_tools(project.settings) == []
    assert "fake" not in transports.public_names()  # not offered to users


def test_push_sends_what_central_lacks_files_before_manifests(
        project: Project, fakes: list[fake.FakeTransport]) -> None:
    rev = project.commit_dir({"a": b"A", "b": b"B", "sub/c": b"C"})
    report = flows.push_changes(project.settings, project.changes(rev))
    assert (report.needed, report.moved, report.skipped) == (4, 4, 0)
    assert store_objects(project.central) == store_objects(project.cache)
    # one probe, the files in one upload, then the manifest on its own. This fake, like
    # an old rsync, cannot say what its upload skipped: the files are probed again (are
    # they regular files of the right size?) before the manifest goes up.
    assert fakes[-1].calls == [("probe", 4), ("upload", 3), ("probe", 4), ("upload", 1)]
    again = flows.push_changes(project.settings, project.changes(rev))
    assert (again.moved, again.skipped) == (0, 4)
    assert fakes[-1].calls == [("probe", 4)]  # nothing moved, nothing but the probe


def test_push_of_a_lost_object_changes_nothing(project: Project) -> None:
    rev = project.commit_dir({"a": b"A", "b": b"B"})
    (project.cache / ObjectRef(md5(b"B"), False).relpath).unlink()
    with pytest.raises(MissingObjectsError, match="missing from the DVC cache and from central"):
        flows.push_changes(project.settings, project.changes(rev))
    assert store_objects(project.central) == set()
    assert store_objects(project.local) == set()


def test_a_cut_upload_is_caught_when_the_transport_does_not_confirm(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    rev = project.commit_dir({"a": b"AAAA"})
    cut = ObjectRef(md5(b"AAAA"), False).relpath

    class Cutting(fake.FakeTransport):
        capabilities = transports.Capabilities(confirms_on_exit=False)

        def __init__(self, settings: config.Settings) -> None:
            super().__init__(settings)
            self.truncate = {cut}

    monkeypatch.setattr(fake, "TRANSPORT", Cutting)
    with pytest.raises(MissingObjectsError, match="did not arrive complete on central"):
        flows.push_changes(project.settings, project.changes(rev))


def test_pull_verifies_and_fills_cache_and_local_storage(
        project: Project, fakes: list[fake.FakeTransport]) -> None:
    rev = project.commit_dir({"a": b"A", "b": b"B"}, store=project.central)
    report = flows.pull_changes(project.settings, project.changes(rev), checkout="none")
    assert (report.needed, report.moved) == (3, 3)
    assert store_objects(project.cache) == store_objects(project.central)
    assert store_objects(project.local) == store_objects(project.central)
    # the manifest first (to plan), then the files, without probing: all was there
    assert [verb for verb, _ in fakes[-1].calls] == ["download", "download"]


def test_pull_refuses_a_corrupt_object_from_central(project: Project) -> None:
    rev = project.commit_dir({"a": b"A", "b": b"B"}, store=project.central)
    bad = project.central / ObjectRef(md5(b"B"), False).relpath
    bad.write_bytes(b"X")  # same size, other bytes
    with pytest.raises(CorruptObjectError, match="is corrupt"):
        flows.pull_changes(project.settings, project.changes(rev), checkout="none")
    assert ObjectRef(md5(b"B"), False).relpath not in store_objects(project.cache)
    assert ObjectRef(md5(b"B"), False).relpath not in store_objects(project.local)


def test_upload_queue_runs_lanes_while_objects_arrive(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    src, central = tmp_path / "src", tmp_path / "central"
    central.mkdir()
    refs = []
    for i in range(40):
        data = bytes([i]) * 1000
        ref = ObjectRef(md5(data), False)
        (src / ref.relpath).parent.mkdir(parents=True, exist_ok=True)
        (src / ref.relpath).write_bytes(data)
        refs.append(ref)
    transport = fake.FakeTransport(config.Settings(
        root=tmp_path, central=str(central), transport="fake", remote="r", local=tmp_path,
        jobs=1, timeout=1, ssh_command="ssh", sources={}))
    monkeypatch.setattr(UploadQueue, "PIPELINE_FROM", 1)
    queue = UploadQueue(transport, src, 40_000)
    queue.threshold = 5_000  # a small pile starts the next lane
    assert queue.pipelined and queue.lanes == 2
    for i, ref in enumerate(refs):
        queue.ready(ref, 1000)
        if i == 9:  # a lane sends before the rest arrive, however the threads are scheduled
            deadline = time.monotonic() + 30
            while not any(verb == "upload" for verb, _ in transport.calls):
                assert time.monotonic() < deadline, "no lane started while objects arrived"
                time.sleep(0.01)
    queue.finish()
    uploads = [n for verb, n in transport.calls if verb == "upload"]
    assert sum(uploads) == 40 and len(uploads) > 1
    assert store_objects(central) == {r.relpath for r in refs}


def test_pull_paths_name_outputs_pointer_files_or_directories() -> None:
    """`dvc-synced pull PATH`: an output, its .dvc file, a directory holding outputs; a
    path inside an output or naming none gets a one-line error naming the fix."""
    from dvc_synced_plugin.dvcfiles.pointers import Out
    from dvc_synced_plugin.errors import SyncError

    outs = [Out("data/raw", "data/raw", "0" * 32 + ".dir", False, "data/raw.dvc",
                "data/raw.dvc"),
            Out("s:out/a", "out/a", "1" * 32, False, "dvc.lock", "dvc.yaml:s"),
            Out("s:out/b", "out/b", "2" * 32, False, "dvc.lock", "dvc.yaml:s")]
    assert flows.named_outputs(outs, ["data/raw"]) == {"data/raw"}
    assert flows.named_outputs(outs, ["data/raw.dvc", "out/b"]) == {"data/raw", "out/b"}
    assert flows.named_outputs(outs, ["out/"]) == {"out/a", "out/b"}
    assert flows.named_outputs(outs, ["."]) == {"data/raw", "out/a", "out/b"}
    with pytest.raises(SyncError, match=r"inside the output data/raw: .*pull data/raw`"):
        flows.named_outputs(outs, ["data/raw/part0.csv"])
    with pytest.raises(SyncError, match="no DVC output of HEAD"):
        flows.named_outputs(outs, ["data/other"])
