"""Which refs a `git push` sends, when pre-commit hid all but the first from the hook.

pre-commit reads git's pre-push stdin itself and shows a hook only the first ref with new
commits; no environment variable carries the rest. Git can answer, though: the `git push`
process that runs the hook is an ancestor of ours, and its arguments, replayed as
`git push --dry-run`, make git compute the very same ref list. The dry run gets its own
`core.hooksPath` holding a recorder pre-push hook, so git hands it the exact lines a plain
hook would read (full shas, deletions, up-to-date and rejected refs left out as git does);
no refspec rule is re-implemented here. The price is one round trip to the git remote,
paid only when some other local ref might carry data central lacks (see hooks.pre_push).

When dvc-synced's own plain hook runs in the same push (`dvc-synced install` before or
after `pre-commit install`), that hook reads git's full stdin itself and nothing is asked.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Optional

from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.git.gitinfo import PointerChange
from dvc_synced_plugin.hooks import events

# git's own options that come before the command name and take the next word as value.
_GLOBAL_WITH_VALUE = ("-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env")
_MAX_ANCESTORS = 12  # dvc-synced <- pre-commit <- (sh) <- git: a handful of levels
_PLAIN_MARKER = "# dvc-synced hook: installed by `dvc-synced install`"

# The recorder: writes git's pre-push lines for this repository only (a submodule pushed
# on demand has its own), then refuses, so even a push that were not a dry run stops.
_RECORDER = """#!/bin/sh
[ "$(pwd -P)" = "$DVC_SYNCED_REFS_TOP" ] || exit 0
cat > "$DVC_SYNCED_REFS_OUT"
exit 1
"""


class RefsUnknown(SyncError):
    """The pushed refs could not be learned; str() says why, for the refusal line."""

    names_its_fix = True  # the refusal line built from it says how to push without the ref


# ---------------------------------------------------------------------------- processes


def _proc_info(pid: int) -> Optional[tuple[int, list[str]]]:
    """(parent pid, argv) of a process: /proc on Linux, `ps` elsewhere (macOS)."""
    proc = Path("/proc") / str(pid)
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_text()
            # The command name in parentheses may hold spaces: fields follow the last ")".
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            raw = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return None
        return ppid, [a.decode("utf-8", "surrogateescape") for a in raw.split(b"\0")[:-1]]
    return _ps_info(pid)


def _ps_info(pid: int) -> Optional[tuple[int, list[str]]]:
    """`ps` joins argv with spaces: words with spaces are split (ref names have none)."""
    try:
        out = subprocess.run(["ps", "-ww", "-o", "ppid=", "-o", "args=", "-p", str(pid)],
                             capture_output=True, text=True, timeout=5).stdout
        ppid, *argv = out.split()
        return int(ppid), argv
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def _is_git(argv: list[str]) -> bool:
    return bool(argv) and os.path.basename(argv[0]) in ("git", "git.exe")


def push_args_of(argv: list[str], root: Path, depth: int = 0) -> Optional[list[str]]:
    """The words after `push` in a git command line (one alias level expanded), else None.

    Only git's global options are skipped here; what follows `push` is handed back to git
    untouched. `-c`, `-C`, `--git-dir` and `--namespace` need no replay: git exports them
    to the hook's environment (GIT_CONFIG_PARAMETERS, its working directory, GIT_DIR,
    GIT_NAMESPACE), which the dry run inherits.
    """
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in _GLOBAL_WITH_VALUE else 1
    if i >= len(argv):
        return None
    command, rest = argv[i], argv[i + 1:]
    if command == "push":
        return rest
    if depth > 0:
        return None
    alias = subprocess.run(["git", "config", "--get", f"alias.{command}"], cwd=root,
                           capture_output=True, text=True).stdout.strip()
    if not alias or alias.startswith("!"):
        return None  # not an alias, or a shell alias: its inner git is a nearer ancestor
    try:
        words = shlex.split(alias)  # git splits alias values by the same quoting rules
    except ValueError:
        return None
    inner = push_args_of(words, root, depth + 1)
    return None if inner is None else inner + rest


def git_push_args(root: Path) -> list[str]:
    """The arguments after `push` of the git process that runs this hook."""
    pid = os.getppid()
    for _ in range(_MAX_ANCESTORS):
        info = _proc_info(pid)
        if info is None:
            break
        ppid, argv = info
        if _is_git(argv):
            args = push_args_of(argv[1:], root)
            if args is None:
                raise RefsUnknown(f"the git command `{' '.join(argv[:4])}` is not a plain "
                                  "`git push` dvc-synced can repeat")
            if "--no-dry-run" in args:
                raise RefsUnknown("`--no-dry-run` keeps dvc-synced from asking git")
            return args
        if ppid <= 1 or ppid == pid:
            break
        pid = ppid
    raise RefsUnknown("the `git push` process that runs this hook was not found")


# ---------------------------------------------------------------------------- dry run


def dry_run_lines(root: Path, args: list[str], env: dict[str, str], timeout: float) -> str:
    """git's pre-push stdin for `git push <args>`, from a dry run with a recorder hook."""
    tmp = Path(tempfile.mkdtemp(prefix="dvc-synced-refs-"))
    try:
        hook, out = tmp / "pre-push", tmp / "refs"
        hook.write_text(_RECORDER)
        hook.chmod(0o755)
        # The hook runs where git runs (the work tree's top); GIT_PREFIX is where the user
        # stood, so a relative repository path in `args` means the same as before.
        cwd = root / env.get("GIT_PREFIX", "")
        run_env = {k: v for k, v in env.items() if not k.startswith("PRE_COMMIT")}
        run_env.update({"GIT_TERMINAL_PROMPT": "0", "DVC_SYNCED_REFS_OUT": str(out),
                        "DVC_SYNCED_REFS_TOP": os.path.realpath(root)})
        try:
            proc = subprocess.run(
                ["git", "-c", f"core.hooksPath={tmp}", "push", "--dry-run", *args],
                cwd=cwd if cwd.is_dir() else root, env=run_env, stdin=subprocess.DEVNULL,
                capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RefsUnknown(f"asking the git remote which refs are pushed took over "
                              f"{timeout:.0f} s") from None
        except OSError as exc:
            raise RefsUnknown(f"git could not be run again ({exc})") from None
        try:
            return out.read_text()
        except OSError:
            errors = [ln for ln in proc.stderr.splitlines() if ln.startswith(("fatal", "error"))]
            why = errors[0] if errors else f"exit {proc.returncode}"
            raise RefsUnknown(f"`git push --dry-run` did not say which refs ({why})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def pushed_lines(root: Path, env: dict[str, str], timeout: float) -> str:
    """The pre-push stdin git gave pre-commit: `<local ref> <sha> <remote ref> <sha>` lines."""
    return dry_run_lines(root, git_push_args(root), env, timeout)


# ---------------------------------------------------------------------------- helpers


def plain_hook_checks(root: Path) -> bool:
    """Whether dvc-synced's plain pre-push hook runs in this push with git's full stdin.

    pre-commit runs `pre-push.legacy` (an earlier hook it moved aside) with the full
    stdin; `dvc-synced install` over pre-commit's hook chains it and runs itself after.
    """
    directory = Path(os.path.abspath(
        root / gitinfo.git(root, "rev-parse", "--git-path", "hooks").decode().strip()))
    for name in ("pre-push.legacy", "pre-push"):
        path = directory / name
        try:
            if os.access(path, os.X_OK) and _PLAIN_MARKER in path.read_text(errors="replace"):
                return True
        except OSError:
            continue
    return False


def local_refs(root: Path) -> list[str]:
    """Branches, tags and a detached HEAD: the refs a push names most often."""
    out = gitinfo.git(root, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/tags")
    refs = out.decode().split()
    detached = subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=root,
                              capture_output=True).returncode != 0
    return refs + (["HEAD"] if detached else [])


def short(ref: str) -> str:
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref


def refusal(ref: str, why: str, missing: str) -> str:
    """One line: the ref, why it cannot be told, and how to push without it."""
    kind = ("tag" if ref.startswith("refs/tags/") else
            "branch" if ref.startswith("refs/heads/") else "ref")
    name = short(ref)
    return (f"cannot tell whether this push includes {kind} {name} ({why}), and central lacks "
            f"its data ({missing}): to push without {name}, run `dvc-synced install` once "
            "(its plain hook sees every pushed ref) and push again; or give it its data "
            f"first with `dvc-synced push --rev {name}`")


Unsure = list[tuple[str, list[PointerChange]]]


def narrow(root: Path, remote: str, env: dict[str, str], certain: list[str],
           exclude: list[str], certain_changes: list[PointerChange],
           pending: Callable[[list[PointerChange]], list[PointerChange]],
           timeout: float) -> tuple[list[PointerChange], Unsure, str]:
    """(changes surely pushed, per-ref changes that may be, why unknown) under pre-commit.

    Called only when refs other than the one pre-commit showed have pending pointer
    changes. With the exact ref list every pushed change is certain and nothing else is
    looked at; without it each local ref with pending changes is "may be", and the caller
    refuses the push if one of them lacks data (fail safe).
    """

    if plain_hook_checks(root):
        return [], [], ""  # dvc-synced's plain hook checks this push with git's full stdin
    try:
        updates = events.parse_push_lines(pushed_lines(root, env, timeout))
    except RefsUnknown as exc:
        unsure: Unsure = []
        for ref in local_refs(root):
            group = pending(gitinfo.changes_in_commits(root, [ref], exclude + certain,
                                                       exclude_remote=remote))
            if group:
                unsure.append((ref, group))
        return certain_changes, unsure, str(exc)
    tips = certain + [u.local_sha for u in updates if not u.is_delete]
    known = exclude + gitinfo.known_commits(root, [u.remote_sha for u in updates])
    return pending(gitinfo.changes_in_commits(root, tips, known, exclude_remote=remote)), [], ""
