"""Commands: one module per command, each with its parser (`configure`) and `run(args) -> int`.

A command returns what it found and prints it through `output`. The table below is all the
CLI needs to list them: a command's module is imported only when it runs (as pip does),
so `dvc-synced hook ...` loads the hooks and nothing of `status`, `gc` or DVC.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# name -> (module in this package, one-line help), in the order `--help` lists them
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init", "write the team settings and set up the local storage"),
    "push": ("push", "put the data of revisions on central"),
    "pull": ("pull", "get a revision's data from central into the workspace"),
    "status": ("status", "what a revision's data lacks in cache, local, central"),
    "import-url": ("import_url", "download data that is updated upstream and track it"),
    "update": ("update", "bring imported data up to date with its upstream"),
    "verify": ("verify", "check central holds revisions' objects, uncorrupted"),
    "fetch": ("fetch", "get recent revisions' data from central into the local "
              "storage only, for later offline pulls"),
    "schedule": ("schedule", "a periodic background fetch (systemd timer or cron)"),
    "du": ("du", "bytes the data takes in workspace, cache, local storage"),
    "gc": ("gc", "remove objects from the local storage that central holds"),
    "doctor": ("doctor", "check tools, settings and central access"),
    "demo": ("demo", "two teammates share data through git push/pull"),
    "install": ("install", "install plain git hooks (without pre-commit)"),
    "uninstall": ("uninstall", "remove the hooks `install` added"),
    "hook": ("hook", "run a git hook (called by git or pre-commit)"),
}


def load(name: str) -> ModuleType:
    """The module of command `name` (a key of COMMANDS)."""
    return importlib.import_module(f"{__name__}.{COMMANDS[name][0]}")
