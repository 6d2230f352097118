"""What several commands start from: the work tree they run in, and its settings."""

from __future__ import annotations

from pathlib import Path

from dvc_synced_plugin import config, output
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.settings import Settings


def root_here() -> Path:
    return gitinfo.toplevel()


def settings_here() -> Settings:
    return config.load(root_here())


def dry_run(plan) -> int:  # type: ignore[no-untyped-def]
    """Print what a push or pull would move; exit 1 when it would not be complete."""
    for line in plan.lines():
        output.result(line)
    return 0 if plan.complete else 1
