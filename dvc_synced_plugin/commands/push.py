"""`dvc-synced push`: put the data of revisions on central (what the pre-push hook does)."""

from __future__ import annotations

import argparse

from dvc_synced_plugin import output
from dvc_synced_plugin.commands.common import settings_here
from dvc_synced_plugin.sync import flows


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rev", action="append", help="revision (repeatable; default HEAD)")


def run(args: argparse.Namespace) -> int:
    report = flows.push_revisions(settings_here(), args.rev or ["HEAD"])
    output.result(report.line("uploaded", "to"))
    return 0
