"""Settings: built once per command from the team file, git config and the environment.

Sits just above the transports: it checks the transport name against their registry
(import-light, so it costs nothing on a hook's fast path). `Settings` itself is a leaf
(`settings.py`).

Precedence, highest first (the same key names everywhere):
  1. environment  DVC_SYNCED_<KEY>   (e.g. DVC_SYNCED_CENTRAL, DVC_SYNCED_SSH_COMMAND)
  2. git config   dvc-synced.<key>   (`git config [--global] dvc-synced.central ...`)
  3. team file    .dvc-synced         (git-config syntax, committed at the repository root)
  4. built-in defaults
Our settings never go into DVC's config files: DVC rejects every command on an unknown key.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Optional

from dvc_synced_plugin.errors import ConfigError
from dvc_synced_plugin.selection import PatternError, Selection, split_patterns
from dvc_synced_plugin.settings import (
    DEFAULTS,
    KEYS,
    PERSONAL_KEYS,
    SECTION,
    TEAM_FILE,
    Settings,
    parse_bool,
    positive_int,
)
from dvc_synced_plugin.transports import TRANSPORTS, public_names


def _git_config_values(root: Path, file: Optional[Path]) -> dict[str, str]:
    args = ["git", "config", "-z", "--get-regexp", rf"^{SECTION}\."]
    if file is not None:
        args[2:2] = ["--file", str(file)]
    proc = subprocess.run(args, cwd=root, capture_output=True)
    if proc.returncode == 1:  # no such key
        return {}
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        where = file.name if file else "git config"
        raise ConfigError(
            f"{where} is malformed ({detail[-1] if detail else 'unreadable'}): "
            f"fix it or re-create it with `dvc-synced init`"
        )
    values: dict[str, str] = {}
    for item in proc.stdout.decode("utf-8", "surrogateescape").split("\0"):
        if not item:
            continue
        key, _, value = item.partition("\n")
        values[key[len(SECTION) + 1 :]] = value  # later (more specific) scopes win
    return values


def default_local_path(root: Path, central: str) -> str:
    """Per user and per project: one local storage shared by every clone of the project."""
    digest = hashlib.sha256(central.encode()).hexdigest()[:8]
    name = os.path.basename(central.rstrip("/").split(":")[-1]) or root.name
    return f"~/.cache/dvc-synced/{name}-{digest}"


def load(root: Path, env: Optional[dict[str, str]] = None) -> Settings:
    """Build the settings for the repository at `root`; errors name the fix."""
    env = os.environ if env is None else env
    team_file = root / TEAM_FILE
    layers = [
        ("default", dict(DEFAULTS)),
        (TEAM_FILE, _git_config_values(root, team_file) if team_file.is_file() else {}),
        ("git config", _git_config_values(root, None)),
        ("environment", {
            k: env[f"DVC_SYNCED_{k.upper().replace('-', '_')}"]
            for k in KEYS
            if f"DVC_SYNCED_{k.upper().replace('-', '_')}" in env
        }),
    ]
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for source, layer in layers:
        for key, value in layer.items():
            if key not in KEYS:
                raise ConfigError(
                    f"unknown setting {SECTION}.{key} in {source}: known are {', '.join(KEYS)}"
                )
            if source == TEAM_FILE and key in PERSONAL_KEYS:
                raise ConfigError(
                    f"{SECTION}.{key} may not be set in {TEAM_FILE} (a file from git must not "
                    f"choose a program to run): remove it there and set it with "
                    f"`git config {SECTION}.{key} ...` or "
                    f"DVC_SYNCED_{key.upper().replace('-', '_')}"
                )
            values[key] = value
            sources[key] = source
    central = values.get("central", "").strip()
    if not central:
        raise ConfigError(
            "no central storage is configured: run `dvc-synced init --central URL` "
            f"and commit {TEAM_FILE}"
        )
    if "\n" in central or "\0" in central:
        raise ConfigError("the central URL contains a newline: fix dvc-synced.central")
    transport = values["transport"]
    if transport not in TRANSPORTS:
        raise ConfigError(
            f"unknown transport {transport!r} ({sources['transport']}): use {public_names()}"
        )
    remote = values["remote"]
    if not remote or any(c in remote for c in "\"'\n[]\\") or remote.startswith("-"):
        raise ConfigError(f"dvc-synced.remote {remote!r} is not a usable DVC remote name")
    local = values.get("local") or default_local_path(root, central)
    return Settings(
        root=root,
        central=central,
        transport=transport,
        remote=remote,
        local=_resolve(root, local),
        jobs=_positive_int(values, "jobs", sources),
        timeout=_positive_int(values, "timeout", sources),
        ssh_command=values.get("ssh-command", "ssh"),
        sources=sources,
        selection=_selection(values, sources),
        upload_on_commit=_bool(values, "upload-on-commit", sources),
    )


def _selection(values: dict[str, str], sources: dict[str, str]) -> Selection:
    patterns = {k: split_patterns(values.get(k, "")) for k in ("fetch-include", "fetch-exclude")}
    for key, found in patterns.items():
        try:
            Selection(include=found).check()
        except PatternError as exc:
            raise ConfigError(
                f"{SECTION}.{key} ({sources[key]}): {exc}: fix the pattern "
                f"(`git config {SECTION}.{key} PATTERNS`, comma-separated)"
            ) from None
    return Selection(include=patterns["fetch-include"], exclude=patterns["fetch-exclude"])


def _resolve(root: Path, path: str) -> Path:
    return Path(os.path.abspath(root / os.path.expanduser(path)))


def _positive_int(values: dict[str, str], key: str, sources: dict[str, str]) -> int:
    try:
        return positive_int(values[key])
    except ValueError:
        raise ConfigError(
            f"dvc-synced.{key} = {values[key]!r} ({sources[key]}) is not a positive whole number"
        ) from None


def _bool(values: dict[str, str], key: str, sources: dict[str, str]) -> bool:
    try:
        return parse_bool(values[key])
    except ValueError:
        raise ConfigError(
            f"dvc-synced.{key} = {values[key]!r} ({sources[key]}) is not true or false: "
            f"`git config {SECTION}.{key} true` (or false)"
        ) from None


def write_team_file(root: Path, settings: dict[str, str]) -> Path:
    """Write keys into .dvc-synced through `git config --file` (which quotes correctly)."""
    path = root / TEAM_FILE
    for key, value in settings.items():
        subprocess.run(
            ["git", "config", "--file", str(path), f"{SECTION}.{key}", value],
            cwd=root,
            check=True,
        )
    return path
