"""Hook events: what git (or pre-commit) tells a hook, as typed values.

git passes a hook argv and sometimes stdin; pre-commit reads git's stdin itself and
passes `PRE_COMMIT_*` variables instead. Both become one `PushEvent` or `HeadMove` here,
so the hooks act on one shape whichever way they were installed. HOOKS is the one table
of the hooks dvc-synced installs. Import-light: this is the hooks' fast path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, TextIO

from dvc_synced_plugin.git.gitinfo import NULL_SHA

SKIP_ENV = "DVC_SYNCED_SKIP"


@dataclass(frozen=True)
class HookSpec:
    stdin: bool  # git feeds this hook lines on stdin (a chained hook must get them too)
    # When a hook that was there before runs: "before" ours (pre-push: its refusal stops
    # the push before any upload) or "after" (DVC's own `dvc checkout` then finds data).
    chained: Literal["before", "after"]
    summary: str  # the hook's name in .pre-commit-hooks.yaml
    pre_commit: bool = True  # pre-commit has a stage of this name (not post-applypatch)


HOOKS: dict[str, HookSpec] = {
    "pre-push": HookSpec(True, "before", "upload data of pushed commits"),
    "post-checkout": HookSpec(False, "after", "data follows checkout"),
    "post-merge": HookSpec(False, "after", "data follows merge/pull"),
    "post-rewrite": HookSpec(True, "after", "data follows rebase/amend"),
    "post-commit": HookSpec(False, "after", "data in step with the new commit"),
    "post-applypatch": HookSpec(False, "after", "data follows git am", pre_commit=False),
}
HOOK_NAMES = tuple(HOOKS)
# The hooks a `.pre-commit-config.yaml` lists (pre-commit has no post-applypatch stage).
PRE_COMMIT_HOOKS = tuple(name for name, spec in HOOKS.items() if spec.pre_commit)


def skipped(env: dict[str, str]) -> bool:
    return env.get(SKIP_ENV, "").lower() not in ("", "0", "false", "no")


def read_stdin(stdin: Optional[TextIO]) -> str:
    """git pipes pre-push and post-rewrite input; pre-commit gives hooks none (or a tty)."""
    if stdin is None:
        return ""
    try:
        return "" if stdin.isatty() else stdin.read()
    except (OSError, ValueError):  # closed or unreadable stdin
        return ""


# ---------------------------------------------------------------------------- pre-push


@dataclass(frozen=True)
class RefUpdate:
    """One line of git's pre-push input: `<local ref> <local sha> <remote ref> <remote sha>`."""

    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str

    @property
    def is_delete(self) -> bool:
        return self.local_sha == NULL_SHA


@dataclass(frozen=True)
class PushEvent:
    remote: str
    updates: tuple[RefUpdate, ...]
    # git's stdin lists every pushed ref. pre-commit shows only the first ref with new
    # commits (PRE_COMMIT_FROM_REF/TO_REF): then `complete` is False.
    complete: bool
    # Under pre-commit: the first ref's local branch, for a push with the root commit,
    # which gets no FROM/TO (its tip is then that branch).
    local_branch: str = ""


def parse_push_lines(stdin: str) -> list[RefUpdate]:
    return [RefUpdate(*parts) for parts in (line.split() for line in stdin.splitlines())
            if len(parts) == 4]


def push_event(args: list[str], stdin: str, env: dict[str, str]) -> PushEvent:
    remote = args[0] if args else env.get("PRE_COMMIT_REMOTE_NAME", "")
    lines = parse_push_lines(stdin)
    if lines or "PRE_COMMIT_REMOTE_NAME" not in env:
        # Plain hook: every ref (empty when up to date or deleting only).
        return PushEvent(remote, tuple(lines), complete=True)
    first = RefUpdate(env.get("PRE_COMMIT_LOCAL_BRANCH", ""), env.get("PRE_COMMIT_TO_REF", ""),
                      env.get("PRE_COMMIT_REMOTE_BRANCH", ""), env.get("PRE_COMMIT_FROM_REF", ""))
    updates = (first,) if first.local_sha else ()
    return PushEvent(remote, updates, complete=False, local_branch=first.local_ref)


# ---------------------------------------------------------------------------- post-*


@dataclass(frozen=True)
class HeadMove:
    """HEAD moved (or, for a squash merge, the index did): bring the data along.

    `base` is where git says HEAD came from (None: unknown); `file_checkout` marks
    `git checkout -- FILE`, which moves nothing.
    """

    kind: Literal["checkout", "merge", "squash", "amend", "rebase", "commit"]
    base: Optional[str] = None
    file_checkout: bool = False


def checkout_event(args: list[str], env: dict[str, str]) -> HeadMove:
    prev = args[0] if args else env.get("PRE_COMMIT_FROM_REF", "")
    flag = args[2] if len(args) > 2 else env.get("PRE_COMMIT_CHECKOUT_TYPE", "1")
    return HeadMove("checkout", prev or None, file_checkout=flag == "0")


def merge_event(args: list[str], env: dict[str, str]) -> HeadMove:
    squash = (args[0] if args else env.get("PRE_COMMIT_IS_SQUASH_MERGE", "0")) == "1"
    return HeadMove("squash" if squash else "merge")


def rewrite_event(args: list[str], stdin: str, env: dict[str, str]) -> HeadMove:
    """post-rewrite: "amend" gives `<old> <new>` on stdin; "rebase" one line a commit."""
    command = args[0] if args else env.get("PRE_COMMIT_REWRITE_COMMAND", "")
    if command == "amend":
        lines = stdin.split()
        return HeadMove("amend", lines[0] if lines else None)
    return HeadMove("rebase")
