"""`dvc-synced init`: validate first, then write the team file and the local storage remote."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from dvc_synced_plugin import config, dvcrepo


def init(
    root: Path,
    central: str,
    local: Optional[str],
    transport: Optional[str],
    remote: Optional[str],
) -> str:
    dvcrepo.require_dvc_repo(root)
    values = {"central": central}
    if transport:
        values["transport"] = transport
    if remote:
        values["remote"] = remote
    if local:
        values["local"] = local
    # Build the settings these values give before writing anything, so bad input changes nothing.
    env = {f"DVC_SYNCED_{k.upper()}": v for k, v in values.items()}
    settings = config.load(root, env=env)
    from dvc_synced_plugin.transports import open_transport

    open_transport(settings).close()  # parses the URL for the transport; raises on a bad one
    if local is None and settings.sources.get("local") == "default":
        values["local"] = config.default_local_path(root, central)
    config.write_team_file(root, values)
    storage = dvcrepo.set_local_remote(root, settings.remote, settings.local)
    return (
        f"dvc-synced: central {settings.central} ({settings.transport}); local storage {storage} "
        f"is DVC remote {settings.remote!r} in .dvc/config.local.\n"
        f"Commit {config.TEAM_FILE} so teammates get the same settings: "
        f"git add {config.TEAM_FILE} && git commit -m 'Share DVC data through dvc-synced'"
    )
