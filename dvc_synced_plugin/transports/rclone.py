"""rclone to any rclone remote (`name:path`, from the user's rclone config) or a local path.

`copy --files-from --no-traverse --ignore-existing`: only the listed objects, no listing of
the destination, nothing replaced, never `sync` (it deletes). rclone exits 0 when a listed
source file is missing, so callers check presence on both sides themselves.

rclone 1.60 writes files on local and sftp remotes (any backend that is not an object
store) under their final name as bytes arrive, so a cut upload left a truncated object
that `--ignore-existing` then kept for good. Uploads to such backends land in a scratch
directory on central first and are renamed in (a server-side move) once whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

from dvc_synced_plugin import output
from dvc_synced_plugin.errors import ConfigError, SyncError
from dvc_synced_plugin.fs import atomic_write
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.oids import HEX32
from dvc_synced_plugin.safety import check_object_path
from dvc_synced_plugin.settings import Settings
from dvc_synced_plugin.transports import rclone_profile
from dvc_synced_plugin.transports.base import (
    Capabilities,
    create_local_central,
    lstat_sizes,
    missing_central,
)
from dvc_synced_plugin.transports.lists import files_from
from dvc_synced_plugin.transports.retry import Retry, Transient, rclone_cause

UPLOAD_DIR = ".dvc-synced/upload"  # on central, outside the object layout
DOWNLOAD_PARTIAL = ".rclone-partial"  # in a download's destination, outside the layout
# rclone's own remote-name characters; `name,opt=val:path` overrides backend options, which
# a committed team file must not be able to do.
_REMOTE_RE = re.compile(r"^[\w.+@-][\w.+@ -]*$")
# Up to this many objects a call asks for each one by name (`--no-traverse`: one HEAD each
# on S3) instead of listing the directories that hold them: a change of 10 at 100,000
# objects on central must not list 100,000 keys. Above it listing is fewer requests (a
# page holds 1,000 keys; an empty destination lists in one), and for an upload the listing
# is the existence check that `--ignore-existing` needs.
PER_OBJECT_MAX = 1000
LIST_PER_DIR = 2  # listing pays when objects average more than this per directory


def parse_url(url: str, root: Path) -> str:
    if url.startswith("file://"):  # a local path, not an rclone remote named "file"
        return os.path.abspath(url[len("file://") :])
    head, colon, _ = url.partition(":")
    if colon and "/" not in head and head:
        if head.startswith("-"):
            raise ConfigError(f"rclone remote name in {url!r} may not start with '-'")
        if not _REMOTE_RE.match(head):
            raise ConfigError(
                f"rclone remote name {head!r} in {url!r} is not a plain remote name: "
                "configure options in `rclone config`, not in the central URL"
            )
        return url
    return os.path.abspath(root / os.path.expanduser(url))


def tools(settings: Settings) -> list[str]:
    return ["rclone"]


class RcloneTransport:
    # rclone exits 0 for some shortfalls (a listed source file that is missing), so an
    # upload reports as "had" every listed object rclone's log does not name as copied or
    # moved in, and the push checks those; its uploads share one scratch dir: one lane.
    capabilities = Capabilities(confirms_on_exit=True, lanes=1, progress=True)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.location = parse_url(settings.central, settings.root)
        self.description = f"rclone to {self.location}"
        self._in_place: Optional[bool] = None
        self._seen = False  # central's directory is known to exist
        self._stage_next: list[str] = []  # to go to the scratch dir with the next upload
        self._staged: set[str] = set()  # in the scratch dir whole (rclone said Copied)
        self.not_files: dict[str, str] = {}
        self.retry = Retry(settings.timeout)
        self.profile = rclone_profile.choose(
            self.location, settings.jobs, settings.sources.get("jobs", "default") != "default")

    @property
    def retries(self) -> int:
        return self.retry.retries

    def _rclone(self, args: list[str], what: str, progress: bool = False,
                done: Optional[set[str]] = None, objects: Optional[int] = None,
                moving: bool = False) -> str:
        """`progress`: rclone's one-line stats, once a second, on the user's terminal
        (`output.terminal`) while a copy runs; scripts and CI get none. `done`: gets the
        path of every object rclone's log says it copied or moved (verified: rclone logs
        that after its size and hash checks). Retried while it fails in a way retry.py
        calls transient: every call here is safe to repeat (copies never replace, moves
        come from our own scratch dir)."""
        return self.retry.call(
            lambda: self._rclone_once(args, what, progress, done, objects, moving))

    def _rclone_once(self, args: list[str], what: str, progress: bool = False,
                     done: Optional[set[str]] = None, objects: Optional[int] = None,
                     moving: bool = False) -> str:
        import sh

        # A local central that is not there: say so, as the rsync transport does (with few
        # objects asked by name rclone would answer "none of them", not "no such place").
        if os.path.isabs(self.location) and not os.path.isdir(self.location):
            raise missing_central(self.settings.central, self.location)
        t = self.settings.timeout
        base = [
            "--ask-password=false",  # a hook must never wait on a prompt
            # A silent server costs low-level-retries x --timeout before rclone gives up.
            f"--contimeout={t}s", f"--timeout={t}s",
            "--retries=3", "--low-level-retries=3",
            *self.profile.args(creating=args[:1] == ["mkdir"], objects=objects,
                               moving=moving),
        ]
        errors: list[str] = []  # stderr, as "LEVEL: [object: ]message" lines
        terminal = output.progress_stream() if progress else None
        if terminal is not None:
            base += ["--stats=1s", "--stats-one-line", "--stats-log-level=NOTICE"]
        if done is not None:
            base += ["-v", "--use-json-log"]

        def collect(line: str) -> None:  # one parameter: sh passes as many as declared
            if done is not None and line.startswith("{"):
                line = _json_line(line, done)
            errors.append(line)
            if terminal is not None and "NOTICE:" in line:
                with contextlib.suppress(OSError):
                    terminal.write("\r" + line.split("NOTICE:", 1)[1].strip()[:120] + " ")
                    terminal.flush()

        try:
            rclone = sh.Command("rclone")
        except sh.CommandNotFound:
            raise ConfigError(
                "rclone is not installed: install it (apt-get install rclone)"
            ) from None
        try:
            # Flags before the args: every call ends in `--`, after which all is positional.
            # stdin at EOF: a backend that asks for a password (sftp `ask_password`) fails
            # instead of waiting for an answer that never comes.
            return str(rclone(*base, *args, _tty_out=False, _in="", _err=collect))
        except sh.ErrorReturnCode as exc:
            text = "".join(errors)
            lines = [ln for ln in text.strip().splitlines()
                     if "NOTICE" not in ln and not ln.startswith("INFO: ")]
            detail = "; ".join(lines[-2:]) if lines else f"exit {exc.exit_code}"
            if exc.exit_code < 0:
                detail = f"killed by signal {-exc.exit_code}"
            elif exc.exit_code == 3 and "directory not found" in text:
                # rclone's exit 3: "directory not found", here central's own directory
                raise missing_central(self.settings.central, self.location) from None
            message = (f"{what} failed ({self.description}, rclone exit {exc.exit_code}: "
                       f"{detail}): check `rclone lsd` on the remote works, then run the "
                       "command again")
            cause = rclone_cause(text, exc.exit_code) if exc.exit_code > 0 else None
            if cause:
                raise Transient(message, cause) from None
            raise SyncError(message) from None
        finally:
            if terminal is not None and any("NOTICE:" in ln for ln in errors):
                with contextlib.suppress(OSError):
                    terminal.write("\n")
                    terminal.flush()

    def probe(self, relpaths: list[str]) -> dict[str, int]:
        if not relpaths:
            return {}
        if os.path.isabs(self.location):
            return self._probe_local(relpaths)
        try:
            with files_from(relpaths) as listing:
                out = self._rclone(
                    ["lsjson", "-R", "--no-mimetype", "--no-modtime",
                     *self._listing(relpaths), f"--files-from={listing}",
                     "--", self.location],
                    "checking central",
                )
        except SyncError as exc:
            # Asked by name, a directory at an object's path fails the whole listing
            # ("is a directory not a file", naming no path): list the names' own
            # directories instead, where it shows up as a directory.
            if "is a directory not a file" not in str(exc) or not all(
                    _PLAIN_PATH.match(rel) for rel in relpaths):
                raise
            with _filter_for(relpaths) as rules:
                out = self._rclone(
                    ["lsjson", "-R", "--no-mimetype", "--no-modtime",
                     *(["--fast-list"] if self.profile.fast_list else []),
                     f"--filter-from={rules}", "--", self.location],
                    "checking central",
                )
        try:
            entries = json.loads(out or "[]")
        except ValueError:
            raise SyncError(f"rclone printed an unreadable listing of {self.location}") from None
        wanted = set(relpaths)
        sizes: dict[str, int] = {}
        for e in entries:
            path = str(e.get("Path", ""))
            if path not in wanted:
                continue  # a directory on the way to the objects
            if e.get("IsDir"):
                self.not_files[path] = "a directory"
            else:
                sizes[path] = int(e["Size"])
        if not sizes:
            # Asked by name (`--no-traverse`), a missing central answers "none of them":
            # tell that apart from an empty one once (a push then never creates it).
            self.require_central()
        return sizes

    def _listing(self, relpaths: list[str]) -> list[str]:
        """`--no-traverse` for a few objects; for many a listing of their directories,
        recursive in one go (`--fast-list`) where the backend can."""
        by_name = _traverse(relpaths)
        return by_name or (["--fast-list"] if self.profile.fast_list else [])

    def _seen_file(self) -> Optional[Path]:
        """Where this clone remembers the centrals it saw exist (None: not in a clone)."""

        try:
            return gitinfo.state_dir(self.settings.root) / "central-seen"
        except SyncError:
            return None

    def require_central(self) -> None:
        """Raise `missing_central` unless central's directory (or bucket) exists.

        Asked once per remote definition (`remote_key`) and path, then remembered in this
        clone: the push of every new change would otherwise pay a listing (over sftp, a
        connection) to learn what it learnt before."""
        if self._seen or os.path.isabs(self.location):
            return  # a local path is checked by every rclone call (`_rclone`)
        key = hashlib.sha256(
            f"{remote_key(self.location)}\0{self.location}".encode(
                errors="surrogateescape")).hexdigest()
        seen = self._seen_file()
        with contextlib.suppress(OSError):
            if seen is not None and key in seen.read_text().split():
                self._seen = True
                return
        self._rclone(["lsjson", "--max-depth", "1", "--dirs-only", "--no-mimetype",
                      "--no-modtime", "--", self.location], "checking central")
        self._seen = True
        with contextlib.suppress(OSError):
            if seen is None:
                return
            seen.parent.mkdir(parents=True, exist_ok=True)
            with open(seen, "a") as fobj:
                fobj.write(key + "\n")

    def _probe_local(self, relpaths: list[str]) -> dict[str, int]:
        """A local central is this machine's filesystem: lstat is the truth, and costs no
        process. rclone's own answer is not: asked by name (`--no-traverse`) it gives a
        symlink, dangling or not, as a file the size of its target's *name*, and a
        directory there fails the whole listing."""
        if not os.path.isdir(self.location):
            raise missing_central(self.settings.central, self.location)
        if shutil.which("rclone") is None:  # every other step needs it: say so first
            raise ConfigError("rclone is not installed: install it (apt-get install rclone)")
        return lstat_sizes(self.location, relpaths, self.description, self.not_files)

    def _join(self, rel: str) -> str:
        base = self.location if self.location.endswith(":") else self.location.rstrip("/") + "/"
        return base + rel

    def _writes_in_place(self, store: Optional[Path] = None) -> bool:
        """Whether a cut upload would leave a truncated file under the final name.

        Object stores (rclone's `BucketBased`) publish an upload only when it is whole;
        local, sftp and the other file backends do not. Unknown means yes. The answer
        is kept in `store` (the local storage), keyed by everything that defines the
        remote, so a push does not pay an rclone process (over sftp: a connection) to
        ask again.
        """
        if self._in_place is None and self.profile.whole_uploads is not None:
            self._in_place = not self.profile.whole_uploads  # known from the type
        if self._in_place is None:
            self._in_place = True
            if not os.path.isabs(self.location):
                key = remote_key(self.location)
                memo = store / ".dvc-synced" / "rclone-features" if store else None
                known = _read_memo(memo, key) if memo else None
                if known is not None:
                    self._in_place = known
                    return known
                try:
                    out = self._rclone(["backend", "features", "--", self.location],
                                       "checking central")
                    features = json.loads(out).get("Features", {})
                    self._in_place = not features.get("BucketBased", False)
                except (SyncError, ValueError, AttributeError):
                    return self._in_place  # not known: not remembered
                if memo:
                    _write_memo(memo, key, self._in_place)
        return self._in_place

    def reports_existing(self) -> bool:
        return True  # what rclone's log does not name as copied or moved in

    def upload(self, src_root: Path, relpaths: list[str]) -> Optional[set[str]]:
        """Returns the listed objects rclone did not say it put on central: those central
        had already (`--ignore-existing` skipped them), or anything else rclone passed over
        with exit 0. The push size-checks those; the rest arrived, verified by rclone."""
        if not relpaths:
            return set()
        self.require_central()  # rclone makes missing directories: never central itself
        done: set[str] = set()
        if not self._writes_in_place(src_root):
            # `--ignore-existing` stays the no-overwrite rule, so never `--no-check-dest`
            # here (it sends regardless). `--s3-no-head`: no HEAD after each PUT (rclone
            # still checks the PUT's ETag against the md5): a third of the requests of a
            # first push.
            with files_from(relpaths) as listing:
                self._rclone(
                    ["copy", *self._listing(relpaths), "--ignore-existing", "--s3-no-head",
                     f"--files-from={listing}", "--", f"{src_root}", self.location],
                    "uploading to central", progress=True, done=done,
                    objects=len(relpaths),
                )
            return set(relpaths) - done
        # One scratch dir per local storage (its runs are serialised by the storage lock):
        # whole files a cut run left there are skipped by the next copy (same size and time).
        # After a run that ended (the marker gone) nothing there is worth a look: the copy
        # sends regardless (`--no-check-dest`), instead of asking for each name first (over
        # sftp a round trip each, and a connection per checker). Only the scratch dir is
        # written this way; the final names are reached by the moves, `--ignore-existing`.
        scratch = self._join(f"{UPLOAD_DIR}/{upload_id(src_root)}")
        pending = src_root / ".dvc-synced" / "upload-pending"
        fresh = not pending.exists()
        with contextlib.suppress(OSError):
            pending.touch()
        ahead = [r for r in dict.fromkeys(self._stage_next)
                 if r not in relpaths and r not in self._staged and (src_root / r).is_file()]
        self._stage_next = []
        sending = [r for r in relpaths if r not in self._staged]
        copied: set[str] = set()
        if sending:
            with files_from(sending + ahead) as listing:
                self._rclone(
                    ["copy", "--no-traverse", *(["--no-check-dest"] if fresh else []),
                     f"--files-from={listing}", "--", f"{src_root}", scratch],
                    "uploading to central", progress=True, objects=len(sending),
                    done=copied if ahead else None,
                )
            self._staged |= copied.intersection(ahead)
        # rclone refuses to move into a directory that contains the source, so each
        # object directory (`files/md5`, or a legacy `ab`) is moved into on its own.
        groups: dict[str, list[str]] = {}
        for rel in relpaths:
            parts = rel.split("/")
            cut = len(parts) - 2 if len(parts) > 2 else 1
            groups.setdefault("/".join(parts[:cut]), []).append("/".join(parts[cut:]))
        for group, names in groups.items():
            moved: set[str] = set()
            try:
                with files_from(names) as listing:
                    self._rclone(
                        ["move", "--no-traverse", "--ignore-existing",
                         f"--files-from={listing}", "--", f"{scratch}/{group}",
                         self._join(group)],
                        "publishing uploads on central", done=moved,
                        objects=len(names), moving=True,
                    )
            except SyncError:
                # A directory where an object belongs fails the move (webdav: 412, no
                # overwrite) with rclone's words; the push names it instead (not_files).
                paths = [f"{group}/{name}" for name in names]
                self.probe(paths)
                if not any(p in self.not_files for p in paths):
                    raise
            done |= {f"{group}/{name}" for name in moved}
        self._staged.difference_update(relpaths)
        with contextlib.suppress(OSError):
            pending.unlink()
        return set(relpaths) - done

    def stage_ahead(self, relpaths: list[str]) -> None:
        """`relpaths` (the push's manifests, in the local storage already) go to the
        scratch dir with the next upload's copy, so their own upload later is only the
        move that publishes them (one rclone process less; over sftp its connections).
        Nothing is published ahead: a manifest still gets its name only once uploaded."""
        self._stage_next = list(relpaths)

    def download(self, relpaths: list[str], dest_root: Path) -> None:
        """Whole files only: rclone writes a local file under its name as bytes arrive, and
        a cut download's short file must not sit where the caller (or its next run, which
        keeps staged files) takes it for a whole one. rclone writes into a partial dir;
        files move in only after rclone succeeded. A cut run's whole files there are
        skipped by the next copy (same size and time). Many objects (a first pull) are
        listed on central rather than asked for one by one (a HEAD each on S3)."""
        if not relpaths:
            return
        partial = dest_root / DOWNLOAD_PARTIAL
        with files_from(relpaths) as listing:
            self._rclone(
                ["copy", *_traverse(relpaths), f"--files-from={listing}",
                 "--", self.location, f"{partial}"],
                "downloading from central", progress=True, objects=len(relpaths),
            )
        for rel in relpaths:
            src = partial / rel
            if src.is_file():
                dest = dest_root / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dest)

    def check_central(self) -> str:
        """A listing of central's top level (read-only); a local path's access bits.
        rclone cannot tell whether a remote is writable without writing."""
        if os.path.isabs(self.location):
            if not os.path.isdir(self.location):
                raise missing_central(self.settings.central, self.location)
            if not os.access(self.location, os.W_OK | os.X_OK):
                raise SyncError(f"central storage {self.location} is not writable by you: "
                                "ask its owner to add you to its group (docs/central.md)")
            return f"{self.description}: exists, writable"
        self._seen = False
        seen = self._seen_file()
        with contextlib.suppress(OSError):
            if seen is not None:
                seen.unlink()
        self.require_central()
        return (f"{self.description}: exists (writability is not tested: doctor writes "
                "nothing; the first push tells)")

    def create_central(self) -> str:
        """`rclone mkdir` (for a bucket-based remote, the bucket); a local path's last
        directory only."""
        if os.path.isabs(self.location):
            return create_local_central(self.location)
        self._rclone(["mkdir", "--", self.location], "creating central")
        return f"created {self.location}"

    def close(self) -> None:
        pass


def remote_key(location: str) -> str:
    """A digest of what decides a remote's backend: its name, rclone's binary, every
    RCLONE_* variable (remotes can be defined there) and the config files rclone would
    read. Any change, and the remote's features are asked again."""
    parts = [location.partition(":")[0]]
    binary = shutil.which("rclone") or "rclone"
    home = Path.home()
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    candidates = ([os.environ["RCLONE_CONFIG"]] if os.environ.get("RCLONE_CONFIG") else
                  [str(Path(binary).parent / "rclone.conf"),  # rclone's portable mode
                   str(config_home / "rclone" / "rclone.conf"), str(home / ".rclone.conf")])
    for path in [binary, *candidates]:
        try:
            st = os.stat(path)
            parts.append(f"{path}:{st.st_mtime_ns}:{st.st_size}:{st.st_ino}")
        except OSError:
            parts.append(f"{path}:-")
    parts += sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("RCLONE_"))
    return hashlib.sha256("\0".join(parts).encode(errors="surrogateescape")).hexdigest()


def _json_line(line: str, done: set[str]) -> str:
    """One line of `--use-json-log` as text; a verified copy or move goes into `done`."""
    try:
        entry = json.loads(line)
        level, msg, obj = str(entry["level"]), str(entry["msg"]), entry.get("object")
    except (ValueError, KeyError, TypeError):
        return line
    if obj and level == "info" and msg.startswith(("Copied", "Moved")):
        done.add(str(obj))
    return f"{level.upper()}: {obj + ': ' if obj else ''}{msg.strip()}\n"


def _read_memo(memo: Path, key: str) -> Optional[bool]:
    try:
        text = (memo / key).read_text().strip()
    except OSError:
        return None
    return {"in-place": True, "whole": False}.get(text)


def _write_memo(memo: Path, key: str, in_place: bool) -> None:
    with contextlib.suppress(OSError):  # a memo that cannot be written is asked again
        atomic_write(memo / key, "in-place\n" if in_place else "whole\n")


_PLAIN_PATH = re.compile(r"^[0-9A-Za-z._/-]+$")  # no glob characters in a filter rule


@contextlib.contextmanager
def _filter_for(relpaths: list[str]) -> Iterator[str]:
    """An rclone filter file that lists these paths and whatever sits at them (a
    directory's own entry included), and nothing else."""
    for rel in relpaths:
        check_object_path(rel)
    fd, path = tempfile.mkstemp(prefix="dvc-synced-", suffix=".filter")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fobj:
            fobj.write("".join(f"+ /{rel}\n+ /{rel}/**\n" for rel in sorted(set(relpaths))))
            fobj.write("- **\n")
        yield path
    finally:
        os.unlink(path)


def _traverse(relpaths: list[str]) -> list[str]:
    """`--no-traverse` for a few objects, a listing of their directories for many.

    "Many" is over PER_OBJECT_MAX, or more than LIST_PER_DIR per directory they fall in:
    a listing costs at least a request per directory, a request per object by name. A
    first push of 1,000 objects (256 directories) asked for each by name three times
    over (probe, `--ignore-existing`, size check): 4,007 requests against dvc-s3's 1,010.
    A change of 10 falls in ~10 directories and is still asked for by name."""
    if len(relpaths) > PER_OBJECT_MAX:
        return []
    directories = len({rel.rpartition("/")[0] for rel in relpaths})
    return [] if len(relpaths) > LIST_PER_DIR * directories else ["--no-traverse"]


def upload_id(store: Path) -> str:
    """A stable random name for this local storage's scratch dir on central."""
    path = store / ".dvc-synced" / "upload-id"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        new = uuid.uuid4().hex
        tmp = path.with_name(f"upload-id.{new}")
        tmp.write_text(new + "\n")
        try:
            os.link(tmp, path)  # never replaces: a concurrent first run's id wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    text = path.read_text().strip()
    return text if HEX32.fullmatch(text) else uuid.uuid5(
        uuid.NAMESPACE_URL, text).hex


TRANSPORT = RcloneTransport
