"""`dvc-synced verify`: central holds the revisions' objects, each hashing to its name."""

from __future__ import annotations

import argparse

from dvc_synced_plugin import output
from dvc_synced_plugin.commands.common import settings_here
from dvc_synced_plugin.git.remotes import remote_revisions
from dvc_synced_plugin.sync import status


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rev", action="append",
                        help="revision, or A..B for what its commits add (repeatable)")
    parser.add_argument("--all", action="store_true",
                        help="every branch and tag on the git remote (the default)")
    parser.add_argument("--remote", default="origin",
                        help="git remote for --all (default origin)")


def run(args: argparse.Namespace) -> int:
    settings = settings_here()
    if args.all or not args.rev:
        revs = status.require_revisions(remote_revisions(settings.root, args.remote))
    else:
        revs = args.rev
    result = status.verify(settings, revs)
    for line in result.missing:
        output.line(f"missing  {line}")
    for line in result.corrupt:
        output.line(f"corrupt  {line}")
    verdict = "OK" if result.ok else "FAILED"
    output.line(f"verify {verdict}: {result.objects} object(s) of {result.revisions} "
                f"revision(s), {len(result.missing)} missing, {len(result.corrupt)} corrupt")
    return 0 if result.ok else 1
