"""`dvc-synced install`: plain git hooks for teams without pre-commit."""

from __future__ import annotations

import argparse

from dvc_synced_plugin import output
from dvc_synced_plugin.commands.common import root_here
from dvc_synced_plugin.hooks import install


def configure(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    for line in install.install(root_here()):
        output.line(line)
    return 0
