"""`dvc-synced du`: the bytes the data takes in workspace, cache and local storage."""

from __future__ import annotations

import argparse
import json

from dvc_synced_plugin import output
from dvc_synced_plugin.commands.common import settings_here
from dvc_synced_plugin.sync import diskuse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    use = diskuse.for_settings(settings_here())
    if args.json:
        output.line(json.dumps(use.as_dict(), indent=2))
    else:
        output.line("\n".join(diskuse.render(use)))
    return 0
