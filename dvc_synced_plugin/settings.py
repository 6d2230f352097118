"""Settings as data: what a command runs with, the names of the keys, and their rules.

A leaf: every layer takes a `Settings`; `config.py` builds one (team file, git config,
environment) and is the only module that reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from dvc_synced_plugin.selection import EVERYTHING, Selection

TEAM_FILE = ".dvc-synced"
SECTION = "dvc-synced"
KEYS = ("central", "transport", "remote", "local", "jobs", "timeout", "ssh-command",
        "fetch-include", "fetch-exclude", "upload-on-commit")
DEFAULTS = {"transport": "rsync", "remote": "synced-storage", "jobs": "4", "timeout": "30",
            "upload-on-commit": "false"}
# Commands to run: like git's core.sshCommand, never taken from a committed file, or any
# clone (and its hooks, on `git pull`) would run what the last committer chose.
PERSONAL_KEYS = ("ssh-command",)


@dataclass(frozen=True)
class Settings:
    root: Path  # repository work tree
    central: str  # where the team's objects live: a path, [user@]host:path, or rclone name:path
    transport: str  # rsync | rclone
    remote: str  # name of the local-directory DVC remote that is the local storage
    local: Path  # default local storage path when the DVC remote is not set up yet
    jobs: int  # parallel copies
    timeout: int  # seconds before a network step gives up
    ssh_command: str  # the ssh program and options (like git's core.sshCommand)
    sources: dict[str, str]  # key -> where its value came from, for `doctor`
    # fetch-include / fetch-exclude: the outputs pulls and fetches bring (`selection.py`)
    selection: Selection = EVERYTHING
    # post-commit starts a background upload of the commit's data (hooks/upload.py)
    upload_on_commit: bool = False


def positive_int(text: str, upto: Optional[int] = None) -> int:
    """The one rule for counts the user types (jobs, timeout, --recent, --every): a whole
    number above zero, at most `upto`. ValueError otherwise; the caller's message names
    the fix."""
    number = int(text)
    if number <= 0 or (upto is not None and number > upto):
        raise ValueError(text)
    return number


TRUE = ("true", "yes", "on", "1")
FALSE = ("false", "no", "off", "0", "")


def parse_bool(text: str) -> bool:
    """git's booleans (`git config --type=bool`): true/yes/on/1, false/no/off/0, any case;
    ValueError otherwise."""
    word = text.strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    raise ValueError(text)
