"""The transport registry: a name (`dvc-synced.transport`) -> the module that implements it.

Adding a transport is one module (a class following `base.Transport`, built from the
settings, plus `parse_url` and `tools`) and one line in TRANSPORTS (the test suite adds
its in-process fake here, from tests/conftest.py). Modules are imported
only when used, so the registry costs nothing on a hook's fast path.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Callable

from dvc_synced_plugin.errors import ConfigError
from dvc_synced_plugin.settings import Settings
from dvc_synced_plugin.transports.base import Capabilities, Transport

__all__ = ["TRANSPORTS", "Capabilities", "Transport", "open_transport", "required_tools",
           "transport_checks"]


@dataclass(frozen=True)
class Entry:
    module: str  # defines TRANSPORT (the class), parse_url(url, root), tools(settings)
    summary: str  # for `--help` and doctor
    public: bool = True  # offered to users in messages and --help
    upstream: bool = False  # `import-url` can also read an upstream with its tool


TRANSPORTS: dict[str, Entry] = {
    "rsync": Entry("dvc_synced_plugin.transports.rsync", "rsync to a path or over ssh",
                   upstream=True),
    "rclone": Entry("dvc_synced_plugin.transports.rclone", "rclone to any rclone remote",
                    upstream=True),
}


def public_names() -> str:
    """"rsync or rclone": the transports a message offers."""
    names = [n for n, e in TRANSPORTS.items() if e.public]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def _module(name: str) -> ModuleType:
    entry = TRANSPORTS.get(name)
    if entry is None:
        raise ConfigError(f"unknown transport {name!r}: use {public_names()}")
    return importlib.import_module(entry.module)


def open_transport(settings: Settings) -> Transport:
    """The transport of these settings; parsing its URL raises ConfigError naming the fix."""
    return _module(settings.transport).TRANSPORT(settings)  # type: ignore[no-any-return]


def required_tools(settings: Settings) -> list[str]:
    """Programs the transport runs (for doctor): e.g. rsync, and ssh for a remote host."""
    return list(_module(settings.transport).tools(settings))


def transport_checks(settings: Settings) -> list[tuple[str, Callable[[], str]]]:
    """The transport's own doctor checks: (label, check), a check returns a detail or
    raises SyncError naming the fix (rsync: its flavour and version)."""
    checks = getattr(_module(settings.transport), "doctor_checks", None)
    return list(checks(settings)) if checks else []
