"""The workspace state file (`<git-dir>/dvc-synced/workspace`): the commit whose data the
workspace last got, and whether that sync finished.

It sits beside the memos: several hooks of one git command sync once, a failed sync is
redone in full, and `status` and `pull` see what a `git reset` (no hook) left behind.
Import-light: every post-* hook reads it on the fast path.
"""

from __future__ import annotations

from pathlib import Path

from dvc_synced_plugin.fs import atomic_write
from dvc_synced_plugin.git import gitinfo


def _state_file(root: Path) -> Path:
    return gitinfo.state_dir(root) / "workspace"


def read_state(root: Path) -> tuple[str, str]:
    """("ok"|"pending"|"", sha): what the workspace's data was last synced to."""
    try:
        status, _, sha = _state_file(root).read_text().strip().partition(" ")
        return status, sha
    except OSError:
        return "", ""


def write_state(root: Path, status: str, sha: str) -> None:
    atomic_write(_state_file(root), f"{status} {sha}\n", fault="state")


def _selection_file(root: Path) -> Path:
    return gitinfo.state_dir(root) / "selection"


def read_selection(root: Path) -> str:
    """The fetch patterns the workspace's outputs last followed (`Selection.fingerprint`);
    "" for every output, also in a clone that never recorded one."""
    try:
        return _selection_file(root).read_text().strip()
    except OSError:
        return ""


def write_selection(root: Path, fingerprint: str) -> None:
    if read_selection(root) != fingerprint:
        atomic_write(_selection_file(root), f"{fingerprint}\n")
