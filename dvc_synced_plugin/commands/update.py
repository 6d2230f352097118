"""`dvc-synced update`: bring imported data up to date with its upstream (or only check)."""

from __future__ import annotations

import argparse
import json

from dvc_synced_plugin import output
from dvc_synced_plugin.commands.common import root_here
from dvc_synced_plugin.imports import importer


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="*", help="imported outputs (default: all)")
    parser.add_argument("--check", action="store_true",
                        help="only compare: change nothing, exit 1 when an upstream changed")
    parser.add_argument("--commit", action="store_true", help="also git-commit each .dvc file")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    root = root_here()
    if args.check:
        results = importer.check(root, args.path)
    else:
        results = importer.update(root, args.path, args.commit)
    if args.json:
        output.line(json.dumps([r.as_dict() for r in results], indent=2, ensure_ascii=False))
    else:
        for line in importer.report_lines(results, args.check):
            output.line(line)
    changed = any(not r.diff.empty for r in results)
    return 1 if args.check and changed else 0
