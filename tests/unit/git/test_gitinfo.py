"""gitinfo against real git: which pointer files changed, across merges and odd names."""

from __future__ import annotations

from pathlib import Path

import pytest

from dvc_synced_plugin.errors import ConfigError, SyncError
from dvc_synced_plugin.git import gitinfo
from tests.conftest import GitRepo, run


def blobs_at(repo: GitRepo, rev: str) -> dict[str, str]:
    return dict(gitinfo.pointers_at(repo.root, rev))


@pytest.mark.parametrize(("path", "expected"), [
    ("data.dvc", True), ("a/b/model.pkl.dvc", True), ("dvc.lock", True), ("sub/dvc.lock", True),
    (".dvc/config", False), (".dvc/tmp/x.dvc", False), ("sub/.dvc/x.dvc", False),
    (".dvc", False), ("dvc.yaml", True), ("sub/dvc.yaml", True),
    ("notes.dvc.txt", False), ("dvc.lock.bak", False),
])
def test_is_pointer_path(path: str, expected: bool) -> None:
    assert gitinfo.is_pointer_path(path) is expected


def test_changes_between_and_pointers_at(git_repo: GitRepo) -> None:
    a = git_repo.commit("a", **{"a.dvc": "1", "x/dvc.lock": "1", "readme.txt": "r"})
    b = git_repo.commit("b", **{"a.dvc": "2", "x/y/b.dvc": "1", "x/dvc.lock": None})
    assert set(blobs_at(git_repo, a)) == {"a.dvc", "x/dvc.lock"}
    changes = {c.path: c for c in gitinfo.changes_between(git_repo.root, a, b)}
    assert set(changes) == {"a.dvc", "x/y/b.dvc", "x/dvc.lock"}
    assert changes["a.dvc"].old_blob == blobs_at(git_repo, a)["a.dvc"]
    assert changes["a.dvc"].new_blob == blobs_at(git_repo, b)["a.dvc"]
    assert changes["x/y/b.dvc"].old_blob is None  # added
    assert changes["x/dvc.lock"].new_blob is None  # deleted
    full = gitinfo.changes_between(git_repo.root, None, b)  # None: everything of b
    assert {c.path for c in full} == {"a.dvc", "x/y/b.dvc"}
    assert all(c.old_blob is None and c.commit == b for c in full)
    assert gitinfo.changes_between(git_repo.root, b, b) == []


def test_odd_file_names(git_repo: GitRepo) -> None:
    names = ["with space.dvc", "naïve/空.dvc", "new\nline.dvc", "-dash.dvc", "quote\"'.dvc"]
    rev = git_repo.commit("odd", **{n: n for n in names})
    got = blobs_at(git_repo, rev)
    assert set(got) == set(names)
    contents = gitinfo.read_blobs(git_repo.root, got.values())
    assert {contents[b].decode() for b in got.values()} == set(names)


def test_symlink_and_submodule_carry_no_pointer(git_repo: GitRepo) -> None:
    base = git_repo.commit("base", **{"real.dvc": "1"})
    (git_repo.root / "link.dvc").symlink_to("real.dvc")
    git_repo.git("add", "link.dvc")
    rev = git_repo.commit("link")
    assert gitinfo.changes_between(git_repo.root, base, rev) == []
    # A file replaced by a symlink: the pointer is gone.
    (git_repo.root / "real.dvc").unlink()
    (git_repo.root / "real.dvc").symlink_to("link.dvc")
    git_repo.git("add", "real.dvc")
    rev2 = git_repo.commit("replace")
    [change] = gitinfo.changes_between(git_repo.root, rev, rev2)
    assert change.path == "real.dvc" and change.new_blob is None


def test_changes_in_commits_across_a_merge(git_repo: GitRepo) -> None:
    """Every pointer blob of the pushed tips that the excluded side lacks is in the union."""
    base = git_repo.commit("base", **{"a.dvc": "a1", "keep.dvc": "k"})
    git_repo.git("switch", "-q", "-c", "feature")
    git_repo.commit("f1", **{"a.dvc": "a2"})
    git_repo.commit("f2", **{"f.dvc": "f1"})
    git_repo.git("switch", "-q", "main")
    git_repo.commit("m1", **{"m.dvc": "m1"})
    git_repo.git("merge", "-q", "--no-edit", "feature")
    merge = git_repo.git("rev-parse", "HEAD")
    assert len(git_repo.git("rev-list", "--parents", "-n", "1", merge).split()) == 3

    changes = gitinfo.changes_in_commits(git_repo.root, [merge], exclude=[base])
    assert {c.commit for c in changes} <= set(git_repo.git("rev-list", merge).split())
    new_blobs = {(c.path, c.new_blob) for c in changes if c.new_blob}
    at_merge = set(blobs_at(git_repo, merge).items())
    at_base = set(blobs_at(git_repo, base).items())
    assert at_merge - at_base <= new_blobs
    assert ("keep.dvc", blobs_at(git_repo, base)["keep.dvc"]) not in new_blobs

    # Nothing new when the tips are already excluded; a null/empty tip is ignored.
    assert gitinfo.changes_in_commits(git_repo.root, [merge], exclude=[merge]) == []
    assert gitinfo.changes_in_commits(git_repo.root, ["", gitinfo.NULL_SHA]) == []


def test_evil_merge_content_is_seen(git_repo: GitRepo) -> None:
    """A merge that resolves a conflict with a third version introduces that blob itself."""
    base = git_repo.commit("base", **{"a.dvc": "0"})
    git_repo.git("switch", "-q", "-c", "other")
    git_repo.commit("other", **{"a.dvc": "other"})
    git_repo.git("switch", "-q", "main")
    git_repo.commit("mine", **{"a.dvc": "mine"})
    git_repo.git("merge", "-q", "other", check=False)  # conflicts
    resolved = git_repo.write("a.dvc", "resolved")
    git_repo.git("add", "a.dvc")
    git_repo.git("commit", "-q", "--no-edit")
    merge = git_repo.git("rev-parse", "HEAD")
    changes = gitinfo.changes_in_commits(git_repo.root, [merge], exclude=[base])
    assert ("a.dvc", resolved) in {(c.path, c.new_blob) for c in changes}
    assert [c.commit for c in changes if c.new_blob == resolved] == [merge]


def test_changes_in_commits_excludes_remote_tracking_refs(
    git_repo: GitRepo, tmp_path: Path
) -> None:
    server = tmp_path / "server.git"
    run(["git", "init", "-q", "--bare", str(server)], tmp_path)
    git_repo.git("remote", "add", "origin", str(server))
    git_repo.commit("one", **{"one.dvc": "1"})
    git_repo.git("push", "-q", "origin", "main")
    two = git_repo.commit("two", **{"two.dvc": "2"})
    changes = gitinfo.changes_in_commits(git_repo.root, [two], exclude_remote="origin")
    assert [(c.path, c.commit) for c in changes] == [("two.dvc", two)]
    # Without the remote's refs, the root commit's pointers count too (--root).
    every = gitinfo.changes_in_commits(git_repo.root, [two])
    assert {c.path for c in every} == {"one.dvc", "two.dvc"}


def test_changes_to_index(git_repo: GitRepo) -> None:
    git_repo.commit("base", **{"a.dvc": "1"})
    blob = git_repo.write("a.dvc", "2")
    git_repo.git("add", "a.dvc")
    [change] = gitinfo.changes_to_index(git_repo.root)
    assert (change.path, change.new_blob) == ("a.dvc", blob)


def test_rev_parse_errors(git_repo: GitRepo) -> None:
    with pytest.raises(ConfigError, match="no commits yet"):
        gitinfo.rev_parse(git_repo.root, "HEAD")
    sha = git_repo.commit("one")
    assert gitinfo.rev_parse(git_repo.root, "main") == sha
    git_repo.git("tag", "-a", "-m", "annotated", "v1")
    assert gitinfo.rev_parse(git_repo.root, "v1") == sha  # peeled to the commit
    for bad in ("nope", "--all", "-h", "main..main", f"{sha}:missing"):
        with pytest.raises(ConfigError, match="unknown revision"):
            gitinfo.rev_parse(git_repo.root, bad)
    git_repo.write("f", "x")
    with pytest.raises(ConfigError, match="unknown revision"):  # a blob, not a commit
        gitinfo.rev_parse(git_repo.root, git_repo.git("hash-object", "-w", "f"))
    assert gitinfo.known_commits(git_repo.root, [sha]) == [sha]
    assert not gitinfo.known_commits(git_repo.root, [gitinfo.NULL_SHA])
    assert not gitinfo.known_commits(git_repo.root, ["1" * 40])


def test_toplevel_and_git_errors(git_repo: GitRepo, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(ConfigError, match="not inside a git work tree"):
        gitinfo.toplevel(outside)
    (git_repo.root / "deep" / "er").mkdir(parents=True)
    assert gitinfo.toplevel(git_repo.root / "deep" / "er") == git_repo.root.resolve()
    with pytest.raises(SyncError) as err:
        gitinfo.git(git_repo.root, "ls-remote", "--", "no-such-remote")
    assert "no-such-remote" in str(err.value) and "\n" not in str(err.value)


def test_read_blobs_skips_unknown_names(git_repo: GitRepo) -> None:
    rev = git_repo.commit("one", **{"a.dvc": "A", "empty.dvc": ""})
    got = gitinfo.read_blobs(git_repo.root, [f"{rev}:a.dvc", f"{rev}:empty.dvc",
                                             f"{rev}:missing", "0" * 40, ""])
    assert got == {f"{rev}:a.dvc": b"A", f"{rev}:empty.dvc": b""}
    assert gitinfo.read_blobs(git_repo.root, []) == {}


def test_remote_revisions_peel_annotated_tags(git_repo: GitRepo, tmp_path: Path) -> None:
    """verify's default: each commit a branch or tag on the remote names, once."""
    from dvc_synced_plugin.git.remotes import remote_revisions

    server = tmp_path / "server.git"
    run(["git", "init", "-q", "--bare", str(server)], tmp_path)
    git_repo.git("remote", "add", "origin", str(server))
    one = git_repo.commit("one")
    git_repo.git("tag", "-a", "-m", "release", "v1")
    git_repo.git("tag", "light")
    two = git_repo.commit("two")
    git_repo.git("push", "-q", "origin", "main", "v1", "light")
    assert remote_revisions(git_repo.root, "origin") == sorted([one, two])
