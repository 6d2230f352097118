"""The plan: which objects a pointer change adds (`.dir` deltas, manifests from central,
hostile manifests in a revision), and the safety check of a manifest against its base."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import pytest

from dvc_synced_plugin.dvcfiles.objects import ObjectRef, ObjectSet
from dvc_synced_plugin.errors import CorruptObjectError, MissingObjectsError, SyncError
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.storage.stores import ObjectStore
from dvc_synced_plugin.sync.plan import ManifestSource, plan_changes
from tests.conftest import GitRepo
from tests.fake_transport import FakeTransport


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def manifest(entries: dict[str, bytes]) -> bytes:
    return json.dumps([{"md5": md5(v), "relpath": k} for k, v in sorted(entries.items())]).encode()


def dir_oid(data: bytes) -> str:
    return md5(data) + ".dir"


def pointer(oid: str, path: str = "data", legacy: bool = False) -> str:
    return f"outs:\n- md5: {oid}\n  path: {path}\n" + ("" if legacy else "  hash: md5\n")


class Manifests(ManifestSource):
    """A manifest source over a real local store (`local` blobs) and the fake transport
    to a central directory (`central` blobs)."""

    def __init__(self, *local: bytes, central: tuple[bytes, ...] = ()) -> None:
        import tempfile

        base = Path(tempfile.mkdtemp(prefix="manifests-"))
        store = ObjectStore(base / "local", "local storage")
        for blob, legacy in ((b, legacy) for b in local for legacy in (False, True)):
            path = store.path(ObjectRef(dir_oid(blob), legacy))  # either layout
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob)
        for blob in central:
            path = base / "central" / ObjectRef(dir_oid(blob), False).relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob)
        (base / "central").mkdir(exist_ok=True)
        (base / "staging").mkdir()
        self.fake = FakeTransport(SimpleNamespace(central=str(base / "central"), root=base))
        super().__init__([store], lambda: self.fake, lambda: base / "staging")


def plan(repo: GitRepo, changes: list[gitinfo.PointerChange], manifests: Manifests,
         strict: bool = True) -> ObjectSet:
    return plan_changes(repo.root, changes, manifests, strict)


# ------------------------------------------------------------------------- needed objects


def needed(repo: GitRepo, old: Optional[str], new: str, manifests: Manifests) -> ObjectSet:
    return plan(repo, gitinfo.changes_between(repo.root, old, new), manifests)


def test_a_whole_manifest_can_be_left_to_the_caller(git_repo: GitRepo) -> None:
    """`stream_whole` (fetch): a directory with no older version here is planned as its
    manifest alone, its entries unread (at 10^6 they were ~500 MB of refs); one with an
    older version here still gets its delta."""
    v1 = manifest({"a": b"A", "b": b"B"})
    v2 = manifest({"a": b"A", "b": b"B2"})
    reader = Manifests(v1, v2)
    r1 = git_repo.commit("v1", **{"data.dvc": pointer(dir_oid(v1))})
    r2 = git_repo.commit("v2", **{"data.dvc": pointer(dir_oid(v2))})
    whole = plan_changes(git_repo.root, gitinfo.changes_between(git_repo.root, None, r2),
                         reader, stream_whole=True)
    assert whole.whole == [ObjectRef(dir_oid(v2), False)] and not whole.files
    assert set(whole.dirs) == {ObjectRef(dir_oid(v2), False).relpath} and not whole.deltas
    delta = plan_changes(git_repo.root, gitinfo.changes_between(git_repo.root, r1, r2),
                         reader, stream_whole=True)
    assert not delta.whole and [r.oid for r in delta.files.values()] == [md5(b"B2")]


def test_dir_delta_needs_only_changed_entries(git_repo: GitRepo) -> None:
    v1 = manifest({"a": b"A", "b": b"B", "sub/c": b"C"})
    v2 = manifest({"a": b"A", "b": b"B2", "sub/c": b"C", "new": b"N", "copy of a": b"C"})
    reader = Manifests(v1, v2)
    r1 = git_repo.commit("v1", **{"data.dvc": pointer(dir_oid(v1))})
    r2 = git_repo.commit("v2", **{"data.dvc": pointer(dir_oid(v2))})
    objs = needed(git_repo, r1, r2, reader)
    assert objs.unknown == []
    got = {r.oid for r in objs.all()}
    # A new name for content v1 had may be listed (it costs a probe, never a transfer).
    assert got - {md5(b"C")} == {dir_oid(v2), md5(b"B2"), md5(b"N")}
    assert objs.all()[-1].oid == dir_oid(v2)  # the manifest goes last
    assert objs.targets == {"data.dvc"}
    # The whole revision needs everything of v2 once (the duplicate entry is one object).
    full = needed(git_repo, None, r2, reader)
    assert {r.oid for r in full.all()} == {
        dir_oid(v2), md5(b"A"), md5(b"B2"), md5(b"C"), md5(b"N")}


def test_unchanged_renamed_and_deleted_outputs_need_nothing(git_repo: GitRepo) -> None:
    reader = Manifests()
    r1 = git_repo.commit("v1", **{"a.dvc": pointer(md5(b"a"), "a")})
    r2 = git_repo.commit("touch", **{"a.dvc": pointer(md5(b"a"), "a") + "# comment\n"})
    assert len(needed(git_repo, r1, r2, reader)) == 0
    r3 = git_repo.commit("delete", **{"a.dvc": None})
    assert len(needed(git_repo, r2, r3, reader)) == 0
    r4 = git_repo.commit("two outputs", **{
        "b.dvc": pointer(md5(b"a"), "b") + pointer(md5(b"b"), "c")[len("outs:\n"):]})
    assert {r.oid for r in needed(git_repo, r3, r4, reader).all()} == {md5(b"a"), md5(b"b")}


def test_legacy_outputs_keep_the_legacy_layout(git_repo: GitRepo) -> None:
    inner = manifest({"f": b"F"})
    reader = Manifests(inner)
    rev = git_repo.commit("legacy", **{"old.dvc": pointer(dir_oid(inner), "old", legacy=True)})
    objs = needed(git_repo, None, rev, reader)
    assert {r.relpath for r in objs.all()} == {
        f"{md5(b'F')[:2]}/{md5(b'F')[2:]}", f"{dir_oid(inner)[:2]}/{dir_oid(inner)[2:]}"}


def test_dvc_lock_outputs_and_uncached_ones(git_repo: GitRepo) -> None:
    lock = (f"schema: '2.0'\nstages:\n  s:\n    cmd: x\n    outs:\n"
            f"    - path: o\n      hash: md5\n      md5: {md5(b'o')}\n"
            f"    - path: tmp\n      hash: md5\n      md5: {md5(b't')}\n")
    yaml = "stages:\n  s:\n    cmd: x\n    outs:\n    - o\n    - tmp:\n        cache: false\n"
    rev = git_repo.commit("stage", **{"p__dvc.lock": lock, "p__dvc.yaml": yaml})
    objs = needed(git_repo, None, rev, Manifests())
    assert {r.oid for r in objs.all()} == {md5(b"o")}
    assert objs.targets == {"p/dvc.yaml:s"}


def stage_with_uncached_metric() -> tuple[str, str]:
    """dvc.lock and dvc.yaml of a stage with a cached output `o` and an uncached `m.json`."""
    lock = (f"schema: '2.0'\nstages:\n  s:\n    cmd: x\n    outs:\n"
            f"    - path: o\n      hash: md5\n      md5: {md5(b'o')}\n"
            f"    - path: m.json\n      hash: md5\n      md5: {md5(b'm')}\n")
    yaml = "stages:\n  s:\n    cmd: x\n    outs:\n    - o\n    - m.json:\n        cache: false\n"
    return lock, yaml


def test_uncached_outputs_are_not_needed_between_two_revisions(git_repo: GitRepo) -> None:
    """The hooks diff old..new: dvc.yaml's `cache: false` must count there too."""
    base = git_repo.commit("base", **{"readme": "r"})
    lock, yaml = stage_with_uncached_metric()
    rev = git_repo.commit("stage", **{"dvc.lock": lock, "dvc.yaml": yaml})
    objs = needed(git_repo, base, rev, Manifests())
    assert {r.oid for r in objs.all()} == {md5(b"o")}


def test_staged_changes_read_dvc_yaml_from_the_index(git_repo: GitRepo) -> None:
    """A squash merge leaves its result staged: dvc.yaml's flags come from the index."""
    git_repo.commit("base", **{"readme": "r"})
    lock, yaml = stage_with_uncached_metric()
    git_repo.write("dvc.lock", lock)
    git_repo.write("dvc.yaml", yaml)
    git_repo.git("add", "dvc.lock", "dvc.yaml")
    changes = gitinfo.changes_to_index(git_repo.root)
    assert {c.commit for c in changes} == {gitinfo.INDEX}  # dvc.lock and dvc.yaml
    objs = plan(git_repo, changes, Manifests())
    assert {r.oid for r in objs.all()} == {md5(b"o")}


def test_unknown_manifest_comes_from_central_verified(git_repo: GitRepo) -> None:
    inner = manifest({"x": b"X", "y": b"Y"})
    rev = git_repo.commit("dir", **{"d.dvc": pointer(dir_oid(inner), "d")})
    source = Manifests(central=(inner,))  # on no local store, on central
    objs = needed(git_repo, None, rev, source)
    assert {r.oid for r in objs.all()} == {dir_oid(inner), md5(b"X"), md5(b"Y")}
    assert source.fake.calls == [("download", 1)]  # one batch, no probe when all is there
    assert source.checks[dir_oid(inner)].result() is None  # its safety check ran
    with pytest.raises(MissingObjectsError, match="of d are in no cache, local storage nor"):
        needed(git_repo, None, rev, Manifests())
    lenient = plan(git_repo, gitinfo.changes_between(git_repo.root, None, rev), Manifests(),
                   strict=False)
    assert lenient.unknown == ["d"] and {r.oid for r in lenient.all()} == {dir_oid(inner)}


def test_a_corrupt_manifest_from_central_is_refused(git_repo: GitRepo) -> None:
    inner = manifest({"x": b"X"})
    rev = git_repo.commit("dir", **{"d.dvc": pointer(dir_oid(inner), "d")})
    source = Manifests(central=(inner,))
    path = Path(source.fake.path) / ObjectRef(dir_oid(inner), False).relpath
    path.write_bytes(inner.replace(b"relpath", b"relpat_"))  # same size, other bytes
    with pytest.raises(CorruptObjectError, match="manifest .* of d is corrupt"):
        needed(git_repo, None, rev, source)


def test_hostile_manifest_in_a_revision_is_refused(git_repo: GitRepo) -> None:
    evil = json.dumps([{"md5": "../../../x", "relpath": "x"}]).encode()
    rev = git_repo.commit("evil", **{"d.dvc": pointer(dir_oid(evil), "d")})
    with pytest.raises(SyncError, match="not a file hash"):
        needed(git_repo, None, rev, Manifests(evil))


# ------------------------------------------------------------- safety check of a delta


def _dvc_manifest(n: int, seed: int = 0) -> bytes:
    import random

    rng = random.Random(seed)
    return json.dumps([{"md5": rng.randbytes(16).hex(), "relpath": f"d{i // 50}/f{i:04d}.txt"}
                       for i in range(n)], sort_keys=True).encode()


def test_safety_check_against_a_clean_base_agrees_with_the_full_check(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A new manifest proven against an older clean version gets exactly the verdict of
    the full check: hostile entries, separators inside names, broken JSON, whatever a
    random edit makes. Small blocks make many regions in a small text."""
    import random

    from dvc_synced_plugin import manifest_text, safety

    monkeypatch.setattr(manifest_text, "BLOCK", 64)
    base = _dvc_manifest(300)
    assert safety.manifest_check("x" * 32 + ".dir", base, "data") == (None, True)
    rng = random.Random(1)
    pieces = [b'"', b"\\", b"/", b"..", b".git", b"}, {", b'{"md5": "', b", ", b"a", b"0",
              b'", "relpath": "', b"\x00", b"\xc3\xa9", b"../", b"}", b"{"]
    verdicts = {True: 0, False: 0}
    for trial in range(3000):
        new = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(new))
            cut = rng.choice([0, 0, 1, 3, 32])
            new[at:at + cut] = rng.choice(pieces) if rng.random() < 0.8 else b""
        if trial % 3 == 0:  # a well-formed hostile entry in place of a plain one
            new = bytearray(base.replace(b'"relpath": "d3/f0170.txt"',
                                         rng.choice([b'"relpath": "../../x.txt"',
                                                     b'"relpath": "d3/.git/hooks/x"',
                                                     b'"relpath": "d3/f0170}, {.txt"',
                                                     b'"relpath": "d3//f0170.txt"'])))
        data = bytes(new)
        oid = md5(data) + ".dir"
        safety._PROVEN.discard(oid)
        expected = safety.unsafe_manifest(data, "data") is None
        legacy = re.compile(rb"\[(?:" + safety._PLAIN_ENTRY + rb"(?:, " + safety._PLAIN_ENTRY
                            + rb")*)?\]")  # the backtracking form: the same verdicts
        assert (safety._PLAIN_MANIFEST.fullmatch(data) is None) == (
            legacy.fullmatch(data) is None), data[:200]
        safety._PROVEN.discard(oid)
        got, clean = safety.manifest_check(oid, data, "data", base=base)
        assert (got is None) == expected, (trial, data[:200])
        if clean:
            assert safety._plainly_safe(data) and safety._separators_only(data)
        verdicts[expected] += 1
    assert verdicts[True] > 100 and verdicts[False] > 100, verdicts


def test_delta_check_skips_the_full_regex(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    """A change of a few entries against a version the local storage proved clean is
    checked without the full-text regex; the proof is recorded for the next change."""
    from dvc_synced_plugin import safety

    base = _dvc_manifest(2000)
    store = ObjectStore(tmp_path / "local", "local storage", record_proofs=True)
    base_ref = ObjectRef(md5(base) + ".dir", False, "data")
    store.path(base_ref).parent.mkdir(parents=True)
    store.path(base_ref).write_bytes(base)
    assert store.manifest_problem(base_ref, base) is None  # full check, recorded
    entries = json.loads(base)
    entries[350]["md5"] = "0" * 32
    entries[1999]["md5"] = "1" * 32
    new = json.dumps(entries, sort_keys=True).encode()
    new_ref = ObjectRef(md5(new) + ".dir", False, "data")
    safety.note_base(new_ref.oid, base_ref.oid)

    def no_full_regex(data: bytes) -> bool:
        raise AssertionError("the full-text regex ran")

    monkeypatch.setattr(safety, "_plainly_safe", no_full_regex)
    fresh = ObjectStore(tmp_path / "local", "local storage", record_proofs=True)
    assert fresh.manifest_problem(new_ref, new) is None
    listed = (tmp_path / "local" / ".dvc-synced" / "clean-manifests").read_text().split()
    assert listed == [base_ref.oid, new_ref.oid]
    hostile = new.replace(b'"relpath": "d7/f0351.txt"', b'"relpath": "../../f0351.txt"')
    bad_ref = ObjectRef(md5(hostile) + ".dir", False, "data")
    safety.note_base(bad_ref.oid, new_ref.oid)
    monkeypatch.undo()
    assert "not a plain path" in (fresh.manifest_problem(bad_ref, hostile) or "")


def test_a_selection_plans_only_selected_outputs_each_by_its_path(git_repo: GitRepo) -> None:
    """Fetch patterns: excluded outputs move nothing and are listed; selected ones are
    checked out by their own path (a stage's target would bring its excluded outputs);
    an excluded output's data is not taken for present when a selected one reuses it."""
    from dvc_synced_plugin.selection import Selection

    lock = (f"schema: '2.0'\nstages:\n  s:\n    cmd: x\n    outs:\n"
            f"    - path: keep\n      hash: md5\n      md5: {md5(b'k')}\n"
            f"    - path: skip\n      hash: md5\n      md5: {md5(b's')}\n")
    yaml = "stages:\n  s:\n    cmd: x\n    outs:\n    - keep\n    - skip\n"
    r1 = git_repo.commit("v1", **{"dvc.lock": lock, "dvc.yaml": yaml,
                                  "raw.dvc": pointer(md5(b"r"), "raw")})
    select = Selection(exclude=("raw", "skip"))
    objs = plan_changes(git_repo.root, gitinfo.changes_between(git_repo.root, None, r1),
                        Manifests(), select=select)
    assert {r.oid for r in objs.all()} == {md5(b"k")}
    assert objs.targets == {"keep"} and sorted(objs.excluded) == ["raw", "skip"]
    # raw's output moves to a selected path: raw never came, so its data is needed now.
    r2 = git_repo.commit("move", **{"raw.dvc": pointer(md5(b"r"), "sel")})
    moved = plan_changes(git_repo.root, gitinfo.changes_between(git_repo.root, r1, r2),
                         Manifests(), select=select)
    assert {r.oid for r in moved.all()} == {md5(b"r")}
    # Without a selection: the stage is the target, and the moved data is here already.
    assert plan(git_repo, gitinfo.changes_between(git_repo.root, None, r1),
                Manifests()).targets == {"dvc.yaml:s", "raw.dvc"}
    assert len(plan(git_repo, gitinfo.changes_between(git_repo.root, r1, r2),
                    Manifests())) == 0
