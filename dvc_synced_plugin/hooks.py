"""One function per git hook. The same code runs under plain hooks and under pre-commit.

Fast path first: find the pointer changes with two git calls and return before importing
DVC or touching the network when there are none. The workspace state file
(`<git-dir>/dvc-synced/workspace`) records the commit whose data the workspace last got,
so several hooks of one git command sync once, and a failed sync is redone in full.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Optional, TextIO

from dvc_synced_plugin import gitinfo
from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.gitinfo import NULL_SHA, PointerChange

SKIP_ENV = "DVC_SYNCED_SKIP"


def skipped(env: dict[str, str]) -> bool:
    return env.get(SKIP_ENV, "").lower() not in ("", "0", "false", "no")


def say(message: str) -> None:
    print(f"dvc-synced: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- state


def _state_file(root: Path) -> Path:
    return gitinfo.git_dir(root) / "dvc-synced" / "workspace"


def read_state(root: Path) -> tuple[str, str]:
    """("ok"|"pending"|"", sha): what the workspace's data was last synced to."""
    try:
        status, _, sha = _state_file(root).read_text().strip().partition(" ")
        return status, sha
    except OSError:
        return "", ""


def write_state(root: Path, status: str, sha: str) -> None:
    path = _state_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{status} {sha}\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- pre-push


def parse_push_lines(stdin: str) -> list[tuple[str, str, str, str]]:
    """git's pre-push stdin: `<local ref> <local sha> <remote ref> <remote sha>` a line."""
    refs = []
    for line in stdin.splitlines():
        parts = line.split()
        if len(parts) == 4:
            refs.append((parts[0], parts[1], parts[2], parts[3]))
    return refs


def pre_push(root: Path, args: list[str], stdin: Optional[TextIO], env: dict[str, str]) -> int:
    """Upload the data of every commit the push sends that the remote lacks; else refuse."""
    remote = args[0] if args else env.get("PRE_COMMIT_REMOTE_NAME", "")
    lines = parse_push_lines(stdin.read()) if stdin is not None and not stdin.isatty() else []
    if lines:
        tips = [local for _, local, _, _ in lines if local != NULL_SHA]  # deletions skipped
        exclude = [r for _, _, _, r in lines if gitinfo.has_commit(root, r)]
    elif "PRE_COMMIT_REMOTE_NAME" in env:
        # pre-commit shows the first pushed ref only and swallows stdin: cover every ref the
        # push could send, i.e. all local branches and tags plus HEAD, that the remote lacks.
        tips = [t for t in (env.get("PRE_COMMIT_TO_REF", ""), "HEAD") if t]
        tips += ["--branches", "--tags"]
        from_ref = env.get("PRE_COMMIT_FROM_REF", "")
        exclude = [from_ref] if gitinfo.has_commit(root, from_ref) else []
    else:
        return 0  # nothing is being pushed (delete-only or up to date)
    try:
        changes = gitinfo.changes_in_commits(root, tips, exclude, exclude_remote=remote)
        if not changes:
            return 0
        from dvc_synced_plugin import config, sync

        settings = config.load(root)
        report = sync.push_changes(settings, lambda: changes)
    except SyncError as exc:
        say(f"push refused: {exc}")
        say(f"fix the cause and `git push` again; `{SKIP_ENV}=1 git push` pushes without data "
            "(teammates then cannot get it)")
        return 1
    if report.needed:
        say(report.line("uploaded", "to"))
    return 0


# ---------------------------------------------------------------------------- post-* hooks


def sync_workspace(root: Path, base: Optional[str], target: str = "HEAD",
                   staged: bool = False) -> int:
    """Bring the workspace's data from `base` to `target`; a full sync when unsure."""
    try:
        new = gitinfo.rev_parse(root, target)
    except SyncError:
        return 0  # no commits yet
    status, synced = read_state(root)
    if status == "ok" and synced == new and not staged:
        return 0  # another hook of this git command did it already
    full = status != "ok" or base is None or not gitinfo.has_commit(root, base)
    try:
        if staged:
            changes = gitinfo.changes_to_index(root)
        elif full:
            changes = gitinfo.changes_between(root, None, new)
        else:
            changes = gitinfo.changes_between(root, base, new)
        if not changes and not full:
            write_state(root, "ok", new)
            return 0
        if not (root / ".dvc").is_dir():
            return 0
        from dvc_synced_plugin import config, sync

        settings = config.load(root)
        report = sync.pull_changes(settings, changes, full_checkout=full and not staged)
    except SyncError as exc:
        write_state(root, "pending", new)
        say(f"the data of {new[:10]} is incomplete: {exc}")
        say("git's state is as git left it; run `dvc-synced pull` to finish")
        return 1
    if report.checkout_failed:
        write_state(root, "pending", new)
        say(f"dvc checkout could not update: {', '.join(report.checkout_failed[:5])}")
        say("resolve the workspace changes, then run `dvc-synced pull`")
        return 1
    write_state(root, "ok", new)
    if report.moved or report.needed:
        say(report.line("downloaded", "from"))
    return 0


def post_checkout(root: Path, args: list[str], stdin: Optional[TextIO], env: dict[str, str]) -> int:
    prev = args[0] if args else env.get("PRE_COMMIT_FROM_REF", "")
    flag = args[2] if len(args) > 2 else env.get("PRE_COMMIT_CHECKOUT_TYPE", "1")
    if flag == "0":
        return 0  # a file checkout: HEAD did not move
    if gitinfo.rebase_in_progress(root):
        return 0  # the rebase's post-rewrite syncs once at the end
    return sync_workspace(root, prev or None)


def post_merge(root: Path, args: list[str], stdin: Optional[TextIO], env: dict[str, str]) -> int:
    squash = (args[0] if args else env.get("PRE_COMMIT_IS_SQUASH_MERGE", "0")) == "1"
    if squash:
        return sync_workspace(root, "HEAD", staged=True)
    return sync_workspace(root, _rev_or_none(root, "ORIG_HEAD"))


def post_rewrite(root: Path, args: list[str], stdin: Optional[TextIO], env: dict[str, str]) -> int:
    command = args[0] if args else env.get("PRE_COMMIT_REWRITE_COMMAND", "")
    if command == "amend":
        lines = stdin.read().split() if stdin is not None and not stdin.isatty() else []
        base = lines[0] if lines else _rev_or_none(root, "HEAD@{1}")
        return sync_workspace(root, base)
    return sync_workspace(root, _rev_or_none(root, "ORIG_HEAD"))


def post_commit(root: Path, args: list[str], stdin: Optional[TextIO], env: dict[str, str]) -> int:
    """Only a merge commit (a conflicted merge, resolved) moves data; plain commits do not."""
    parents = gitinfo.commit_parents(root, "HEAD") if _rev_or_none(root, "HEAD") else []
    if len(parents) < 2:
        return 0
    return sync_workspace(root, parents[0])


def _rev_or_none(root: Path, rev: str) -> Optional[str]:
    try:
        return gitinfo.rev_parse(root, rev)
    except SyncError:
        return None


HOOKS: dict[str, Callable[[Path, list[str], Optional[TextIO], dict[str, str]], int]] = {
    "pre-push": pre_push,
    "post-checkout": post_checkout,
    "post-merge": post_merge,
    "post-rewrite": post_rewrite,
    "post-commit": post_commit,
}


def run(name: str, args: list[str], stdin: Optional[TextIO] = None,
        env: Optional[dict[str, str]] = None) -> int:
    env = dict(os.environ) if env is None else env
    if skipped(env):
        return 0
    try:
        root = gitinfo.toplevel()
    except SyncError:
        return 0  # a bare repository or outside a work tree: nothing to sync
    return HOOKS[name](root, args, stdin, env)
