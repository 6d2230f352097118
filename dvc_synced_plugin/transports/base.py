"""What a transport is: the Protocol every transport implements and what it declares.

A transport moves object files between a store on this machine and central, given
explicit lists of object paths (relative to a store root). It never lists or scans a
whole store, never deletes, and never replaces an object that exists. The flows ask the
transport's `capabilities` instead of its name, so a new transport needs no edit there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Protocol

from dvc_synced_plugin.errors import MissingCentralError, SyncError


def group_shared(path: str) -> None:
    """A central directory the team writes into: 0775, keeping the setgid bit a setgid
    parent passed on (chmod with explicit bits would clear it)."""
    import os
    import stat

    setgid = os.stat(path).st_mode & stat.S_ISGID
    os.chmod(path, 0o775 | setgid)


def missing_central(central: str, where: str) -> MissingCentralError:
    """The one error for a central that is not there, whatever reaches it: nothing but
    `init --create` creates it (a typo must not become a new, private storage)."""
    return MissingCentralError(
        f"central storage {where} does not exist: fix dvc-synced.central if it is a typo, "
        f"else create it once with `dvc-synced init --central {central} --create` "
        "(or mount it)"
    )


@dataclass(frozen=True)
class Capabilities:
    # Exits non-zero unless every listed file arrived whole under its final name (rsync
    # checksums and renames in only once complete); otherwise the push lists central
    # again after uploading to confirm.
    confirms_on_exit: bool = False
    # Upload sessions that may run at once (one stream is limited by the tool itself).
    lanes: int = 1
    # Shows live progress on a terminal; parallel lanes would garble it.
    progress: bool = False
    # Has `upload_delta` and `download_delta`: a new `.dir` manifest crosses the wire as
    # the blocks that differ from an older version of it (76 MB at 10^6 files, a change of
    # 10 entries). Each may decline (returns None) where it cannot; the caller then uses
    # `upload` / `download`.
    delta: bool = False


class Transport(Protocol):
    """The small interface every transport implements."""

    description: str  # for messages: "rsync over ssh to host:/srv/x"
    capabilities: Capabilities
    # What probes found at listed paths that is not a regular file: relpath -> what it is
    # ("a directory", "a symlink"). Never an object (probe leaves it out), and never
    # replaced: a push onto one is refused, naming it.
    not_files: dict[str, str]

    @property
    def retries(self) -> int:
        """Attempts repeated after a transient failure so far (retry.py), for the summary."""

    def probe(self, relpaths: list[str]) -> dict[str, int]:
        """Sizes of those of `relpaths` that central holds as regular files (absent ones,
        and directories or symlinks there, are left out; the latter go to `not_files`)."""

    def reports_existing(self) -> bool:
        """Whether `upload` returns which listed objects central had (so a push can
        upload first and size-check only those, instead of probing before)."""

    def upload(self, src_root: Path, relpaths: list[str]) -> Optional[set[str]]:
        """Copy these objects from `src_root` to central, skipping ones central has.
        Returns those skipped when `reports_existing()`, else None."""

    def download(self, relpaths: list[str], dest_root: Path) -> None:
        """Copy these objects from central into `dest_root` (a staging directory)."""

    def check_central(self) -> str:
        """Reach central and look, writing nothing: a detail for doctor and init ("exists,
        writable"). Raises `missing_central`'s error when it is not there, SyncError
        naming the fix when it cannot be reached."""

    def create_central(self) -> str:
        """Create central's directory (`init --create`, the one step that may): its parent
        must exist. Returns what was done."""

    def close(self) -> None:
        """Release connections."""

    # Optional: `connect() -> None` opens the connection ahead of the first transfer
    # (rsync over ssh), so the upload queue forms its first batch after the handshake.
    # Optional: `stage_ahead(relpaths) -> None`: objects the push will upload later (its
    # manifests) may travel with the next upload, unpublished (rclone's scratch dir).


def lstat_kind(path: str) -> Optional[str]:
    """What sits at `path` when it is not a regular file (None: a regular file or nothing)."""
    import stat

    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        target = os.readlink(path)
        return f"a symlink to {target!r}" + ("" if os.path.exists(path) else " (dangling)")
    return "a special file"


def lstat_sizes(root: str, relpaths: list[str], description: str,
                not_files: dict[str, str]) -> dict[str, int]:
    """Sizes of the regular files among `relpaths` under a central on this machine's
    filesystem; anything else there is recorded in `not_files` (never an object)."""
    import stat

    sizes: dict[str, int] = {}
    for rel in relpaths:
        path = os.path.join(root, rel)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise SyncError(
                f"checking central failed ({description}: {rel}: {exc.strerror}): "
                "fix the cause and run the command again"
            ) from None
        if stat.S_ISREG(st.st_mode):
            sizes[rel] = st.st_size
        else:
            not_files[rel] = lstat_kind(path) or "no file"
    return sizes


def create_local_central(path: str) -> str:
    """`init --create` for a central on this machine: its last directory only, under an
    existing parent, group-shared so teammates can add objects."""
    try:
        os.mkdir(path)
        group_shared(path)
    except FileExistsError:
        return f"{path} exists"
    except OSError as exc:
        raise SyncError(f"cannot create central storage {path}: "
                        f"{exc.strerror}: create its parent first") from None
    return f"created {path}"
