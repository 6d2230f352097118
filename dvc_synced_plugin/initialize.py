"""`dvc-synced init`: validate first, then write the team file and the local storage remote.

The local storage path is personal: `--local` goes to this clone's `git config` and
`.dvc/config.local`, never into the committed `.dvc-synced` (an absolute path there sends
every teammate into the founder's home). A team-wide default goes there only through
`--team-local`, and only as `~/...` or a relative path.

It also writes (or merges into) `.pre-commit-config.yaml`, pinned to the dvc-synced that
runs (precommit_config.py), so a team's hooks come from a commit that exists.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Optional

from dvc_synced_plugin import config, dvcrepo, precommit_config
from dvc_synced_plugin.errors import ConfigError, SyncError


def check_team_local(path: str) -> str:
    """A team-wide local path must mean something in every teammate's account."""
    if os.path.isabs(path) or path.startswith("~") and not path.startswith("~/"):
        raise ConfigError(
            f"--team-local {path}: a team-wide local storage path must be `~/...` or "
            "relative, since each teammate's home differs: use --local for your own path"
        )
    return path


def init(
    root: Path,
    central: str,
    local: Optional[str],
    transport: Optional[str],
    remote: Optional[str],
    team_local: Optional[str] = None,
    hooks_pin: Optional[precommit_config.Pin] = None,
) -> str:
    """`hooks_pin`: write `.pre-commit-config.yaml` with it (None: leave that file alone)."""
    dvcrepo.require_dvc_repo(root)
    values = {"central": central}
    if transport:
        values["transport"] = transport
    if remote:
        values["remote"] = remote
    if team_local:
        values["local"] = check_team_local(team_local)
    # Build the settings these values give before writing anything, so bad input changes nothing.
    env = {f"DVC_SYNCED_{k.upper()}": v for k, v in values.items()}
    if local:
        env["DVC_SYNCED_LOCAL"] = local
    settings = config.load(root, env=env)
    from dvc_synced_plugin.transports import open_transport

    open_transport(settings).close()  # parses the URL for the transport; raises on a bad one
    if hooks_pin:
        precommit_config.check(root, hooks_pin)  # a broken config of theirs refuses here
    config.write_team_file(root, values)
    if local:
        # This user's choice, in this clone's git config: it outranks the team file.
        subprocess.run(["git", "config", f"{config.SECTION}.local", str(settings.local)],
                       cwd=root, check=True)
    storage = dvcrepo.set_local_remote(root, settings.remote, settings.local)
    lines = [
        f"dvc-synced: central {settings.central} ({settings.transport}); local storage {storage} "
        f"is DVC remote {settings.remote!r} in .dvc/config.local"
        + (" (yours only: git config dvc-synced.local)" if local else "") + ".",
    ]
    shared = [config.TEAM_FILE]
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
    tip = disk_tip(root, storage)
    if tip:
        lines.append(f"Disk: {tip}")
    return "\n".join(lines)


def disk_tip(root: Path, storage: Path) -> Optional[str]:
    """The cache.type advice of `dvc-synced du`, said once at init (and by doctor)."""
    from dvc_synced_plugin import diskuse

    try:
        use = diskuse.measure(root, dvcrepo.cache_dir(root), storage, dvcrepo.cache_types(root))
    except (OSError, SyncError):
        return None
    return diskuse.advice_line(use)
