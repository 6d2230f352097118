"""`dvc-synced status`: what a revision's data lacks where, the workspace's lag, the
background job's last run and, with --upstream, the imports' upstreams."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dvc_synced_plugin import output
from dvc_synced_plugin.commands.common import settings_here
from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.hooks import install, schedule, upload
from dvc_synced_plugin.imports import importer as imports
from dvc_synced_plugin.output import human_bytes
from dvc_synced_plugin.sync import status


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--upstream", action="store_true",
                        help="also list the upstreams of imported outputs (network)")


def run(args: argparse.Namespace) -> int:
    settings = settings_here()  # the work tree is asked once: settings carry it
    result = status.status(settings, args.rev)
    upstream = upstream_states(settings.root, args.upstream)
    hooks = install.check(settings.root)
    if not hooks.ok:
        output.say(f"hooks: {hooks.line()}")
    say_workspace_lag(settings.root, "" if hooks.ok else hooks.fix.removeprefix("run "))
    if args.json:
        output.line(json.dumps({**result.as_dict(), "upstream": dict(upstream),
                                "upload_on_commit": upload.outcome(settings.root)}, indent=2))
    else:
        output.line(f"revision {result.rev[:10]}: {result.objects} object(s)")
        for where, miss in result.missing.items():
            state = "complete" if not miss.objects else (
                f"{miss.objects} missing ({human_bytes(miss.bytes)})")
            if where == "local" and miss.objects and not result.missing["central"].objects:
                state += ": central has them, fetched when needed"
            output.line(f"  {where:8} {state}")
        for path in result.unknown_dirs:
            output.line(f"  manifest of {path} is on no storage")
        for path in result.excluded:
            output.line(f"  excluded {path} (fetch patterns: {settings.selection.describe()}; "
                        f"`dvc-synced pull {path}` brings it)")
        for line in background_lines(settings.root):
            output.line(line.rstrip("\n"))
        for path, state in upstream:
            output.line(f"  upstream: {state}  ({path})")
    return 0 if result.complete else 1


def background_lines(root: Path) -> list[str]:
    """The last run of the scheduled fetch and the upload on commit (running, done or
    failed), each as one newline-ended line; none for what never ran."""
    lines = [schedule.last_run_summary(root), upload.status_line(root)]
    return [f"{line}\n" for line in lines if line]


def upstream_states(root: Path, network: bool) -> list[tuple[str, str]]:
    """(imported output, "unchanged" | "N changed (use dvc-synced update)" | "not checked").

    The upstream is listed only when `network` (status --upstream): plain status stays
    offline. A failure to list is reported in the line, not raised: status reports."""
    found = imports.find_imports(root)
    if not network:
        return [(rel, "not checked") for rel, _ in found]
    states = []
    for rel, _ in found:
        try:
            diff = imports.check(root, [rel])[0].diff
        except SyncError as exc:
            states.append((rel, f"not checked ({exc})"))
            continue
        states.append((rel, "unchanged" if diff.empty
                       else f"{diff.count} changed (use dvc-synced update)"))
    return states


def say_workspace_lag(root: Path, no_hooks: str = "") -> None:
    line = status.workspace_lag(root, no_hooks)
    if line:
        output.say(line)
