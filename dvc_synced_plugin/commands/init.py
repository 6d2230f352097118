"""`dvc-synced init`: validate first, then write the team file and the local storage remote.

The local storage path is personal: `--local` goes to this clone's `git config` and
`.dvc/config.local`, never into the committed `.dvc-synced` (an absolute path there sends
every teammate into the founder's home). A team-wide default goes there only through
`--team-local`, and only as `~/...` or a relative path.

It also writes (or merges into) `.pre-commit-config.yaml`, pinned to the dvc-synced that
runs (precommit_config.py), so a team's hooks come from a commit that exists.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path
from typing import Optional

from dvc_synced_plugin import config, output
from dvc_synced_plugin.commands.common import root_here
from dvc_synced_plugin.dvcfiles import dvcrepo
from dvc_synced_plugin.errors import ConfigError, MissingCentralError, SyncError
from dvc_synced_plugin.hooks import install, precommit_config
from dvc_synced_plugin.imports.upstream import default_transport
from dvc_synced_plugin.settings import SECTION, TEAM_FILE
from dvc_synced_plugin.sync import diskuse
from dvc_synced_plugin.transports import TRANSPORTS, open_transport, required_tools


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--central", required=True, help="central storage URL")
    parser.add_argument("--local", help="your local storage path, for you only (git config "
                        "dvc-synced.local; default: per user and project)")
    parser.add_argument("--team-local", metavar="PATH",
                        help="a team-wide default local storage path in .dvc-synced: ~/... or "
                        "relative")
    parser.add_argument("--transport", default=None,
                        help="how to reach central (default: rclone when the URL's NAME: is "
                        "a configured rclone remote, else rsync): " + ", ".join(
                            f"{n} ({e.summary})" for n, e in TRANSPORTS.items() if e.public))
    parser.add_argument("--remote", help="name of the DVC remote that is the local storage")
    parser.add_argument("--create", action="store_true",
                        help="create central's directory (or bucket) if it is missing: the "
                        "only command that creates central")
    parser.add_argument("--no-check", action="store_true",
                        help="write the settings without reaching central (offline); run "
                        "`dvc-synced doctor` later")
    parser.add_argument("--hooks-repo", metavar="URL",
                        help="dvc-synced repository for .pre-commit-config.yaml (default: "
                        "where this dvc-synced was installed from)")
    parser.add_argument("--hooks-rev", metavar="COMMIT",
                        help="its commit to pin (default: the installed one)")
    parser.add_argument("--no-pre-commit-config", action="store_true",
                        help="leave .pre-commit-config.yaml alone (plain hooks: dvc-synced "
                        "install)")


def run(args: argparse.Namespace) -> int:
    pin = None if args.no_pre_commit_config else precommit_config.pin_of(args.hooks_repo,
                                                                          args.hooks_rev)
    output.line(init(root_here(), args.central, args.local, args.transport, args.remote,
                     team_local=args.team_local, hooks_pin=pin, create=args.create,
                     check=not args.no_check))
    return 0


def check_team_local(path: str) -> str:
    """A team-wide local path must mean something in every teammate's account."""
    if os.path.isabs(path) or path.startswith("~") and not path.startswith("~/"):
        raise ConfigError(
            f"--team-local {path}: a team-wide local storage path must be `~/...` or "
            "relative, since each teammate's home differs: use --local for your own path"
        )
    return path


def choose_transport(central: str, transport: Optional[str]) -> tuple[str, str]:
    """(transport, why): as `import-url` chooses, `name:path` is rclone when `name` is a
    configured rclone remote, else an ssh host for rsync."""
    if transport:
        return transport, "--transport"

    chosen = default_transport(central)
    head, colon, _ = central.partition(":")
    if chosen == "rclone":
        return chosen, f"{head} is an rclone remote"
    if colon and head and "/" not in head and not central.startswith(("file:", "ssh:")):
        return chosen, f"{head} is no rclone remote, so an ssh host"
    return chosen, "a path" if not central.startswith("ssh://") else "an ssh URL"


def check_tools(settings: config.Settings) -> list[str]:
    """The programs the transport runs, each on PATH; ConfigError naming the install."""
    import shutil


    tools = required_tools(settings)
    for tool in tools:
        if not shutil.which(tool):
            raise ConfigError(f"{tool} is not installed: install it (apt-get install "
                              f"{'openssh-client' if tool == 'ssh' else tool})")
    return tools


def reach_central(settings: config.Settings, create: bool = False) -> str:
    """What central is like, read-only (doctor's check); with `create`, a missing one is
    made first: the only place dvc-synced creates central."""

    transport = open_transport(settings)
    try:
        try:
            return transport.check_central()
        except MissingCentralError:
            if not create:
                raise
        done = transport.create_central()
        return f"{done}; {transport.check_central()}"
    finally:
        transport.close()


def init(
    root: Path,
    central: str,
    local: Optional[str],
    transport: Optional[str],
    remote: Optional[str],
    team_local: Optional[str] = None,
    hooks_pin: Optional[precommit_config.Pin] = None,
    create: bool = False,
    check: bool = True,
) -> str:
    """`hooks_pin`: write `.pre-commit-config.yaml` with it (None: leave that file alone)."""
    dvcrepo.require_dvc_repo(root)
    if create and not check:
        raise ConfigError("--create needs to reach central: drop --no-check")
    values = {"central": central}
    transport, why = choose_transport(central, transport)
    if transport != config.DEFAULTS["transport"] or why == "--transport":
        values["transport"] = transport  # teammates must use the same one
    if remote:
        values["remote"] = remote
    if team_local:
        values["local"] = check_team_local(team_local)
    # Build the settings these values give before writing anything, so bad input changes nothing.
    # The user's environment (DVC_SYNCED_SSH_COMMAND...) still applies to reaching central.
    env = {**os.environ, **{f"DVC_SYNCED_{k.upper()}": v for k, v in values.items()},
           "DVC_SYNCED_TRANSPORT": transport}
    if local:
        env["DVC_SYNCED_LOCAL"] = local
    settings = config.load(root, env=env)
    open_transport(settings).close()  # parses the URL for the transport; raises on a bad one
    if hooks_pin:
        precommit_config.check(root, hooks_pin)  # a broken config of theirs refuses here
    # What doctor checks, before anything is written: a typo or an unreachable host fails
    # here, not at the first push.
    found = "not checked (--no-check): run `dvc-synced doctor` once it is reachable"
    if check:
        check_tools(settings)
        found = reach_central(settings, create=create)
    config.write_team_file(root, values)
    if local:
        # This user's choice, in this clone's git config: it outranks the team file.
        subprocess.run(["git", "config", f"{SECTION}.local", str(settings.local)],
                       cwd=root, check=True)
    storage = dvcrepo.set_local_remote(root, settings.remote, settings.local)
    lines = [
        f"dvc-synced: central {settings.central} via {settings.transport} ({why}); local "
        f"storage {storage} is DVC remote {settings.remote!r} in .dvc/config.local"
        + (" (yours only: git config dvc-synced.local)" if local else "") + ".",
        f"Central: {found}.",
    ]
    shared = [TEAM_FILE]
    if hooks_pin:
        lines.append(f"dvc-synced: {precommit_config.write(root, hooks_pin)}.")
        if hooks_pin.note:
            lines.append(f"Note: {hooks_pin.note}.")
        shared.append(precommit_config.CONFIG)
    lines.append(
        f"Commit {' and '.join(shared)} so teammates get the same settings"
        + (" and hooks" if hooks_pin else "") + f": git add {' '.join(shared)} && "
        "git commit -m 'Share DVC data through dvc-synced'"
        + (", then pre-commit install" if hooks_pin else ", then dvc-synced install"))

    hooks = install.check(root)
    # Plain hooks asked for (--no-pre-commit-config): their fix, whatever else is there.
    fix = hooks.fix if hooks_pin else "run `dvc-synced install`"
    lines.append("Hooks: " + (f"installed in this clone ({hooks.how})." if hooks.ok else
                              f"not installed in this clone yet: {fix}."))
    tip = disk_tip(root, storage)
    if tip:
        lines.append(f"Disk: {tip}")
    lines.append("`dvc-synced doctor` checks all of this again at any time.")
    return "\n".join(lines)


def disk_tip(root: Path, storage: Path) -> Optional[str]:
    """The cache.type advice of `dvc-synced du`, said once at init (and by doctor)."""
    try:
        use = diskuse.measure(root, dvcrepo.cache_dir(root), storage, dvcrepo.cache_types(root))
    except (OSError, SyncError):
        return None
    return diskuse.advice_line(use)
