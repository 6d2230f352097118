"""`dvc-synced install` / `uninstall`: plain git hooks for teams without pre-commit.

Hooks go where git looks for them (`git rev-parse --git-path hooks` honours core.hooksPath
and linked worktrees). A hook that is already there (DVC's, git-lfs's, a user's script) is
kept: it moves aside to `<hook>.pre-dvc-synced` and our script runs it first, with the
same arguments and stdin. Installing twice changes nothing; uninstall restores exactly.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Optional

from dvc_synced_plugin import gitinfo

HOOK_NAMES = ("pre-push", "post-checkout", "post-merge", "post-rewrite", "post-commit")
MARKER = "# dvc-synced hook: installed by `dvc-synced install`"
CHAINED_SUFFIX = ".pre-dvc-synced"
STDIN_HOOKS = ("pre-push", "post-rewrite")

TEMPLATE = """#!/bin/sh
{marker}
# Runs `dvc-synced hook {name}`; a hook that was here before runs first (see {name}{suffix}).
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
        exit 1
    fi
}}
{body}"""

BODY_STDIN = """if [ -x "$chained" ]; then
    input=$(cat)
    printf '%s\\n' "$input" | "$chained" "$@" || exit $?
    printf '%s\\n' "$input" | run_dvc_synced "$@"
else
    run_dvc_synced "$@"
fi
"""

BODY_ARGS = """if [ -x "$chained" ]; then
    "$chained" "$@" || exit $?
fi
run_dvc_synced "$@"
"""


def render(name: str, python: Optional[str]) -> str:
    """The hook script; `python` None gives the generic copy kept in the repository's hooks/."""
    return TEMPLATE.format(
        marker=MARKER,
        name=name,
        suffix=CHAINED_SUFFIX,
        python=shlex.quote(python) if python else '""',
        body=BODY_STDIN if name in STDIN_HOOKS else BODY_ARGS,
    )


def hooks_dir(root: Path) -> Path:
    out = gitinfo.git(root, "rev-parse", "--git-path", "hooks").decode().strip()
    return Path(os.path.abspath(root / out))


def _is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(errors="replace")
    except OSError:
        return False


def install(root: Path, python: Optional[str] = None) -> list[str]:
    python = python or sys.executable
    directory = hooks_dir(root)
    directory.mkdir(parents=True, exist_ok=True)
    done = []
    for name in HOOK_NAMES:
        path = directory / name
        chained = directory / f"{name}{CHAINED_SUFFIX}"
        if (path.exists() or path.is_symlink()) and not _is_ours(path):
            if chained.exists():
                raise_msg = (f"{path} and {chained} both exist: merge them by hand, "
                             "then run `dvc-synced install` again")
                from dvc_synced_plugin.errors import ConfigError

                raise ConfigError(raise_msg)
            os.replace(path, chained)
            done.append(f"kept your existing {name} hook; it now runs first ({chained.name})")
        tmp = path.with_name(f".{name}.dvc-synced.tmp")
        tmp.write_text(render(name, python))
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    done.append(f"dvc-synced hooks installed in {directory}")
    return done


def uninstall(root: Path) -> list[str]:
    directory = hooks_dir(root)
    done = []
    for name in HOOK_NAMES:
        path = directory / name
        chained = directory / f"{name}{CHAINED_SUFFIX}"
        if _is_ours(path):
            path.unlink()
            if chained.exists() or chained.is_symlink():
                os.replace(chained, path)
                done.append(f"restored your earlier {name} hook")
    done.append(f"dvc-synced hooks removed from {directory}")
    return done
