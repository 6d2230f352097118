"""What git says: repository paths, revisions, and which DVC pointer files changed.

Plain `git` subprocess calls: this module sits on the hooks' fast path, where importing
GitPython or DVC would cost more than the git calls themselves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from dvc_synced_plugin.errors import ConfigError, SyncError

NULL_SHA = "0" * 40
INDEX = ":0"  # PointerChange.commit of a staged, not yet committed change
# Git pathspecs: `*` matches `/` here, so these reach pointer files at any depth. dvc.yaml
# counts: its flags (`cache`, `push`, `remote`, `wdir`) decide what its dvc.lock means.
POINTER_PATHSPECS = ("*.dvc", "dvc.lock", "*/dvc.lock", "dvc.yaml", "*/dvc.yaml")


@dataclass(frozen=True)
class PointerChange:
    """One pointer file (.dvc or dvc.lock) that differs between two trees."""

    path: str
    old_blob: Optional[str]  # None: the file is new
    new_blob: Optional[str]  # None: the file was deleted
    commit: str = ""  # the revision the new side is read at (its dvc.yaml, params, ...)
    base: str = ""  # the revision the old side is read at ("": the old blob alone)


def is_pointer_path(path: str) -> bool:
    """A .dvc file, a dvc.lock or a dvc.yaml, not anything inside DVC's own .dvc/ directory."""
    if path.startswith(".dvc/") or "/.dvc/" in path:
        return False
    name = path.rsplit("/", 1)[-1]
    return name in ("dvc.lock", "dvc.yaml") or (name.endswith(".dvc") and name != ".dvc")


def git(
    root: Path | str, *args: str, input: Optional[bytes] = None, check: bool = True,
    index: Optional[Path] = None,
) -> bytes:
    """Run git in `root` and return stdout; a failure becomes one SyncError line.
    `index`: a scratch index file instead of the work tree's (GIT_INDEX_FILE)."""
    proc = subprocess.run(
        ["git", *args],
        cwd=root,
        input=input,
        capture_output=True,
        env={**os.environ, "GIT_INDEX_FILE": str(index)} if index else None,
    )
    if check and proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        # git's first fatal/error line says what is wrong; its last is often generic advice.
        errors = [m for m in msg if m.startswith(("fatal:", "error:"))]
        detail = (errors or msg or [f"exit {proc.returncode}"])[0 if errors else -1]
        raise SyncError(f"git {args[0]} failed: {detail}")
    return proc.stdout


def toplevel(cwd: Path | str = ".") -> Path:
    """The work tree root; a clear error outside a git repository."""
    proc = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"],
        cwd=cwd,
        capture_output=True,
    )
    out = proc.stdout.decode().strip()
    if proc.returncode != 0 or not out:
        raise ConfigError(
            f"{os.path.abspath(cwd)} is not inside a git work tree: "
            "run dvc-synced from your project's clone"
        )
    return Path(out)


def git_dir(root: Path) -> Path:
    """This work tree's own git directory (differs per linked worktree), asked once."""
    key = os.path.abspath(root)
    if key not in _GIT_DIRS:
        out = git(root, "rev-parse", "--git-dir").decode().strip()
        _GIT_DIRS[key] = Path(os.path.abspath(os.path.join(key, out)))
    return _GIT_DIRS[key]


_GIT_DIRS: dict[str, Path] = {}

# The one place in the git dir where this clone's dvc-synced state lives: the workspace
# state, the memos, the locks of the work tree, the schedule's log.
STATE_DIR = "dvc-synced"


def state_dir(root: Path) -> Path:
    """`<git-dir>/dvc-synced` of this work tree (each linked worktree has its own)."""
    return git_dir(root) / STATE_DIR


def rev_parse(root: Path, rev: str) -> str:
    """Full sha of a commit; a clear error for an unknown revision or an empty repository."""
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
        cwd=root,
        capture_output=True,
    )
    sha = proc.stdout.decode().strip()
    if proc.returncode != 0 or not sha:
        if rev == "HEAD":
            raise ConfigError("the repository has no commits yet: commit your .dvc files first")
        raise ConfigError(f"unknown revision {rev!r}: name a commit, branch or tag that exists")
    return sha


def known_commits(root: Path, shas: Iterable[str]) -> list[str]:
    """Those of `shas` that are commits here, in one git call (a remote tip may be unknown)."""
    wanted = sorted({s for s in shas if s and s != NULL_SHA})
    if not wanted:
        return []
    out = git(root, "cat-file", "--batch-check=%(objectname) %(objecttype)",
              input="".join(f"{s}\n" for s in wanted).encode(), check=False)
    return [sha for sha, _, kind in (ln.partition(" ") for ln in out.decode().splitlines())
            if kind == "commit"]


def _parse_raw_z(out: bytes, with_commits: bool) -> list[PointerChange]:
    """Parse `git diff-tree -r -z --raw` output (optionally with commit lines from --stdin)."""
    changes: list[PointerChange] = []
    fields = out.split(b"\0")
    commit = ""
    i = 0
    while i < len(fields):
        field = fields[i]
        if not field:
            i += 1
            continue
        if not field.startswith(b":"):
            if with_commits:
                commit = field.decode()
            i += 1
            continue
        meta = field[1:].decode().split(" ")
        old_blob, new_blob, status = meta[2], meta[3], meta[4]
        path = fields[i + 1].decode("utf-8", "surrogateescape")
        i += 2
        if not is_pointer_path(path):
            continue
        # Only regular files carry pointers; a symlink or submodule at that path does not.
        old_mode, new_mode = meta[0], meta[1]
        old = None if status == "A" or not old_mode.startswith("100") else old_blob
        new = None if status == "D" or not new_mode.startswith("100") else new_blob
        if old != new:
            # --diff-merges=first-parent: the old side is the commit's first parent.
            changes.append(PointerChange(path, old, new, commit, f"{commit}^" if commit else ""))
    return changes


def changes_between(root: Path, old: Optional[str], new: str) -> list[PointerChange]:
    """Pointer files that differ between two commits (old None: every pointer of `new`)."""
    if old is None or old == NULL_SHA:
        return [PointerChange(path, None, blob, new) for path, blob in pointers_at(root, new)]
    out = git(
        root, "diff-tree", "-r", "-z", "--no-abbrev", "--no-renames", old, new, "--",
        *POINTER_PATHSPECS,
    )
    # `commit` names where a dvc.lock's dvc.yaml is read (its `cache: false` outputs).
    return [PointerChange(c.path, c.old_blob, c.new_blob, new, old)
            for c in _parse_raw_z(out, with_commits=False)]


def changes_to_index(root: Path) -> list[PointerChange]:
    """Pointer files staged but not committed (a squash merge leaves its result there)."""
    out = git(
        root, "diff-index", "--cached", "-r", "-z", "--no-abbrev", "--no-renames", "HEAD", "--",
        *POINTER_PATHSPECS,
    )
    # ":0" names the index in `<rev>:<path>` lookups, so dvc.yaml is read from there too.
    return [replace(c, commit=INDEX, base="HEAD") for c in _parse_raw_z(out, with_commits=False)]


def index_tree(root: Path) -> str:
    """The index as a tree. A merge stopped on conflicts leaves unmerged entries, which
    `git write-tree` refuses; in a scratch copy of the index they take HEAD's version
    (ours): the staged sync leaves their outputs at HEAD's data, and the resolution's
    commit brings what was chosen. The real index is never written."""
    listed = git(root, "diff", "--name-only", "--diff-filter=U", "-z")
    unmerged = [p for p in listed.split(b"\0") if p]
    if not unmerged:
        return git(root, "write-tree").decode().strip()
    with tempfile.TemporaryDirectory(prefix="dvc-synced-index-") as scratch:
        index = Path(scratch) / "index"
        shutil.copyfile(git_dir(root) / "index", index)
        git(root, "update-index", "-z", "--force-remove", "--stdin",
            input=b"".join(p + b"\0" for p in unmerged), index=index)
        ours = git(root, "--literal-pathspecs", "ls-tree", "-r", "-z", "--full-tree", "HEAD",
                   "--", *[p.decode("utf-8", "surrogateescape") for p in unmerged])
        if ours:  # a path HEAD lacks (added there only) stays out, as in HEAD
            git(root, "update-index", "-z", "--index-info", input=ours, index=index)
        return git(root, "write-tree", index=index).decode().strip()


def unmerged_paths(root: Path) -> set[str]:
    """Pointer files the index holds in conflict (a merge stopped on them)."""
    out = git(root, "diff", "--name-only", "--diff-filter=U", "-z", "--", *POINTER_PATHSPECS)
    return {p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p}


def changes_in_commits(
    root: Path, tips: Iterable[str], exclude: Iterable[str] = (), exclude_remote: str = "",
    since: str = "",
) -> list[PointerChange]:
    """Pointer changes each new commit makes against its first parent.

    A commit is new when it is reachable from `tips` and not from `exclude` nor from the
    remote-tracking refs of `exclude_remote`. Every pointer blob of a new commit is either
    inherited from an old commit or introduced by one of these diffs, so their union is
    exactly what must reach the storage (git-lfs walks pushes the same way).
    `since` (a git date, e.g. "@1700000000") keeps only commits made after it.
    """
    tips = [t for t in tips if t and t != NULL_SHA]
    if not tips:
        return []
    args = ["rev-list", *tips, "--not", *[e for e in exclude if e and e != NULL_SHA]]
    if exclude_remote:
        args.append(f"--remotes={exclude_remote}")
    if since:
        args.append(f"--since={since}")
    commits = git(root, *args)
    if not commits.strip():
        return []
    out = git(
        root, "diff-tree", "--stdin", "-r", "-z", "--no-abbrev", "--no-renames", "--root",
        "--diff-merges=first-parent", "--", *POINTER_PATHSPECS, input=commits,
    )
    return _parse_raw_z(out, with_commits=True)


def empty_tree(root: Path) -> str:
    """The empty tree's id in this repository's hash algorithm."""
    return git(root, "hash-object", "-t", "tree", "--stdin", input=b"").decode().strip()


def pointers_at(root: Path, rev: str) -> list[tuple[str, str]]:
    """(path, blob) of every pointer file in a commit's tree.

    `ls-tree` takes no wildcards, so this diffs the commit against the empty tree.
    """
    out = git(
        root, "diff-tree", "-r", "-z", "--no-abbrev", "--no-renames", empty_tree(root), rev,
        "--", *POINTER_PATHSPECS,
    )
    return [(c.path, c.new_blob) for c in _parse_raw_z(out, with_commits=False) if c.new_blob]


def object_ids(root: Path, names: Iterable[str]) -> dict[str, str]:
    """{name: blob sha} of the `<rev>:<path>` names that exist, in one batch-check."""
    wanted = sorted({n for n in names if n})
    if not wanted:
        return {}
    out = git(root, "cat-file", "--batch-check=%(objectname) %(objecttype)",
              input="".join(f"{n}\n" for n in wanted).encode())
    found = {}
    for name, line in zip(wanted, out.decode().splitlines()):
        sha, _, kind = line.partition(" ")
        if kind == "blob":
            found[name] = sha
    return found


def read_blobs(root: Path, blobs: Iterable[str]) -> dict[str, bytes]:
    """Contents of many objects (`<sha>` or `<rev>:<path>`) in one `git cat-file --batch`.

    Names git cannot resolve are left out of the result.
    """
    wanted = sorted({b for b in blobs if b})
    if not wanted:
        return {}
    out = git(root, "cat-file", "--batch", input="".join(f"{b}\n" for b in wanted).encode())
    result: dict[str, bytes] = {}
    pos = 0
    for blob in wanted:
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].decode().split(" ")
        if header[-1] == "missing" or len(header) < 3:
            pos = header_end + 1
            continue
        size = int(header[2])
        start = header_end + 1
        result[blob] = out[start : start + size]
        pos = start + size + 1
    return result


def rebase_in_progress(root: Path) -> bool:
    """git checks out commits during a rebase; we sync once, in post-rewrite, instead."""
    gd = git_dir(root)
    return (gd / "rebase-merge").exists() or (gd / "rebase-apply").exists()


RECENT_HEADS = 20  # reflog entries a full pull looks back through


def left_by_recent_heads(root: Path, head: str) -> list[PointerChange]:
    """Pointer changes from the commits HEAD was at lately (its reflog, and ORIG_HEAD)
    to HEAD: the workspace can hold outputs only of commits that were checked out, so
    this finds what plain `dvc pull` in a fresh clone would not have, whatever the state
    file says or whether hooks ran (a conflicted merge, a hook skipped, hooks installed
    late). Each such output leaves only where it holds exactly that version."""
    out = git(root, "reflog", "show", "-n", str(RECENT_HEADS), "--format=%H", "HEAD", "--",
              check=False)
    seen = [s for s in out.decode(errors="replace").split() if s != head]
    # ORIG_HEAD: where a merge, reset or rebase started (a squash merge moves no HEAD).
    orig = git(root, "rev-parse", "--verify", "--quiet", "ORIG_HEAD", check=False)
    seen += orig.decode(errors="replace").split()
    changes: list[PointerChange] = []
    for sha in known_commits(root, seen):
        if sha != head:
            changes += [c for c in changes_between(root, sha, head) if c.old_blob]
    return changes
