"""`dvc-synced gc`: remove objects from the local storage that this clone can fetch again."""

from __future__ import annotations

import argparse
import json

from dvc_synced_plugin import output
from dvc_synced_plugin.commands.common import settings_here
from dvc_synced_plugin.sync import gc


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true",
                        help="say what would go; remove nothing")
    parser.add_argument("--keep-recent", type=int, default=7, metavar="DAYS",
                        help="keep the data of branch tips and commits of the last DAYS days "
                        "(default 7; 0: only HEAD, the index and unpushed commits)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    result = gc.gc(settings_here(), args.dry_run, args.keep_recent)
    if args.json:
        output.line(json.dumps(result.as_dict(), indent=2))
    elif not result.error:
        output.line("\n".join(result.lines()))
    if result.error:
        output.say(f"error: {result.error}")
        return 1
    return 0
