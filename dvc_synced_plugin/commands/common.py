"""What several commands start from: the work tree they run in, and its settings."""

from __future__ import annotations

from pathlib import Path

from dvc_synced_plugin import config
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.settings import Settings


def root_here() -> Path:
    return gitinfo.toplevel()


def settings_here() -> Settings:
    return config.load(root_here())
