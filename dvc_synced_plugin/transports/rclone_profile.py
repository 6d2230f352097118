"""What dvc-synced asks of rclone for each kind of backend, and what it leaves to the user.

Chosen from the remote's `type` (the user's rclone config file or RCLONE_CONFIG_<NAME>_*
variables: no rclone process, no network) and kept for the life of the transport. Every
choice steps aside for a setting the user made: a key in the remote's config section or
its RCLONE_CONFIG_<NAME>_<KEY> variable, a backend's RCLONE_<TYPE>_<KEY> variable, a
global RCLONE_<FLAG> variable, or `dvc-synced.jobs` for the parallel copies.
docs/rclone.md says what is chosen and why.
"""

from __future__ import annotations

import configparser
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

# Object stores: an upload is published whole or not at all; a listing returns up to
# 1,000 keys a request, recursively (`--fast-list`), instead of one request per directory.
BUCKET_TYPES = frozenset({"s3", "gcs", "google cloud storage", "azureblob", "b2", "swift",
                          "oos", "qingstor", "storj", "sia"})
# HTTP APIs whose upload creates the file only when the last byte is committed (an upload
# session or a single request): a cut upload leaves nothing under the name, so uploads go
# straight to the final name, with no scratch directory and no server-side move (one more
# rate-limited API call per object). Dropbox upload_session/finish, OneDrive's
# createUploadSession, Google Drive's resumable upload, Box's chunked-upload commit.
WHOLE_UPLOAD_TYPES = frozenset({"drive", "dropbox", "onedrive", "box"})
# Backends that speak ssh: every --transfers and --checkers slot is an ssh connection
# (a handshake each), and rclone's sftp asks the server for md5sum/sha1sum by running a
# command per object unless told not to.
SSH_TYPES = frozenset({"sftp"})
HASH_KEYS = ("md5sum_command", "sha1sum_command")
CREATE_FLAGS = frozenset({"--s3-no-check-bucket"})  # would stop `mkdir` making the bucket


@dataclass(frozen=True)
class Profile:
    type: str  # the backend type from the config, "" when it cannot be told
    transfers: Optional[int]  # None: the user's RCLONE_TRANSFERS decides
    checkers: Optional[int]
    flags: tuple[str, ...] = ()  # backend options we set (none the user set)
    fast_list: bool = False  # recursive listings where a listing is made
    whole_uploads: Optional[bool] = None  # None: ask rclone's `backend features`
    move_slots: Optional[int] = None  # at most this many slots for server-side renames
    why: tuple[str, ...] = field(default=(), compare=False)  # for doctor and the docs

    def args(self, creating: bool = False, objects: Optional[int] = None,
             moving: bool = False) -> list[str]:
        """`creating`: for `rclone mkdir` (`init --create`), which must make a bucket.
        `objects`: how many the call moves; no more slots than that (over ssh each slot
        is a connection: a push's manifests are one object). `moving`: the server-side
        renames that publish uploads (`move_slots`, and a checker per two of them)."""
        out = []
        cap = max(1, objects) if objects is not None else None
        check_cap = cap
        if moving and self.move_slots:
            cap = min(cap or self.move_slots, self.move_slots)
            # A rename costs a transfer slot ~4 round trips (parent stat, mkdir, rename,
            # stat), its check 2 (source and destination stat): one checker keeps two
            # renames busy.
            check_cap = max(1, cap // 2)
        if self.transfers is not None:
            out.append(f"--transfers={min(self.transfers, cap or self.transfers)}")
        if self.checkers is not None:
            out.append(f"--checkers={min(self.checkers, check_cap or self.checkers)}")
        return out + [f for f in self.flags if not (creating and f in CREATE_FLAGS)]


def config_path(env: Mapping[str, str]) -> Optional[Path]:
    """The config file rclone reads (its own search order), or None if there is none."""
    if env.get("RCLONE_CONFIG"):
        return Path(env["RCLONE_CONFIG"])
    binary = shutil.which("rclone", path=env.get("PATH"))
    home = Path(env.get("HOME") or Path.home())
    config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    candidates = ([Path(binary).parent / "rclone.conf"] if binary else []) + [
        config_home / "rclone" / "rclone.conf", home / ".rclone.conf"]
    return next((p for p in candidates if p.is_file()), None)


def remote_settings(name: str, env: Mapping[str, str]) -> Optional[dict[str, str]]:
    """The keys the user set for remote `name` (file section, then RCLONE_CONFIG_<NAME>_*
    variables over it). None when they cannot be read (an encrypted config): then no
    backend option is set for the user."""
    keys: dict[str, str] = {}
    path = config_path(env)
    if path is not None and str(path) != "/dev/null":
        try:
            text = path.read_text(errors="replace")
        except OSError:
            text = ""
        if text.lstrip().startswith("# Encrypted rclone configuration"):
            return None
        parser = configparser.RawConfigParser(strict=False, interpolation=None)
        try:
            parser.read_string(text)
        except configparser.Error:
            return None
        if parser.has_section(name):
            keys.update({k.lower(): v for k, v in parser.items(name)})
    prefix = f"RCLONE_CONFIG_{name.upper().replace('-', '_')}_"
    keys.update({k[len(prefix):].lower(): v for k, v in env.items() if k.startswith(prefix)})
    return keys


def choose(location: str, jobs: int, jobs_explicit: bool,
           env: Optional[Mapping[str, str]] = None) -> Profile:
    """The profile for `location` (`name:path`; a local path is type "local")."""
    env = os.environ if env is None else env
    if os.path.isabs(location):
        return _parallel(Profile("local", None, None, whole_uploads=False), jobs,
                         jobs_explicit, env, 2)
    name = location.partition(":")[0]
    keys = remote_settings(name, env)
    kind = (keys or {}).get("type", "").strip().lower()
    flags: list[str] = []
    why: list[str] = []
    whole: Optional[bool] = None
    fast_list = False
    checkers_per_transfer = 2
    move_slots: Optional[int] = None
    if kind in SSH_TYPES:
        # dvc-synced hashes every object itself; rclone's server-side md5sum/sha1sum is a
        # remote command (an ssh session, the account's shell start) per object uploaded.
        commands: dict[str, Optional[str]] = {}
        for key in HASH_KEYS:
            value = _user_value(keys, env, key)
            if keys is not None and value is None:
                flags.append(f"--sftp-{key.replace('_', '-')}=none")
                value = "none"
            commands[key] = value
        why.append("sftp: no server-side md5sum/sha1sum commands (dvc-synced checks hashes)")
        # With no hash command left, rclone runs no remote command at all, yet each process
        # (each sftp Fs: two for a move) first opens a session to detect the shell (`echo`:
        # the server account's shell starts, its rc files run) unless shell_type is set.
        # rclone saves what it detected into a config file, never into RCLONE_CONFIG_*
        # variables. "none": no remote commands, which is what is left to run.
        if (keys is not None and all(v == "none" for v in commands.values())
                and _user_value(keys, env, "shell_type") is None):
            flags.append("--sftp-shell-type=none")
            why.append("sftp: no shell-type detection session (no remote command is run)")
        # A checker only stats a name: one connection each is a handshake it rarely repays.
        checkers_per_transfer = 1
        # Publishing from the scratch dir is a rename each: two connections did 300 in
        # 1.0 s on loopback where 4 transfers + 4 checkers (15 connections) took 1.8 s.
        move_slots = 2
        whole = False
    elif kind in BUCKET_TYPES:
        whole = True
        fast_list = "RCLONE_FAST_LIST" not in env
        if kind == "s3" and keys is not None and "no_check_bucket" not in keys and \
                "RCLONE_S3_NO_CHECK_BUCKET" not in env:
            # Central's bucket is checked once by dvc-synced; rclone would otherwise ask
            # again each run, and create a missing bucket (only `init --create` may).
            flags.append("--s3-no-check-bucket")
        why.append(f"{kind}: uploads are whole; recursive listings; more parallel "
                   "uploads for small objects")
    elif kind in WHOLE_UPLOAD_TYPES:
        whole = True
        why.append(f"{kind}: an upload appears only when complete: no scratch directory")
    profile = Profile(kind, None, None, tuple(flags), fast_list, whole, move_slots,
                      tuple(why))
    return _parallel(profile, jobs, jobs_explicit, env, checkers_per_transfer)


def _user_value(keys: Optional[Mapping[str, str]], env: Mapping[str, str],
                key: str) -> Optional[str]:
    """The value the user set for sftp option `key` (config key or variable of the remote,
    or rclone's RCLONE_SFTP_<KEY>), stripped and lower-cased; None when unset."""
    value = (keys or {}).get(key)
    if value is None:
        value = env.get(f"RCLONE_SFTP_{key.upper()}")
    return None if value is None else value.strip().lower()


def _parallel(profile: Profile, jobs: int, jobs_explicit: bool, env: Mapping[str, str],
              checkers_per_transfer: int) -> Profile:
    """--transfers and --checkers: `dvc-synced.jobs` when the user set it, else the user's
    RCLONE_TRANSFERS/RCLONE_CHECKERS, else ours for the backend."""
    transfers: Optional[int] = jobs
    if not jobs_explicit:
        if "RCLONE_TRANSFERS" in env:
            transfers = None
        elif profile.type in BUCKET_TYPES:
            # Small objects are request-bound, not byte-bound: object stores take many
            # requests at once (rclone's own advice for small files on S3 is 16-64).
            transfers = max(jobs, 16)
    checkers: Optional[int] = None
    if "RCLONE_CHECKERS" not in env:
        checkers = max(1, (transfers or jobs) * checkers_per_transfer)
    return Profile(profile.type, transfers, checkers, profile.flags, profile.fast_list,
                   profile.whole_uploads, profile.move_slots, profile.why)
