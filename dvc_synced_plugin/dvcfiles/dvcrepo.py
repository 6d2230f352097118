"""DVC's side: the local storage remote in .dvc/config.local, the cache, checkout.

DVC is imported here only, and only by the flows that need it, never on a hook's fast path.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

from dvc_synced_plugin.errors import ConfigError, SyncError
from dvc_synced_plugin.fs import atomic_write
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.settings import Settings


def require_dvc_repo(root: Path) -> None:
    if not (root / ".dvc").is_dir():
        raise ConfigError(f"{root} is not a DVC repository: run `dvc init` there first")


def _config(root: Path) -> Any:
    from dvc.config import Config
    from dvc.config import ConfigError as DvcConfigError

    try:
        return Config(dvc_dir=str(root / ".dvc"))
    except DvcConfigError as exc:
        raise ConfigError(f"DVC's config is invalid ({exc}): fix .dvc/config*") from exc


_REMOTE_SECTION = re.compile(r'^\s*remote\s*"(.*)"\s*$')


def _read_config(root: Path) -> Any:
    """The `cache` and `remote` sections as DVC merges them from its four config files.

    Read with configobj, as DVC does, without importing DVC: its `Config` costs ~0.13 s
    (dvc, fsspec and plugin imports) on every push and pull. Anything this reader does not
    vouch for (a parse error, a value that is not a plain string) is left to DVC's Config.
    """
    try:
        import platformdirs
        from configobj import ConfigObj, ConfigObjError
    except ImportError:
        return _config(root)
    dirs = (
        os.getenv("DVC_SYSTEM_CONFIG_DIR") or platformdirs.site_config_dir("dvc", "iterative"),
        os.getenv("DVC_GLOBAL_CONFIG_DIR") or platformdirs.user_config_dir("dvc", "iterative"),
    )
    files = [Path(d) / "config" for d in dirs] + [root / ".dvc" / "config",
                                                  root / ".dvc" / "config.local"]
    stamp = _check_valid(root, files)
    if stamp in _PARSED:  # one command asks for the cache, its types and the remote
        return _PARSED[stamp]
    merged: dict[str, dict[str, Any]] = {"cache": {}, "remote": {}}
    for path in files:  # in the order they shadow each other
        try:
            conf = ConfigObj(str(path), file_error=True).dict()
        except (OSError, UnicodeDecodeError):
            if path.exists():
                return _config(root)
            continue
        except ConfigObjError:
            return _config(root)
        conf_dir = os.path.abspath(path.parent)
        for section, values in conf.items():
            if not isinstance(values, dict):
                return _config(root)
            values = {str(k).lower(): v for k, v in values.items()}
            name = str(section).lower()
            named = _REMOTE_SECTION.match(name)
            if name == "cache":
                target, paths = merged["cache"], ("dir",)
            elif named:
                target, paths = merged["remote"].setdefault(named.group(1), {}), ("url",)
            else:
                continue
            for key, value in values.items():
                if key in paths:
                    if not isinstance(value, str):
                        return _config(root)
                    value = _resolve(conf_dir, value)
                target[key] = value
    _PARSED[stamp] = merged
    return merged


_PARSED: dict[str, Any] = {}  # config file stamps -> merged sections, within one process


def _check_valid(root: Path, files: list[Path]) -> str:
    """DVC refuses every command on an invalid config, and so do we: DVC's `Config` checks
    the files once, and a marker in the git dir remembers them valid until one changes."""
    stamps = []
    for path in files:
        try:
            st = path.stat()
            stamps.append(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}")
        except OSError:
            stamps.append(f"{path}\0-")
    stamp = "\n".join(stamps) + "\n"
    try:
        marker = gitinfo.state_dir(root) / "dvc-config-checked"
    except SyncError:  # a DVC repository without git (`dvc init --no-scm`): no marker
        _config(root)
        return stamp
    try:
        if marker.read_text() == stamp:
            return stamp
    except (OSError, UnicodeDecodeError):
        pass
    _config(root)  # raises ConfigError naming the file to fix
    with contextlib.suppress(OSError):
        atomic_write(marker, stamp)
    return stamp


def _resolve(conf_dir: str, path: str) -> str:
    """A path in a config file, relative to that file's directory (DVC's `_resolve`)."""
    if re.match(r"\w+://", path) or os.path.isabs(path):
        return path
    expanded = os.path.expanduser(path)
    if os.path.isabs(expanded):
        return expanded
    return os.path.abspath(os.path.join(conf_dir, path))


def cache_dir(root: Path) -> Path:
    """The DVC cache's object root (`cache.dir`, relative to .dvc/ like DVC resolves it)."""
    conf = _read_config(root)
    configured = conf["cache"].get("dir")
    base = Path(configured) if configured else root / ".dvc" / "cache"
    if not base.is_absolute():
        base = root / ".dvc" / base
    return Path(os.path.abspath(base))


def cache_types(root: Path) -> list[str]:
    """`cache.type`: the link types DVC tries in order (its default: reflink, then copy)."""
    configured = _read_config(root)["cache"].get("type")
    if isinstance(configured, str):
        configured = configured.split(",")
    types = [str(t).strip() for t in configured or () if str(t).strip()]
    return types or ["reflink", "copy"]


def local_storage_path(settings: Settings) -> Path:
    """Where the local storage is, without setting anything up (status, doctor, verify).

    The DVC remote `settings.remote` when it is configured, else the path the first push
    or pull will set up.
    """
    require_dvc_repo(settings.root)
    remote = _read_config(settings.root)["remote"].get(settings.remote)
    if remote is None:
        return settings.local
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
    return path


def is_set_up(settings: Settings) -> bool:
    """Whether the DVC remote that is the local storage is configured already."""
    return settings.remote in _read_config(settings.root)["remote"]


def local_storage(settings: Settings) -> Path:
    """The local storage path; on first use, set it up in .dvc/config.local like the seed.

    `dvc remote add --local --default <remote> <path>`: a teammate who cloned needs no init.
    """
    path = local_storage_path(settings)
    if not is_set_up(settings):
        with _config(settings.root).edit("local") as local:
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

    # DVC resolves targets against the current directory: make them absolute. Output
    # paths go first: DVC 3.67's shortcut for several targets (index_from_targets) reads
    # them as pointer files and stages, and silently drops an output path (a routed
    # output's, a selected one's) that follows one; a path first takes its general route.
    if targets:
        targets = sorted(targets, key=lambda t: t.endswith(".dvc") or "dvc.yaml:" in t)
    absolute = [str(root / t) for t in targets] if targets else None
    try:
        with Repo(str(root)) as repo:
            repo.checkout(targets=absolute, force=False, allow_missing=False)
    except CheckoutError as exc:
        return [str(t) for t in getattr(exc, "target_infos", [])] or [str(exc)]
    except DvcException as exc:
        unsaved = _unsaved_files(root, str(exc))
        if unsaved:
            shown = ", ".join(unsaved[:5]) + (f" and {len(unsaved) - 5} more"
                                               if len(unsaved) > 5 else "")
            raise SyncError(
                f"unsaved changes in {shown} were kept, not replaced (as `dvc checkout` "
                "keeps them): keep them with `dvc add` of the output and commit, or drop "
                f"them with `dvc checkout --force {unsaved[0]}`"
            ) from exc
        raise SyncError(
            f"dvc checkout failed: {exc}: resolve it, then run `dvc-synced pull`"
        ) from exc
    return []


# ------------------------------------------------------------- outputs DVC routes itself


def _routed_by_remote(outs: list[Any]) -> dict[str, list[Any]]:
    """Outputs with `remote: NAME` by NAME (imports come from their repository instead)."""
    groups: dict[str, list[Any]] = {}
    for out in outs:
        if out.route.startswith("remote:"):
            groups.setdefault(out.route[len("remote:"):], []).append(out)
    return groups


def _hash_infos(outs: list[Any]) -> list[Any]:
    from dvc_data.hashfile.hash_info import HashInfo

    return [HashInfo("md5-dos2unix" if o.legacy else "md5", o.oid) for o in outs]


def _describe(outs: list[Any], limit: int = 3) -> str:
    names = sorted({o.path for o in outs})
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def push_routed(root: Path, outs: list[Any], jobs: int | None = None) -> int:
    """Send outputs with their own `remote:` there, as `dvc push` does, and confirm DVC
    sees every object there afterwards (DVC only warns when one is missing). Returns how
    many objects crossed; raises SyncError when any is not there."""
    groups = _routed_by_remote(outs)
    if not groups:
        return 0
    from dvc.repo import Repo

    moved = 0
    with Repo(str(root)) as repo:
        for name, group in sorted(groups.items()):
            infos = _hash_infos(group)
            try:
                moved += len(repo.cloud.push(infos, jobs=jobs, remote=name).transferred)
                status = repo.cloud.status(infos, jobs=jobs, remote=name)
            except Exception as exc:  # noqa: BLE001 - DVC's errors (unreachable, config)
                raise SyncError(
                    f"DVC remote {name!r} of {_describe(group)} failed ({type(exc).__name__}: "
                    f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}): "
                    f"make it reachable (`dvc push -r {name}` works), then push again"
                ) from None
            lacking = status.new | status.missing
            if lacking:
                raise SyncError(
                    f"{len(lacking)} object(s) of {_describe(group)} are not on DVC remote "
                    f"{name!r} and not in the DVC cache: run `dvc commit` (or `dvc repro`) "
                    "for them, or push from the clone that made them"
                )
    return moved


def fetch_routed(root: Path, outs: list[Any], workspace: bool, jobs: int | None = None
                 ) -> list[str]:
    """Bring outputs DVC routes itself into the DVC cache: `remote:` ones from their
    remote, imports (only for the workspace's own revision) from their repository.
    Returns the outputs' paths, for `dvc checkout`; raises SyncError when one fails."""
    groups = _routed_by_remote(outs)
    imports = [o for o in outs if o.route == "import"] if workspace else []
    if not groups and not imports:
        return []
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        for name, group in sorted(groups.items()):
            try:
                result = repo.cloud.pull(_hash_infos(group), jobs=jobs, remote=name)
            except Exception as exc:  # noqa: BLE001 - DVC's errors (unreachable, config)
                raise SyncError(
                    f"DVC remote {name!r} of {_describe(group)} failed ({type(exc).__name__}: "
                    f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}): "
                    f"make it reachable (`dvc pull -r {name}` works), then run "
                    "`dvc-synced pull`") from None
            if result.failed:
                raise SyncError(
                    f"{len(result.failed)} object(s) of {_describe(group)} are not on DVC "
                    f"remote {name!r}: whoever committed them must push again")
        if imports:
            try:
                repo.fetch(targets=[str(root / o.path) for o in imports], jobs=jobs)
            except Exception as exc:  # noqa: BLE001 - DVC's errors: one line
                raise SyncError(
                    f"fetching the imported {_describe(imports)} failed ({type(exc).__name__}"
                    "): make its source repository reachable, then run `dvc-synced pull`"
                ) from None
    return sorted({o.path for o in [*imports, *(o for g in groups.values() for o in g)]})


UNSAVED = "Can't remove the following unsaved files without confirmation."


def _unsaved_files(root: Path, message: str) -> list[str]:
    """The files DVC's refusal to drop unsaved changes names, relative to the work tree."""
    if not message.startswith(UNSAVED):
        return []
    paths = message.splitlines()[1:]
    return [os.path.relpath(p, root) if os.path.isabs(p) else p for p in paths if p.strip()]
