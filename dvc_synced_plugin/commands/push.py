"""`dvc-synced push`: put the data of revisions on central (what the pre-push hook does)."""

from __future__ import annotations

import argparse

from dvc_synced_plugin import output
from dvc_synced_plugin.commands.common import dry_run, settings_here
from dvc_synced_plugin.sync import flows


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rev", action="append", help="revision (repeatable; default HEAD)")
    parser.add_argument("--dry-run", action="store_true",
                        help="say what would be uploaded (objects, bytes); move nothing")


def run(args: argparse.Namespace) -> int:
    if args.dry_run:
        return dry_run(flows.push_dry_run(settings_here(), args.rev or ["HEAD"]))
    report = flows.push_revisions(settings_here(), args.rev or ["HEAD"])
    output.result(report.line("uploaded", "to"))
    return 0
