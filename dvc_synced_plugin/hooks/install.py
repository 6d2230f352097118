"""`dvc-synced install` / `uninstall`: plain git hooks for teams without pre-commit.

Hooks go where git looks for them (`git rev-parse --git-path hooks` honours core.hooksPath
and linked worktrees). A hook that is already there (DVC's, git-lfs's, a user's script) is
kept: it moves aside to `<hook>.pre-dvc-synced` and our script runs it too, with the same
arguments and stdin: before us for pre-push (its refusal stops the push before any upload),
after us for the post-* hooks (DVC's own post-checkout `dvc checkout` then finds the data
fetched, and a failing earlier hook cannot stop the data from following git). Installing
twice changes nothing; uninstall removes only our scripts and puts the moved hooks back.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from dvc_synced_plugin.errors import ConfigError
from dvc_synced_plugin.fs import atomic_write
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.hooks.events import HOOK_NAMES, HOOKS, PRE_COMMIT_HOOKS

MARKER = "# dvc-synced hook: installed by `dvc-synced install`"
CHAINED_SUFFIX = ".pre-dvc-synced"

TEMPLATE = """#!/bin/sh
{marker}
# Runs `dvc-synced hook {name}` and the hook that was here before ({name}{suffix}).
# DVC_SYNCED_SKIP=1 skips dvc-synced; `git push --no-verify` skips every pre-push hook.
INSTALL_PYTHON={python}
chained="$(dirname "$0")/{name}{suffix}"
run_dvc_synced() {{
    if [ -n "$INSTALL_PYTHON" ] && [ -x "$INSTALL_PYTHON" ]; then
        "$INSTALL_PYTHON" -m dvc_synced_plugin hook {name} "$@"
    elif command -v dvc-synced >/dev/null 2>&1; then
        dvc-synced hook {name} "$@"
    else
        echo "dvc-synced: not installed; run 'pip install dvc-synced' or 'dvc-synced install'" >&2
        return 1
    fi
}}
{body}"""

# pre-push: the earlier hook first, so a refusing hook stops the push before any upload.
BODY_PRE_PUSH = """if [ -x "$chained" ]; then
    input=$(cat)
    feed() { [ -z "$input" ] || printf '%s\\n' "$input"; }
    feed | "$chained" "$@" || exit $?
    feed | run_dvc_synced "$@"
else
    run_dvc_synced "$@"
fi
"""

# post-*: ours first, so an earlier `dvc checkout` hook (DVC's own) finds the data fetched;
# both always run (git has moved already), and either's failure is the exit status.
BODY_POST_STDIN = """if [ -x "$chained" ]; then
    input=$(cat)
    feed() { [ -z "$input" ] || printf '%s\\n' "$input"; }
    feed | run_dvc_synced "$@"; status=$?
    feed | "$chained" "$@" || status=$?
    exit $status
fi
run_dvc_synced "$@"
"""

BODY_POST_ARGS = """run_dvc_synced "$@"; status=$?
if [ -x "$chained" ]; then
    "$chained" "$@" || status=$?
fi
exit $status
"""


def _body(name: str) -> str:
    spec = HOOKS[name]
    if spec.chained == "before":
        return BODY_PRE_PUSH
    return BODY_POST_STDIN if spec.stdin else BODY_POST_ARGS


def render(name: str, python: Optional[str]) -> str:
    """The hook script; `python` None gives the generic copy kept in the repository's hooks/."""
    return TEMPLATE.format(
        marker=MARKER,
        name=name,
        suffix=CHAINED_SUFFIX,
        python=shlex.quote(python) if python else '""',
        body=_body(name),
    )


def hooks_dir(root: Path) -> Path:
    out = gitinfo.git(root, "rev-parse", "--git-path", "hooks").decode().strip()
    return Path(os.path.abspath(root / out))


def _is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(errors="replace")
    except OSError:
        return False


def _present(path: Path) -> bool:
    return path.exists() or path.is_symlink()  # a dangling symlink is still someone's hook


def install(root: Path, python: Optional[str] = None) -> list[str]:
    """Write our hooks; an existing foreign hook moves aside and keeps running (chained)."""
    python = python or sys.executable
    directory = hooks_dir(root)
    # Check every hook before touching any, so a refusal leaves the directory as it was.
    for name in HOOK_NAMES:
        path, chained = directory / name, directory / f"{name}{CHAINED_SUFFIX}"
        if _present(path) and not _is_ours(path) and _present(chained):
            raise ConfigError(
                f"{path} and {chained} both exist and neither is dvc-synced's: merge them "
                "into one by hand, then run `dvc-synced install` again"
            )
    directory.mkdir(parents=True, exist_ok=True)
    done = []
    changed = False
    for name in HOOK_NAMES:
        path, chained = directory / name, directory / f"{name}{CHAINED_SUFFIX}"
        if _present(path) and not _is_ours(path):
            os.replace(path, chained)
            done.append(f"kept your existing {name} hook: it moved to {chained.name} "
                        "and still runs")
        text = render(name, python)
        try:
            if path.read_text() == text:
                continue
        except OSError:
            pass
        atomic_write(path, text, mode=0o755)
        changed = True
    state = "installed" if changed else "already installed"
    done.append(f"dvc-synced hooks {state} in {directory}")
    return done


def uninstall(root: Path) -> list[str]:
    """Remove only our hooks and put back what they had moved aside."""
    directory = hooks_dir(root)
    done = []
    for name in HOOK_NAMES:
        path, chained = directory / name, directory / f"{name}{CHAINED_SUFFIX}"
        if not _is_ours(path):
            continue
        path.unlink()
        if _present(chained):
            os.replace(chained, path)
            done.append(f"restored your earlier {name} hook")
    done.append(f"dvc-synced hooks removed from {directory}")
    return done


# ---------------------------------------------------------------------------- checking

PRE_COMMIT_CONFIG = ".pre-commit-config.yaml"
# What pre-commit writes into every hook script it installs (pre_commit/resources/hook-tmpl).
PRE_COMMIT_SIGN = "# File generated by pre-commit: https://pre-commit.com"
NO_HOOK = "no hook"


@dataclass
class HookCheck:
    """Which of the hooks that keep data in step are missing in this clone, and the fix."""

    how: str  # "dvc-synced install", "pre-commit", or "" when none is in place
    missing: list[str] = field(default_factory=list)  # hook names
    why: dict[str, str] = field(default_factory=dict)  # hook name -> what is wrong
    fix: str = ""

    @property
    def ok(self) -> bool:
        return not self.missing

    def line(self) -> str:
        """One line naming what is missing and the command that fixes it."""
        details = "; ".join(f"{n}: {self.why[n]}" for n in self.missing
                            if self.why.get(n, NO_HOOK) != NO_HOOK)
        return (f"the dvc-synced git hooks are not installed in this clone (missing "
                f"{', '.join(self.missing)}{'; ' + details if details else ''}): {self.fix}")


def _pre_commit_config(script: str) -> str:
    """The config file a pre-commit hook script names (`--config=FILE`), else the default."""
    match = re.search(r"--config=(\S+?)['\")\s]", script)
    return match.group(1).strip("'\"") if match else PRE_COMMIT_CONFIG


def _listed_ids(config: Path) -> Optional[set[str]]:
    """Hook ids a .pre-commit-config.yaml lists (None: no such file, or unreadable)."""
    try:
        import yaml

        data = yaml.safe_load(config.read_text())
    except (OSError, UnicodeDecodeError, ImportError):
        return None
    except Exception:  # noqa: BLE001 - yaml's errors: a broken config lists nothing usable
        return None
    ids: set[str] = set()
    for repo in (data or {}).get("repos", []) if isinstance(data, dict) else []:
        for hook in (repo or {}).get("hooks", []) if isinstance(repo, dict) else []:
            if isinstance(hook, dict) and isinstance(hook.get("id"), str):
                ids.add(hook["id"])
    return ids


def _default_types(config: Path) -> set[str]:
    try:
        import yaml

        data = yaml.safe_load(config.read_text())
        return set(data.get("default_install_hook_types") or []) if isinstance(data, dict) \
            else set()
    except Exception:  # noqa: BLE001 - unreadable: no defaults
        return set()


def check(root: Path) -> HookCheck:
    """Whether git runs dvc-synced's hook for every event that moves data in this clone:
    our own script (`dvc-synced install`), or pre-commit's script with a config that
    lists our hook id for that stage (also our script kept as pre-commit's `.legacy`).
    Reads a few files; runs nothing but one `git rev-parse`."""
    directory = hooks_dir(root)
    ours: list[str] = []
    via_pre_commit: list[str] = []
    why: dict[str, str] = {}
    configs: set[Path] = set()
    for name in PRE_COMMIT_HOOKS:
        path = directory / name
        if _is_ours(path) or _is_ours(directory / f"{name}.legacy"):
            ours.append(name)
            continue
        try:
            script = path.read_text(errors="replace")
        except OSError:
            why[name] = NO_HOOK
            continue
        if PRE_COMMIT_SIGN not in script:
            why[name] = "a hook that is not dvc-synced's (not chained: `dvc-synced install` " \
                        "keeps it and runs it too)"
            continue
        config = root / _pre_commit_config(script)
        configs.add(config)
        ids = _listed_ids(config)
        if ids is None:
            why[name] = f"pre-commit's hook, but {config.name} is missing or unreadable"
        elif not ids & ids_for(name):
            why[name] = f"pre-commit's hook, but {config.name} lists no dvc-synced-{name}"
        else:
            via_pre_commit.append(name)
    missing = [n for n in PRE_COMMIT_HOOKS if n in why]
    how = "pre-commit" if via_pre_commit else "dvc-synced install" if ours else ""
    config = root / PRE_COMMIT_CONFIG
    listed = _listed_ids(config) or set()
    ids_ok = all(ids_for(n) & listed for n in PRE_COMMIT_HOOKS)
    if not missing:
        fix = ""
    elif ids_ok:
        types = _default_types(config)
        fix = ("run `pre-commit install`" if set(missing) <= types else
               "run `pre-commit install " + " ".join(f"-t {n}" for n in missing) + "`")
    elif config.is_file() or configs:
        fix = (f"list the dvc-synced hook ids in {PRE_COMMIT_CONFIG} (docs/hooks.md) "
               "and run `pre-commit install`, or run `dvc-synced install`")
    else:
        fix = ("run `dvc-synced install` (or list its hook ids in "
               f"{PRE_COMMIT_CONFIG} and run `pre-commit install`)")
    return HookCheck(how, missing, why, fix)


def ids_for(name: str) -> set[str]:
    """The hook ids (.pre-commit-hooks.yaml) that run dvc-synced's `name` hook."""
    return {f"dvc-synced-{name}", f"dvc-synced-{name}-system"}
