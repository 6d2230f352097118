"""`dvc-synced hook NAME ARGS...`: what git (or pre-commit) runs. On every git command:
this module, `hooks/githooks.py` and what they import stay light (no dvc, yaml or sh)."""

from __future__ import annotations

import argparse
import sys

from dvc_synced_plugin.hooks import githooks
from dvc_synced_plugin.hooks.events import HOOK_NAMES


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=HOOK_NAMES)
    parser.add_argument("args", nargs="*")


def run(args: argparse.Namespace) -> int:
    return githooks.run(args.name, args.args, sys.stdin)
