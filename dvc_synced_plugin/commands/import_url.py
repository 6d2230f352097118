"""`dvc-synced import-url`: download data that is updated upstream and track it."""

from __future__ import annotations

import argparse

from dvc_synced_plugin import output
from dvc_synced_plugin.commands.common import root_here
from dvc_synced_plugin.imports import importer
from dvc_synced_plugin.imports.upstream import TRANSPORTS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url",
                        help="a path, [user@]host:path, ssh://..., or an rclone remote:path")
    parser.add_argument("path", nargs="?",
                        help="where in the workspace (default: URL's base name)")
    parser.add_argument("--transport", choices=list(TRANSPORTS), default=None,
                        help="default: rclone for a configured rclone remote, else rsync")


def run(args: argparse.Namespace) -> int:
    output.line(importer.import_url(root_here(), args.url, args.path, args.transport))
    return 0
