"""DVC's side: the local storage remote in .dvc/config.local, the cache, checkout.

DVC is imported here only, and only by the flows that need it, never on a hook's fast path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dvc_synced_plugin.config import Settings
from dvc_synced_plugin.errors import ConfigError, SyncError


def require_dvc_repo(root: Path) -> None:
    if not (root / ".dvc").is_dir():
        raise ConfigError(f"{root} is not a DVC repository: run `dvc init` there first")


def _config(root: Path) -> Any:
    from dvc.config import Config, ConfigError as DvcConfigError

    try:
        return Config(dvc_dir=str(root / ".dvc"))
    except DvcConfigError as exc:
        raise ConfigError(f"DVC's config is invalid ({exc}): fix .dvc/config*") from exc


def cache_dir(root: Path) -> Path:
    """The DVC cache's object root (`cache.dir`, relative to .dvc/ like DVC resolves it)."""
    conf = _config(root)
    configured = conf["cache"].get("dir")
    base = Path(configured) if configured else root / ".dvc" / "cache"
    if not base.is_absolute():
        base = root / ".dvc" / base
    return Path(os.path.abspath(base))


def cache_types(root: Path) -> list[str]:
    """`cache.type`: the link types DVC tries in order (its default: reflink, then copy)."""
    configured = _config(root)["cache"].get("type")
    if isinstance(configured, str):
        configured = configured.split(",")
    types = [str(t).strip() for t in configured or () if str(t).strip()]
    return types or ["reflink", "copy"]


def local_storage(settings: Settings, create: bool = True) -> Path:
    """The local storage path; on first use, set it up in .dvc/config.local like the seed.

    `dvc remote add --local --default <remote> <path>`: a teammate who cloned needs no init.
    """
    require_dvc_repo(settings.root)
    conf = _config(settings.root)
    remote = conf["remote"].get(settings.remote)
    if remote is not None:
        url = str(remote.get("url", ""))
        if "://" in url and not url.startswith("file://"):
            raise ConfigError(
                f"DVC remote {settings.remote!r} is {url}, not a local directory: "
                f"`dvc remote remove --local {settings.remote}` or set dvc-synced.remote"
            )
        url = url.removeprefix("file://")
        path = Path(url)
        if not path.is_absolute():  # DVC resolves relative remote URLs against the config dir
            path = settings.root / ".dvc" / path
        path = Path(os.path.abspath(path))
        if not path.exists() and any(":" in part for part in path.parts):
            # DVC reads an scp-style `host:path` as a relative directory; we would create it.
            raise ConfigError(
                f"DVC remote {settings.remote!r} is {path}, a directory that does not exist "
                f"(DVC read an ssh `host:path` as a local path?): point it at a local directory "
                f"with `dvc remote modify --local {settings.remote} url PATH`"
            )
    else:
        if not create:
            raise ConfigError(
                f"DVC remote {settings.remote!r} is not configured: run `dvc-synced init` "
                "or any dvc-synced command that sets it up"
            )
        path = settings.local
        with conf.edit("local") as local:
            local.setdefault("remote", {})[settings.remote] = {"url": str(path)}
            local.setdefault("core", {}).setdefault("remote", settings.remote)
    path.mkdir(parents=True, exist_ok=True)
    return path


def set_local_remote(root: Path, name: str, path: Path) -> Path:
    """Point DVC remote `name` at `path` in .dvc/config.local and make it the default."""
    conf = _config(root)
    path.mkdir(parents=True, exist_ok=True)
    with conf.edit("local") as local:
        local.setdefault("remote", {})[name] = {"url": str(path)}
        local.setdefault("core", {})["remote"] = name
    return path


def checkout(root: Path, targets: list[str] | None) -> list[str]:
    """`dvc checkout` of the given targets (None: everything); returns what failed."""
    from dvc.exceptions import CheckoutError, DvcException
    from dvc.repo import Repo

    # DVC resolves targets against the current directory: make them absolute.
    absolute = [str(root / t) for t in targets] if targets else None
    try:
        with Repo(str(root)) as repo:
            repo.checkout(targets=absolute, force=False, allow_missing=False)
    except CheckoutError as exc:
        return [str(t) for t in getattr(exc, "target_infos", [])] or [str(exc)]
    except DvcException as exc:
        raise SyncError(
            f"dvc checkout failed: {exc}: resolve it, then run `dvc-synced pull`"
        ) from exc
    return []
