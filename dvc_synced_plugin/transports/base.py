"""What a transport is: the Protocol every transport implements and what it declares.

A transport moves object files between a store on this machine and central, given
explicit lists of object paths (relative to a store root). It never lists or scans a
whole store, never deletes, and never replaces an object that exists. The flows ask the
transport's `capabilities` instead of its name, so a new transport needs no edit there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Protocol


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


class Transport(Protocol):
    """The small interface every transport implements."""

    description: str  # for messages: "rsync over ssh to host:/srv/x"
    capabilities: Capabilities

    @property
    def retries(self) -> int:
        """Attempts repeated after a transient failure so far (retry.py), for the summary."""

    def probe(self, relpaths: list[str]) -> dict[str, int]:
        """Sizes of those of `relpaths` that central holds (absent ones are left out)."""

    def reports_existing(self) -> bool:
        """Whether `upload` returns which listed objects central had (so a push can
        upload first and size-check only those, instead of probing before)."""

    def upload(self, src_root: Path, relpaths: list[str]) -> Optional[set[str]]:
        """Copy these objects from `src_root` to central, skipping ones central has.
        Returns those skipped when `reports_existing()`, else None."""

    def download(self, relpaths: list[str], dest_root: Path) -> None:
        """Copy these objects from central into `dest_root` (a staging directory)."""

    def check_writable(self) -> None:
        """Reach central and write a marker file there; raise SyncError naming the fix."""

    def close(self) -> None:
        """Release connections."""
