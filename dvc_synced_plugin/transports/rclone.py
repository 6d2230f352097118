"""rclone to any rclone remote (`name:path`, from the user's rclone config) or a local path.

`copy --files-from --no-traverse --ignore-existing`: only the listed objects, no listing of
the destination, nothing replaced, never `sync` (it deletes). rclone exits 0 when a listed
source file is missing, so callers check presence on both sides themselves.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dvc_synced_plugin.config import Settings
from dvc_synced_plugin.errors import ConfigError, SyncError
from dvc_synced_plugin.transports.lists import files_from


def parse_url(url: str, root: Path) -> str:
    head, colon, _ = url.partition(":")
    if colon and "/" not in head and head:
        if head.startswith("-"):
            raise ConfigError(f"rclone remote name in {url!r} may not start with '-'")
        return url
    return os.path.abspath(root / os.path.expanduser(url))


class RcloneTransport:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.location = parse_url(settings.central, settings.root)
        self.description = f"rclone to {self.location}"

    def _rclone(self, args: list[str], what: str) -> str:
        import sh

        t = self.settings.timeout
        base = [
            "--ask-password=false",  # a hook must never wait on a prompt
            f"--contimeout={t}s", f"--timeout={t * 4}s",
            "--retries=3", "--low-level-retries=5",
            f"--transfers={self.settings.jobs}", f"--checkers={self.settings.jobs * 2}",
        ]
        try:
            rclone = sh.Command("rclone")
        except sh.CommandNotFound:
            raise ConfigError("rclone is not installed: install it (apt-get install rclone)") from None
        try:
            # Flags before the args: every call ends in `--`, after which all is positional.
            return str(rclone(*base, *args, _tty_out=False))
        except sh.ErrorReturnCode as exc:
            lines = [ln for ln in exc.stderr.decode(errors="replace").strip().splitlines()
                     if "NOTICE" not in ln]
            detail = "; ".join(lines[-2:]) if lines else f"exit {exc.exit_code}"
            raise SyncError(
                f"{what} failed ({self.description}, rclone exit {exc.exit_code}: {detail}): "
                "check `rclone lsd` on the remote works, then run the command again"
            ) from None

    def probe(self, relpaths: list[str]) -> dict[str, int]:
        if not relpaths:
            return {}
        with files_from(relpaths) as listing:
            out = self._rclone(
                ["lsjson", "-R", "--files-only", "--no-mimetype", "--no-modtime",
                 f"--files-from={listing}", "--", self.location],
                "checking central",
            )
        try:
            entries = json.loads(out or "[]")
        except ValueError:
            raise SyncError(f"rclone printed an unreadable listing of {self.location}") from None
        return {e["Path"]: int(e["Size"]) for e in entries if not e.get("IsDir")}

    def upload(self, src_root: Path, relpaths: list[str]) -> None:
        if not relpaths:
            return
        with files_from(relpaths) as listing:
            self._rclone(
                ["copy", "--no-traverse", "--ignore-existing", f"--files-from={listing}",
                 "--", f"{src_root}", self.location],
                "uploading to central",
            )

    def download(self, relpaths: list[str], dest_root: Path) -> None:
        if not relpaths:
            return
        with files_from(relpaths) as listing:
            self._rclone(
                ["copy", "--no-traverse", f"--files-from={listing}",
                 "--", self.location, f"{dest_root}"],
                "downloading from central",
            )

    def check_writable(self) -> None:
        base = self.location if self.location.endswith(":") else self.location.rstrip("/") + "/"
        target = f"{base}.dvc-synced/writable-check"
        self._rclone(["touch", "--", target], "writing to central")

    def close(self) -> None:
        pass
