"""`dvc-synced schedule install|remove|status|run`: the periodic background fetch."""

from __future__ import annotations

import argparse

from dvc_synced_plugin import output
from dvc_synced_plugin.commands.common import root_here
from dvc_synced_plugin.errors import ConfigError
from dvc_synced_plugin.hooks import schedule
from dvc_synced_plugin.settings import positive_int


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    q = actions.add_parser("install", help="install or update the periodic job for this clone")
    q.add_argument("--every", default="15", metavar="MINUTES", help="interval (default 15)")
    q.add_argument("--recent", default="7", metavar="DAYS", help="fetch --recent DAYS (7)")
    actions.add_parser("remove", help="remove exactly what install added")
    actions.add_parser("status", help="whether the job is installed, and its last runs")
    q = actions.add_parser("run", help="run the job once now (what the timer runs)")
    q.add_argument("--every", default="15", metavar="MINUTES")
    q.add_argument("--recent", default="7", metavar="DAYS")


def positive(value: str, what: str, upto: int) -> int:
    try:
        return positive_int(value, upto)
    except ValueError:
        raise ConfigError(f"{what} {value!r} is not a whole number from 1 to {upto}: "
                          f"use e.g. {what} {15 if 'every' in what else 7}") from None


def run(args: argparse.Namespace) -> int:
    root = root_here()
    if args.action == "install":
        every = positive(args.every, "--every", 1440)
        days = positive(args.recent, "--recent", 36500)
        output.line(f"dvc-synced: {schedule.install(root, every, days)}")
    elif args.action == "remove":
        output.line(f"dvc-synced: {schedule.remove(root)}")
    elif args.action == "status":
        for line in schedule.status_lines(root):
            output.line(line)
    else:
        every = positive(args.every, "--every", 1440)
        days = positive(args.recent, "--recent", 36500)
        return schedule.run_job(root, every, days)
    return 0
