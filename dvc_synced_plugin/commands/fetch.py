"""`dvc-synced fetch`: recent revisions' data from central into the local storage only."""

from __future__ import annotations

import argparse
import json

from dvc_synced_plugin import output
from dvc_synced_plugin.commands.common import settings_here
from dvc_synced_plugin.git import remotes
from dvc_synced_plugin.sync import fetch


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rev", nargs="*", help="revisions (default: --recent 7)")
    parser.add_argument("--recent", nargs="?", const="7", metavar="DAYS",
                        help="remote branches with commits in the last DAYS days (default 7)")
    parser.add_argument("--all", action="store_true",
                        help="every branch and tag of the git remote")
    parser.add_argument("--remote", default="origin", help="git remote (default origin)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--git-fetch", action="store_true", help="run `git fetch` first")


def run(args: argparse.Namespace) -> int:
    settings = settings_here()
    days = fetch.parse_days(args.recent)
    if days is None and not args.rev and not args.all:
        days = fetch.DEFAULT_DAYS
    if args.git_fetch:
        remotes.require_remote(settings.root, args.remote)
        remotes.git_fetch(settings.root, args.remote)
    report = fetch.fetch(settings, args.rev, days, everything=args.all, remote=args.remote)
    if args.json:
        output.line(json.dumps(report.as_dict(), indent=2))
    else:
        output.line(f"dvc-synced: {report.line()}")
    for problem in report.problems[:3]:
        output.say(f"warning: not fetched: {problem}")
    return 1 if report.problems else 0
