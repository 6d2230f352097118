"""`dvc-synced doctor`: each check prints ok or what is wrong and how to fix it.

It only looks: nothing is written on central (a mistyped central must not become a new
one) and nothing in this clone's config."""

from __future__ import annotations

import argparse
import os
import shutil
from typing import Callable

from dvc_synced_plugin import config, output
from dvc_synced_plugin.commands import init as initialize
from dvc_synced_plugin.dvcfiles import dvcrepo
from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.hooks import install, upload
from dvc_synced_plugin.selection import Selection
from dvc_synced_plugin.settings import SECTION, TEAM_FILE, Settings
from dvc_synced_plugin.sync.plan import outs_of_changes
from dvc_synced_plugin.transports import required_tools, transport_checks


def _disk_notes(settings) -> list[str]:  # type: ignore[no-untyped-def]
    """Warnings and tips that fail nothing: a personal path in the team file, cache.type."""
    notes = []
    team = settings.root / TEAM_FILE
    shared = config._git_config_values(settings.root, team).get("local") if team.is_file() \
        else None
    if shared and os.path.isabs(os.path.expanduser(shared)) and not shared.startswith("~"):
        notes.append(
            f"warn  {TEAM_FILE} sets local = {shared}, one person's absolute path, "
            "the default of every teammate: remove it (`git config --file "
            f"{TEAM_FILE} --unset {SECTION}.local`) and let each user run "
            "`dvc-synced init --local PATH`, or use `--team-local ~/...`"
        )
    try:
        tip = initialize.disk_tip(settings.root, dvcrepo.local_storage_path(settings))
    except SyncError:
        tip = None
    if tip:
        notes.append(f"tip   disk: {tip}")
    return notes


def pattern_lines(settings) -> list[str]:  # type: ignore[no-untyped-def]
    """The fetch patterns in force, where they come from, and what they leave out of HEAD;
    a warning for an include pattern that selects no output of HEAD (a typo)."""
    select = settings.selection
    if not select.active:
        return ["ok    fetch patterns: none, every output is fetched"]
    where = ", ".join(f"{k} from {settings.sources[k]}" for k in
                      ("fetch-include", "fetch-exclude") if k in settings.sources)
    lines = [f"ok    fetch patterns: {select.describe()} ({where})"]
    try:
        head = gitinfo.rev_parse(settings.root, "HEAD")
        changes = gitinfo.changes_between(settings.root, None, head)
        paths = sorted({o.path for _, new in outs_of_changes(settings.root, changes)
                        for o in new})
    except SyncError:
        return lines  # no commit yet, or a pointer that does not read: status says more
    left = [p for p in paths if not select.selects(p)]
    shown = ", ".join(left[:5]) + (" ..." if len(left) > 5 else "")
    lines.append(f"ok    fetch patterns leave out {len(left)} of {len(paths)} output(s) "
                 f"of HEAD{': ' + shown if left else ''}")
    for pattern in select.include:
        if not any(Selection(include=(pattern,)).selects(p) for p in paths):
            lines.append(f"warn  fetch-include pattern {pattern!r} selects no output of HEAD: "
                         "patterns match whole outputs (or directories holding them); "
                         "fix it with `git config dvc-synced.fetch-include ...`")
    return lines


def upload_lines(s: Settings) -> list[str]:
    """Upload on commit, when it is on: where it was set and how its last job ended."""
    if not s.upload_on_commit:
        return []
    last = upload.status_line(s.root)
    lines = [f"ok    upload on commit: on ({s.sources['upload-on-commit']})"]
    if last:
        state = upload.outcome(s.root).get("result")
        lines.append(f"{'ok   ' if state in ('ok', 'running') else 'warn '} {last}")
    return lines


def configure(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    return doctor()


def doctor() -> int:
    failures = 0
    state: dict[str, object] = {}

    def check(label: str, fn: Callable[[], str]) -> bool:
        nonlocal failures
        try:
            detail = fn()
        except SyncError as exc:
            failures += 1
            output.line(f"FAIL  {label}: {exc}")
            return False
        output.line(f"ok    {label}{': ' + detail if detail else ''}")
        return True

    def repo() -> str:
        state["root"] = root = gitinfo.toplevel()
        dvcrepo.require_dvc_repo(root)
        return str(root)

    if not check("git and DVC repository", repo):
        return 1

    def settings() -> str:
        state["settings"] = s = config.load(state["root"])  # type: ignore[arg-type]
        return f"central {s.central} via {s.transport} ({s.sources['central']})"

    have_settings = check("settings", settings)
    s = state.get("settings")
    if s is not None:
        for line in pattern_lines(s):  # type: ignore[arg-type]
            output.line(line)
        for line in upload_lines(s):  # type: ignore[arg-type]
            output.line(line)
    tools = required_tools(s) if s is not None else ["rsync"]  # type: ignore[arg-type]
    for tool in tools:
        def which(tool: str = tool) -> str:
            path = shutil.which(tool)
            if not path:
                raise SyncError(f"{tool} is not installed: install it (apt-get install "
                                f"{'openssh-client' if tool == 'ssh' else tool})")
            return path

        check(f"{tool} installed", which)
    if s is not None and all(shutil.which(tool) for tool in tools):
        for label, fn in transport_checks(s):  # type: ignore[arg-type]
            check(label, fn)
    if not have_settings:
        return 1

    def local() -> str:
        # Looks only: doctor writes no config (the first push or pull sets the remote up).
        path = dvcrepo.local_storage_path(s)  # type: ignore[arg-type]
        existing = next(p for p in (path, *path.parents) if p.exists())
        if not os.access(existing, os.W_OK):
            raise SyncError(f"local storage {path} is not writable: fix its permissions")
        if not dvcrepo.is_set_up(s):  # type: ignore[arg-type]
            return (f"{path} (DVC remote {s.remote!r} is set up there by the first "  # type: ignore[union-attr]
                    "push or pull)")
        return f"DVC remote {s.remote!r} -> {path}"  # type: ignore[union-attr]

    check("local storage", local)
    for line in _disk_notes(s):  # type: ignore[arg-type]
        output.line(line)

    def hooks() -> str:
        found = install.check(state["root"])  # type: ignore[arg-type]
        if not found.ok:
            raise SyncError(found.line())
        return f"through {found.how}"

    check("git hooks installed", hooks)

    def reach() -> str:
        # Looks only: doctor writes nothing on central, and never creates it.
        return initialize.reach_central(s)  # type: ignore[arg-type]

    check("central exists and is reachable", reach)
    output.line("all checks passed" if not failures else f"{failures} check(s) failed")
    return 0 if not failures else 1
