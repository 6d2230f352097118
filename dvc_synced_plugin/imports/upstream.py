"""An upstream: data someone else updates (a local or mounted path, a host over ssh, any
rclone remote) that `import-url` copies in and `update` follows.

Two operations only: list every file (relative path, size, mtime, and the backend's hash
where it has one) in one call, and download a given list of files into a directory. URLs
are parsed by the transports' own `parse_url`, so an upstream is refused exactly where a
central storage would be (rclone option overrides `name,opt=val:path`, hostile hosts).

Listings are what `update` compares, so they must be stable across machines: rsync prints
mtimes in the local time zone (run with TZ=UTC), rclone in RFC 3339 (normalised to UTC
epoch seconds with the fraction rclone gave). Nothing is run through a shell.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from dvc_synced_plugin.errors import ConfigError, SyncError
from dvc_synced_plugin.settings import Settings
from dvc_synced_plugin.transports import TRANSPORTS as REGISTRY
from dvc_synced_plugin.transports import rclone as rclone_mod
from dvc_synced_plugin.transports import rsync as rsync_mod

TRANSPORTS = tuple(name for name, entry in REGISTRY.items() if entry.upstream)
PARTIAL = ".partial"  # rsync's partial dir, beside (not inside) the download's files


@dataclass(frozen=True)
class Entry:
    """One upstream file. `mtime`: epoch seconds as a decimal string (exact, any precision);
    `hash`: "md5:<hex>" where the backend gave one, else ""."""

    size: int
    mtime: str
    hash: str = ""


def check_relpath(rel: str, where: str) -> str:
    """Upstream names become workspace paths: nothing above, absolute or multi-line."""
    parts = rel.split("/")
    if (not rel or rel.startswith("/") or "\n" in rel or "\r" in rel or "\0" in rel
            or any(p in ("", ".", "..", ".git", ".dvc") for p in parts)):
        raise SyncError(f"refusing the file name {rel!r} from {where}: it is not a plain "
                        "relative path; rename it on the upstream")
    return rel


def is_rclone_remote(name: str) -> bool:
    """Whether `name` is a configured rclone remote (config file or RCLONE_CONFIG_* env)."""
    if f"RCLONE_CONFIG_{name.upper()}_TYPE" in os.environ:
        return True
    if not shutil.which("rclone"):
        return False
    proc = subprocess.run(["rclone", "listremotes"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    return proc.returncode == 0 and f"{name}:" in proc.stdout.split()


def default_transport(url: str) -> str:
    """The transport that fits the URL: `name:path` is rclone when `name` is an rclone
    remote, else an ssh host for rsync; paths, `file://` and `ssh://` are rsync."""
    if url.startswith(("ssh://", "file://")):
        return "rsync"
    head, colon, _ = url.partition(":")
    if colon and head and "/" not in head and "@" not in head and is_rclone_remote(head):
        return "rclone"
    return "rsync"


def _epoch(stamp: str) -> str:
    """RFC 3339 (rclone) -> UTC epoch seconds, keeping every fractional digit given."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", stamp)
    if not m:
        raise SyncError(f"rclone printed an unreadable modification time {stamp!r}")
    base = datetime.fromisoformat(m.group(1) + (m.group(3).replace("Z", "+00:00")))
    frac = (m.group(2) or "").rstrip("0")
    return f"{int(base.timestamp())}{frac if frac != '.' else ''}"


class Upstream:
    """One upstream URL over one transport. `kind` is "dir" or "file" once known."""

    def __init__(self, settings: Settings, url: str, transport: str,
                 kind: Optional[str] = None) -> None:
        if transport not in TRANSPORTS:
            raise ConfigError(f"unknown transport {transport!r}: use {' or '.join(TRANSPORTS)}")
        if "\n" in url or "\0" in url or not url.strip():
            raise ConfigError(f"upstream URL {url!r} is not usable: give a path, "
                              "[user@]host:path, ssh://... or an rclone remote:path")
        self.settings = settings
        self.url = url
        self.transport = transport
        self.kind = kind
        self.ssh: Optional[rsync_mod.SshSession] = None
        self.local_path: Optional[str] = None  # an upstream on this machine
        if transport == "rclone":
            self.location = rclone_mod.parse_url(url, settings.root)
            if os.path.isabs(self.location):
                self.local_path = self.location
        else:
            host, port, path = rsync_mod.parse_url(url, settings.root)
            path = path.rstrip("/") or "/"
            if host:
                self.ssh = rsync_mod.SshSession(settings, host, port)
                self.location = f"{host}:{path}"
            else:
                self.location = os.path.abspath(path)
                self.local_path = self.location

    # ------------------------------------------------------------------ running tools

    def _run(self, args: list[str], what: str) -> str:
        env = dict(os.environ)
        if self.transport == "rsync":
            env["TZ"] = "UTC"  # %M is printed in local time
            base = ["rsync", "--timeout", str(max(self.settings.timeout, 1) * 4)]
            if self.ssh:
                try:
                    self.ssh.open()
                except SyncError as exc:  # its message speaks of central
                    detail = str(exc).partition("(")[2].partition(")")[0]
                    raise SyncError(
                        f"cannot reach the upstream {self.url} over ssh ({detail}): check that "
                        f"`ssh {self.ssh.host}` logs in without a prompt (key, ssh-agent, "
                        "~/.ssh/config)") from None
                base += ["-e", self.ssh.rsh()]
        else:
            t = self.settings.timeout
            base = ["rclone", "--ask-password=false", f"--contimeout={t}s", f"--timeout={t}s",
                    "--retries=3", "--low-level-retries=3",
                    f"--transfers={self.settings.jobs}", f"--checkers={self.settings.jobs * 2}"]
        if not shutil.which(base[0], path=env.get("PATH")):
            raise ConfigError(f"{base[0]} is not installed: install it (apt-get install {base[0]})")
        proc = subprocess.run([*base, *args], env=env, capture_output=True,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise self._failure(proc.returncode, proc.stderr, what)
        return proc.stdout.decode("utf-8", "surrogateescape")

    def _failure(self, code: int, stderr: bytes, what: str) -> SyncError:
        text = stderr.decode(errors="replace")
        if self.transport == "rsync":
            detail = rsync_mod.failure_detail(stderr, code)
        else:
            lines = [ln for ln in text.strip().splitlines() if "NOTICE" not in ln]
            detail = "; ".join(lines[-2:]) if lines else f"exit {code}"
        if code < 0:
            detail = f"killed by signal {-code}"
        gone = ("No such file or directory" in text or "directory not found" in text
                or "object not found" in text or "file not found" in text)
        if gone and what == "listing":
            return SyncError(
                f"the upstream {self.url} does not exist ({detail}): check the URL; it may "
                "have been moved or deleted upstream")
        how = (f"`rclone lsf {self.location}` works" if self.transport == "rclone"
               else "`ssh` to its host works" if self.ssh else "the path is mounted")
        return SyncError(
            f"{what} {self.url} failed ({self.transport} exit {code}: {detail}): check that "
            f"{how}, then run the command again")

    # ------------------------------------------------------------------ listing

    def probe_kind(self) -> str:
        """"dir" or "file" (one extra call, at import time only)."""
        if self.kind:
            return self.kind
        if self.local_path is not None:
            if os.path.isdir(self.local_path):
                self.kind = "dir"
            elif os.path.isfile(self.local_path):
                self.kind = "file"
            else:
                raise SyncError(f"the upstream {self.url} does not exist: check the URL")
        elif self.transport == "rclone":
            out = self._run(["lsjson", "--stat", "--no-mimetype", "--no-modtime", "--",
                             self.location], "listing")
            try:
                self.kind = "dir" if json.loads(out).get("IsDir") else "file"
            except (ValueError, AttributeError):
                raise SyncError(f"rclone printed an unreadable answer about {self.url}") from None
        else:
            entries = self._rsync_list(self.location)
            base = os.path.basename(self.location.split(":", 1)[-1].rstrip("/"))
            self.kind = "file" if list(entries) == [base] else "dir"
        return self.kind

    def list(self) -> dict[str, Entry]:
        """Every file below the upstream (or the file itself), in one listing call."""
        kind = self.probe_kind() if self.kind is None else self.kind
        if self.transport == "rclone":
            entries = self._rclone_list()
        else:
            entries = self._rsync_list(self.location + ("/" if kind == "dir" else ""))
        if kind == "file" and len(entries) != 1:
            raise SyncError(f"the upstream {self.url} is no longer a single file: "
                            "import it again under a new PATH")
        return entries

    def _rsync_list(self, source: str) -> dict[str, Entry]:
        empty = tempfile.mkdtemp(prefix="dvc-synced-list-")
        try:
            # -8: names as bytes, not \#ooo escapes; a dry run against an empty directory
            # prints every source file once.
            out = self._run(["-rn", "-8", "--out-format=%l\t%M\t%n", "--", source,
                             empty + "/"], "listing")
        finally:
            os.rmdir(empty)
        entries: dict[str, Entry] = {}
        for line in out.splitlines():
            size, _, rest = line.partition("\t")
            stamp, _, name = rest.partition("\t")
            if not name or name.endswith("/") or not size.isdigit():
                continue
            when = datetime.strptime(stamp, "%Y/%m/%d-%H:%M:%S").replace(tzinfo=timezone.utc)
            entries[check_relpath(name, self.url)] = Entry(int(size), str(int(when.timestamp())))
        return entries

    def _rclone_list(self) -> dict[str, Entry]:
        out = self._run(["lsjson", "-R", "--files-only", "--no-mimetype", "--hash-type", "md5",
                         "--", self.location], "listing")
        try:
            items = json.loads(out or "[]")
        except ValueError:
            raise SyncError(f"rclone printed an unreadable listing of {self.url}") from None
        entries: dict[str, Entry] = {}
        for item in items:
            if item.get("IsDir"):
                continue
            md5 = (item.get("Hashes") or {}).get("md5") or ""
            entries[check_relpath(item["Path"], self.url)] = Entry(
                int(item["Size"]), _epoch(item["ModTime"]), f"md5:{md5}" if md5 else "")
        return entries

    # ------------------------------------------------------------------ download

    def download(self, relpaths: list[str], dest: Path) -> None:
        """Copy these files into `dest` (keeping their mtimes). Callers verify sizes and
        hashes: a file here is a candidate, never trusted as it lands."""
        if not relpaths:
            return
        dest.mkdir(parents=True, exist_ok=True)
        fd, listing = tempfile.mkstemp(prefix="dvc-synced-", suffix=".list")
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fobj:
            fobj.write("".join(f"{check_relpath(r, self.url)}\n" for r in relpaths))
        try:
            if self.transport == "rclone":
                # rclone writes local files under their name as bytes arrive: a cut run
                # leaves a short file, which the caller's size/hash check rejects and the
                # next copy replaces (size and time differ).
                src = self.location if self.kind == "dir" else _parent(self.location)
                self._run(["copy", "--no-traverse", f"--files-from={listing}", "--", src,
                           str(dest)], "downloading from")
            else:
                src = self.location + "/" if self.kind == "dir" else _parent(self.location)
                # --partial-dir: a cut file never sits under its final name, and the next
                # run resumes it. -t: mtimes as upstream, which the listing compares.
                self._run(["-t", "-8", f"--files-from={listing}",
                           f"--partial-dir={dest.parent / PARTIAL}", "--", src,
                           f"{dest}/"], "downloading from")
        finally:
            os.unlink(listing)

    def close(self) -> None:
        if self.ssh:
            self.ssh.close()

    def __enter__(self) -> Upstream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parent(location: str) -> str:
    """The folder holding a single-file upstream, in the location's own syntax."""
    head, colon, path = location.partition(":")
    if colon and head and "/" not in head:  # host:path or remote:path
        parent = os.path.dirname(path.rstrip("/"))
        return f"{head}:{parent}"
    return os.path.dirname(location.rstrip("/")) or "/"
