"""`dvc-synced doctor`: each check prints ok or what is wrong and how to fix it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from dvc_synced_plugin.errors import SyncError


def _tools(transport: str, central: str) -> list[str]:
    if transport == "rclone":
        return ["rclone"]
    from dvc_synced_plugin.transports.rsync import parse_url

    host = parse_url(central, Path("."))[0] if central else None
    return ["rsync", "ssh"] if host else ["rsync"]


def rsync_version(central: str) -> str:
    """Flavour and version of the rsync on PATH, and whether it keeps the guarantees
    (macOS ships 2.6.9 or openrsync; see transports/rsync_flavor.py)."""
    from dvc_synced_plugin.transports.rsync import parse_url
    from dvc_synced_plugin.transports.rsync_flavor import detect

    flavor = detect()
    problem = flavor.problem()
    if problem:
        raise SyncError(problem)
    host, _, path = parse_url(central, Path(".")) if central else (None, None, "")
    if host:
        flavor.check_remote_path(path)
    return flavor.note()


def run() -> int:
    from dvc_synced_plugin import config, dvcrepo, gitinfo
    from dvc_synced_plugin.transports import open_transport

    failures = 0
    state: dict[str, object] = {}

    def check(label: str, fn: Callable[[], str]) -> bool:
        nonlocal failures
        try:
            detail = fn()
        except SyncError as exc:
            failures += 1
            print(f"FAIL  {label}: {exc}")
            return False
        print(f"ok    {label}{': ' + detail if detail else ''}")
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
    transport = getattr(s, "transport", "rsync")
    central = getattr(s, "central", "")
    for tool in _tools(transport, central):
        def which(tool: str = tool) -> str:
            path = shutil.which(tool)
            if not path:
                raise SyncError(f"{tool} is not installed: install it (apt-get install "
                                f"{'openssh-client' if tool == 'ssh' else tool})")
            return path

        check(f"{tool} installed", which)
    if transport == "rsync" and shutil.which("rsync"):
        check("rsync version", lambda: rsync_version(central))
    if not have_settings:
        return 1

    def local() -> str:
        path = dvcrepo.local_storage(s)  # type: ignore[arg-type]
        if not os.access(path, os.W_OK):
            raise SyncError(f"local storage {path} is not writable: fix its permissions")
        return f"DVC remote {s.remote!r} -> {path}"  # type: ignore[union-attr]

    check("local storage", local)

    def reach() -> str:
        t = open_transport(s)  # type: ignore[arg-type]
        try:
            t.check_writable()
        finally:
            t.close()
        return t.description

    check("central reachable and writable", reach)
    print("all checks passed" if not failures else f"{failures} check(s) failed")
    return 0 if not failures else 1
