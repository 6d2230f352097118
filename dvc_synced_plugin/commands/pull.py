"""`dvc-synced pull`: a revision's data from central into the cache, and the workspace for HEAD."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dvc_synced_plugin import output
from dvc_synced_plugin.commands.common import dry_run, settings_here
from dvc_synced_plugin.errors import ConfigError
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.storage.state import write_state
from dvc_synced_plugin.sync import flows


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="only these outputs of HEAD (an output, its .dvc file or a "
                             "directory holding outputs), whatever the fetch patterns say")
    parser.add_argument("--rev", default="HEAD", help="revision (default HEAD)")
    parser.add_argument("--dry-run", action="store_true",
                        help="say what would be downloaded (objects, bytes); move nothing")


def run(args: argparse.Namespace) -> int:
    settings = settings_here()
    if args.paths:
        return pull_paths(settings, args)
    if args.dry_run:
        return dry_run(flows.pull_dry_run(settings, args.rev))
    report = flows.pull_revision(settings, args.rev)
    output.result(report.line("downloaded", "from"))
    for line in report.incomplete:
        output.say(line)
    if report.excluded:
        shown = ", ".join(report.excluded[:5]) + (" ..." if len(report.excluded) > 5 else "")
        output.say(f"left out by the fetch patterns ({settings.selection.describe()}): "
                   f"{shown}; `dvc-synced pull PATH` brings one")
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
    if report.kept:  # all else is done; DVC refuses over unsaved work, and so do we
        output.say(flows.kept_line(report.kept))
        return 1
    return 0


def pull_paths(settings, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    """The named outputs of HEAD; the state file is left alone (the rest is as it was)."""
    if args.rev != "HEAD" or args.dry_run:
        raise ConfigError("PATH pulls HEAD's outputs into the workspace: drop --rev and "
                          "--dry-run, or the paths")
    report = flows.pull_outputs(settings, [_relative(settings.root, p) for p in args.paths])
    output.result(report.line("downloaded", "from"))
    for line in report.incomplete:
        output.say(line)
    if report.checkout_failed:
        output.say(f"dvc checkout could not update {', '.join(report.checkout_failed)}")
        return 1
    return 1 if report.incomplete else 0


def _relative(root: Path, path: str) -> str:
    """A path as typed (relative to the current directory) -> relative to the root."""
    # The current directory resolved, the path itself not: an output may be a symlink.
    full = os.path.normpath(os.path.join(os.path.realpath(os.getcwd()), path))
    rel = os.path.relpath(full, os.path.realpath(root))
    if rel == ".." or rel.startswith("../") or os.path.isabs(rel):
        raise ConfigError(f"{path} is outside the repository {root}: name a path inside it")
    return rel.replace(os.sep, "/")
