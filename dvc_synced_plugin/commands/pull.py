"""`dvc-synced pull`: a revision's data from central into the cache, and the workspace for HEAD."""

from __future__ import annotations

import argparse

from dvc_synced_plugin import output
from dvc_synced_plugin.commands.common import dry_run, settings_here
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.storage.state import write_state
from dvc_synced_plugin.sync import flows


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rev", default="HEAD", help="revision (default HEAD)")
    parser.add_argument("--dry-run", action="store_true",
                        help="say what would be downloaded (objects, bytes); move nothing")


def run(args: argparse.Namespace) -> int:
    settings = settings_here()
    if args.dry_run:
        return dry_run(flows.pull_dry_run(settings, args.rev))
    report = flows.pull_revision(settings, args.rev)
    output.result(report.line("downloaded", "from"))
    for line in report.incomplete:
        output.say(line)
    if report.checkout_failed:
        output.say(f"dvc checkout could not update {', '.join(report.checkout_failed)}")
        return 1
    if report.incomplete:
        if args.rev == "HEAD":
            write_state(settings.root, "pending", gitinfo.rev_parse(settings.root, "HEAD"))
        output.say("everything else is in the workspace; once it is pushed, run "
                   "`dvc-synced pull` again")
        return 1
    if args.rev == "HEAD":
        write_state(settings.root, "ok", gitinfo.rev_parse(settings.root, "HEAD"))
    return 0
