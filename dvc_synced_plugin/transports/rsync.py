"""rsync to a local/mounted path or over SSH (`[user@]host:path`, `ssh://[user@]host[:port]/path`).

Choices that matter (see FIELD-NOTES): `--files-from` so neither side scans a store;
`--ignore-existing` so an object on central is never replaced; no `--partial` (a cut-off
file would sit under its final name): interrupted data goes to a partial dir instead;
`-t` so times are kept. One SSH master connection serves every rsync call of a command.

A team shares one central (one group, a setgid root): new objects are 0444 (`--perms
--chmod=F444` on the listed files only); with `--no-implied-dirs` existing directories
are never touched (a chmod or utime on a teammate's directory fails with EPERM), and new
ones are made under umask 002 on the receiving side, so they are group-writable and
inherit group and setgid from their parent.

Old rsyncs (macOS: 2.6.9, openrsync; see rsync_flavor.py) lack `--info` and
`--ignore-missing-args`: they get per-file `--progress`, and a probe that reads rsync's
exit 23 (a listed file missing) as an answer only when every listed file missing from the
listing is named by a "No such file or directory" error and nothing else went wrong (for
a local central, lstat). They speak protocol 29, where the upload sends the directories
instead of `--no-implied-dirs` and keeps existing ones untouched another way
(Flavor.upload_modes), and they do not quote remote paths: a path the remote shell would
interpret is refused.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Callable, Optional, TextIO

from dvc_synced_plugin import output
from dvc_synced_plugin.errors import ConfigError, SyncError
from dvc_synced_plugin.oids import object_ref
from dvc_synced_plugin.safety import expected_hash
from dvc_synced_plugin.settings import Settings
from dvc_synced_plugin.transports.base import (
    Capabilities,
    create_local_central,
    lstat_sizes,
    missing_central,
)
from dvc_synced_plugin.transports.lists import files_from
from dvc_synced_plugin.transports.retry import Retry, Transient, rsync_cause, ssh_cause
from dvc_synced_plugin.transports.rsync_flavor import Flavor, detect

PARTIAL_DIR = ".dvc-synced/partial"  # under the storage root, outside the object layout
# Prefix of the --out-format line rsync prints for each file it sends: told apart from
# progress output by it. A listed file without one was on central already.
SENT_MARK = "dvc-synced-sent: "
RECEIVER_UMASK = 0o002  # new dirs group-writable: teammates add objects beside ours
STAGE_DIR = ".dvc-synced/stage"  # under the storage root: delta uploads before their names
HAD_MARK = "dvc-synced-had: "  # the delta script's stderr: central had this object
BAD_MARK = "dvc-synced-bad: "  # ... the staged result did not hash to its name
DELTA_BAD_EXIT = 72  # the script's exit status when a staged result did not hash right
# Paths the delta script names without quoting (it runs inside `sh -c '...'` on the
# server, given as rsync's --rsync-path): anything else uploads whole.
_PLAIN_PATH = re.compile(r"^[A-Za-z0-9_+./][A-Za-z0-9_+./-]*$")
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9._+-]+@)?(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.%a-z]+\])$")


def parse_url(url: str, root: Path) -> tuple[Optional[str], Optional[int], str]:
    """(host spec or None for a local path, ssh port, path)."""
    if url.startswith("file://"):
        return None, None, url[len("file://") :]
    if url.startswith("ssh://"):
        rest = url[len("ssh://") :]
        hostport, slash, path = rest.partition("/")
        if not slash:
            raise ConfigError(f"central URL {url!r} has no path: use ssh://[user@]host[:port]/path")
        port = None
        if re.search(r":\d+$", hostport):
            hostport, _, port_s = hostport.rpartition(":")
            port = int(port_s)
        return _check_host(hostport, url), port, "/" + path
    head, colon, path = url.partition(":")
    if colon and "/" not in head and head:
        return _check_host(head, url), None, path or "."
    return None, None, os.path.abspath(root / os.path.expanduser(url))


_KNOCK_ON = ("Broken pipe", "connection unexpectedly closed")


def failure_detail(stderr: bytes, exit_code: int) -> str:
    """Why rsync failed: the first cause, then rsync's summary line.

    rsync's last lines are knock-on effects (`Broken pipe`) and a generic `rsync error:
    ... (code 11)`; the cause (`No space left on device`, ssh's refusal) comes first.
    """
    if exit_code < 0:
        return f"killed by signal {-exit_code}"
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    summary = [ln for ln in lines if ln.startswith("rsync error:")]
    causes = [ln for ln in lines
              if ln not in summary and not any(k in ln for k in _KNOCK_ON)]
    picked = causes[:1] + summary[-1:]
    return "; ".join(picked or lines[-2:]) or f"exit {exit_code}"


_LINK_STAT_MISSING = re.compile(r'link_stat "(.*)" failed: .*\(2\)$')  # errno 2: ENOENT
_CODE_23 = re.compile(r"^rsync error: .*\(code 23\)")
# The sender cannot enter central's directory, or the receiver cannot make "<path>/.".
_NO_DIR = re.compile(r'(change_dir|mkdir) "(.*)" failed: No such file or directory')


def parse_listing(out: str) -> dict[str, int]:
    """relpath -> size from `--out-format=%l %n` lines; directories end in / and are left out."""
    sizes: dict[str, int] = {}
    for line in out.splitlines():
        size, _, name = line.partition(" ")
        if name and not name.endswith("/") and size.isdigit():
            sizes[name] = int(size)
    return sizes


_NON_REGULAR = re.compile(r'^skipping non-regular file "(.*)"$')


def parse_non_files(text: str, listed: list[str]) -> dict[str, str]:
    """Listed paths a dry-run listing shows as no regular file: a directory (`name/`) or
    what rsync skips without `-l` (a symlink, dangling or not, or a special file)."""
    wanted = set(listed)
    found: dict[str, str] = {}
    for line in text.splitlines():
        size, _, name = line.strip().partition(" ")
        if size.isdigit() and name.endswith("/") and name[:-1] in wanted:
            found[name[:-1]] = "a directory"
            continue
        m = _NON_REGULAR.match(line.strip())
        if m and m.group(1) in wanted:
            found[m.group(1)] = "a symlink or special file"
    return found


class SentFilter:
    """Splits rsync's stdout into the names it sent (SENT_MARK lines) and the rest (live
    progress, passed on to `show`). Chunks come as rsync writes them: a segment is held
    until its end (\\n, or \\r for a progress update), so a mark is never cut in two."""

    def __init__(self, show: Optional[Callable[[str], None]] = None) -> None:
        self.show = show
        self.sent: set[str] = set()
        self._pending = ""

    def feed(self, chunk: str) -> None:
        text = self._pending + chunk
        shown: list[str] = []
        start = 0
        for m in re.finditer(r"[\r\n]", text):
            segment = text[start:m.end()]
            start = m.end()
            cut = segment.find(SENT_MARK)
            if cut < 0:
                shown.append(segment)
                continue
            shown.append(segment[:cut])
            name = segment[cut + len(SENT_MARK):].rstrip("\r\n")
            if name and not name.endswith("/"):  # a directory is no object
                self.sent.add(name)
        self._pending = text[start:]
        if self.show is not None and any(shown):
            self.show("".join(shown))

    def close(self) -> None:
        if self._pending:
            self.feed("\n")


def only_missing(stdout: bytes, stderr: bytes, listed: list[str]) -> bool:
    """Whether an exit 23 of a dry-run listing means no more than "some listed files are
    not there": each listed file left out of the listing is named by a link_stat ENOENT
    line, and rsync reported nothing else (a listing cut short, a permission error).

    rsync 3 and a real 2.6.9 build keep listing after a missing file (checked, local
    and over ssh against rsync 3; openrsync's source does the same with --files-from).
    A listing cut short would leave a listed file neither listed nor named: the probe
    then fails instead of calling a present object absent.
    """
    wanted = set(listed)
    named: set[str] = set()
    for raw in stderr.decode(errors="replace").splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _LINK_STAT_MISSING.search(line)
        if m:
            parts = m.group(1).split("/")
            # the path is the sender's: its root, then the listed relpath (2-4 parts)
            hits = {"/".join(parts[-k:]) for k in range(2, 5)} & wanted
            if not hits:
                return False
            named |= hits
        elif _CODE_23.match(line):
            continue
        elif line.startswith(("rsync", "openrsync")):
            return False  # another error: not an answer
        # else a line from ssh (a warning); rsync's own lines are what count
    present = parse_listing(stdout.decode(errors="replace"))
    return all(rel in present or rel in named for rel in wanted)


def _receiver_umask() -> None:
    """Runs in the rsync child: for a local central, this process is the receiver."""
    os.umask(RECEIVER_UMASK)


def _check_host(host: str, url: str) -> str:
    if not _HOST_RE.match(host) or host.startswith("-") or "@-" in host:
        raise ConfigError(
            f"central URL {url!r} has an invalid host part {host!r}: use [user@]host:path"
        )
    return host


def _rsync_quote(arg: str) -> str:
    """rsync splits its -e string on spaces and honours quotes (not backslashes)."""
    if arg and not re.search(r"[\s'\"]", arg):
        return arg
    if "'" not in arg:
        return f"'{arg}'"
    if '"' not in arg:
        return f'"{arg}"'
    raise ConfigError(f"ssh option {arg!r} mixes both quote kinds: simplify dvc-synced.ssh-command")


def delta_script(root: str, stage: str, items: list[tuple[str, Optional[str], str]]) -> str:
    """The server's side of `upload_delta`, a POSIX sh script run as rsync's --rsync-path
    (`sh -c SCRIPT sh ARGS`: rsync's own arguments arrive as "$@").

    `items`: (relpath, relpath of an older version central may hold or None, md5 the
    object must hash to). Before rsync: a fresh stage dir, and in its `basis/` each older
    version under the new name (a hard link, else a copy), which `--copy-dest` makes
    rsync's delta basis. rsync writes the new objects under `in/`. After: each staged
    object is hashed, and only one that hashes to its name is linked to it (`ln` never
    replaces: a name central has already is reported, not touched). The stage goes.
    Nothing outside the stage is written but new object names, and no existing file is
    opened for writing: rsync writes to its own temporary names and renames them.
    """
    # One line: the ssh command line crosses the login shell, which may be csh-like (a
    # newline inside quotes is an error there), and logs of it stay one entry per call.
    steps = [
        f"umask {RECEIVER_UMASK:03o}",
        f"S={stage}",
        f'mkdir -p -- {root}/{STAGE_DIR} && mkdir -- "$S" "$S/in" "$S/basis" || exit 70',
    ]
    for rel, base, _ in items:
        if base:
            where = f'"$S/basis/{rel}"'
            steps.append(f'{{ mkdir -p -- "$S/basis/{posixpath.dirname(rel)}" && '
                         f"{{ ln -- {root}/{base} {where} || cp -- {root}/{base} {where}; }}; }} "
                         ">/dev/null 2>&1")
    steps += ['rsync "$@"', "s=$?"]
    checks = []
    for rel, _, md5 in items:
        final = f"{root}/{rel}"
        checks.append(
            f'f="$S/in/{rel}"; '
            f'if [ -e {final} ] || [ -L {final} ]; then echo "{HAD_MARK}{rel}" >&2; '
            'else case "$(md5sum < "$f" 2>/dev/null || md5 -q < "$f" 2>/dev/null)" in '
            f"{md5}*) {{ mkdir -p -- {root}/{posixpath.dirname(rel)} && "
            f'ln -- "$f" {final}; }} || s=71 ;; '
            f'*) echo "{BAD_MARK}{rel}" >&2; s={DELTA_BAD_EXIT} ;; esac; fi')
    steps.append(f'if [ "$s" = 0 ]; then {"; ".join(checks)}; fi')
    steps += ['rm -rf -- "$S"', 'exit "$s"']
    return "; ".join(steps)


def parse_marks(text: str, mark: str) -> set[str]:
    return {line[len(mark):].strip() for line in text.splitlines() if line.startswith(mark)}


class SshSession:
    """A master connection opened once; every ssh/rsync call of the command reuses it.

    Opening it is the one place a busy server sheds us (MaxStartups counts connections
    that have not authenticated yet; sessions over the master are not counted), so its
    transient failures are retried there (`retry`).
    """

    def __init__(self, settings: Settings, host: str, port: Optional[int],
                 retry: Optional[Retry] = None) -> None:
        self.host = host
        self.retry = retry or Retry(settings.timeout)
        try:
            self.base = shlex.split(settings.ssh_command)
        except ValueError as exc:
            raise ConfigError(f"dvc-synced.ssh-command does not parse: {exc}") from exc
        if not self.base:
            raise ConfigError("dvc-synced.ssh-command is empty: set it to `ssh` or unset it")
        self.tmp = tempfile.mkdtemp(prefix="dvcs-")  # short: socket paths are length-limited
        self.options = [
            "-o", "BatchMode=yes",  # a hook must never wait on a password prompt
            "-o", f"ConnectTimeout={settings.timeout}",
            "-o", "ServerAliveInterval=10",
            "-o", f"ServerAliveCountMax={max(1, settings.timeout // 10)}",
            "-o", f"ControlPath={self.tmp}/cm",
        ]
        if port:
            self.options += ["-p", str(port)]
        self.opened = False
        # Upload lanes call open() at once: unguarded, each made its own master, and the
        # second (its socket path taken) stayed a plain connection that close() never
        # reached, left running after the command (seen in the bulk benchmark).
        self._opening = threading.Lock()

    def open(self) -> None:
        with self._opening:
            if not self.opened:
                self.retry.call(self._connect)
                self.opened = True

    def _connect(self) -> None:
        # ControlPersist with a time: if this command is killed before close(), the master
        # goes away after 60 s idle instead of living on for good.
        proc = subprocess.run(
            [*self.base, *self.options, "-o", "ControlMaster=yes", "-o", "ControlPersist=60",
             "-f", "-N", "--", self.host],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if proc.returncode != 0:
            stderr = proc.stderr.decode(errors="replace")
            lines = stderr.strip().splitlines()
            detail = lines[-1] if lines else f"exit {proc.returncode}"
            message = (
                f"cannot reach central over ssh at {self.host} ({detail}): check that "
                f"`ssh {self.host}` logs in without a prompt (key, ssh-agent, ~/.ssh/config)"
            )
            cause = ssh_cause(stderr)
            if cause:
                raise Transient(message, cause)
            raise SyncError(message)

    def test_writable(self, path: str) -> Optional[bool]:
        """`test -w PATH` on the server (quoted for its shell; `~/` left to expand); None
        when the server ran no such command (a forced command, a restricted shell)."""
        self.open()
        quoted = ("~/" + shlex.quote(path[2:])) if path.startswith("~/") else shlex.quote(path)
        proc = subprocess.run(
            [*self.base, *self.options, "-o", "ControlMaster=no", "--", self.host,
             f"test -d {quoted} && test -w {quoted} && test -x {quoted}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return {0: True, 1: False}.get(proc.returncode)

    def rsh(self) -> str:
        """The -e value for rsync: our ssh with the shared control socket."""
        return " ".join(_rsync_quote(a) for a in [*self.base, *self.options,
                                                    "-o", "ControlMaster=no"])

    def close(self) -> None:
        if self.opened:
            subprocess.run(
                [*self.base, *self.options, "-O", "exit", "--", self.host],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.opened = False
        with contextlib.suppress(OSError):
            os.rmdir(self.tmp)


def tools(settings: Settings) -> list[str]:
    host = parse_url(settings.central, settings.root)[0]
    return ["rsync", "ssh"] if host else ["rsync"]


def doctor_checks(settings: Settings) -> list[tuple[str, Callable[[], str]]]:
    return [("rsync version", lambda: _version_check(settings))]


def _version_check(settings: Settings) -> str:
    """Flavour and version of the rsync on PATH, and whether it keeps the guarantees
    (macOS ships 2.6.9 or openrsync; see rsync_flavor.py)."""
    flavor = detect()
    problem = flavor.problem()
    if problem:
        raise SyncError(problem)
    host, _, path = parse_url(settings.central, settings.root)
    if host:
        flavor.check_remote_path(path)
    return flavor.note()


class RsyncTransport:
    # rsync exits non-zero unless every listed file arrived whole (checksummed, renamed in
    # only once complete): listing central again after an upload could not disagree.
    capabilities = Capabilities(confirms_on_exit=True, lanes=2, progress=True, delta=True)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        host, port, path = parse_url(settings.central, settings.root)
        self.path = path.rstrip("/") or "/"
        self.retry = Retry(settings.timeout)
        self.ssh = SshSession(settings, host, port, self.retry) if host else None
        self.location = f"{host}:{self.path}/" if host else f"{self.path}/"
        # Uploads go into "<path>/.": rsync makes a missing destination directory, which
        # would turn a mistyped central into a new one (mkdir of ".../." fails instead).
        self.existing_dest = f"{self.location}."
        where = f"over ssh to {host}:{self.path}" if host else f"to {self.path}"
        self.description = f"rsync {where}"
        self._flavor: Optional[Flavor] = None
        self.not_files: dict[str, str] = {}

    def flavor(self) -> Flavor:
        """The local rsync, detected at the first rsync call: what it can do decides the
        options; one that cannot keep the guarantees is refused before anything moves."""
        if self._flavor is None:
            flavor = detect()
            problem = flavor.problem()
            if problem:
                raise ConfigError(problem)
            if self.ssh:  # the partial dir lies below it: as plain as it is
                flavor.check_remote_path(self.path)
            self._flavor = flavor
        return self._flavor

    @property
    def retries(self) -> int:
        return self.retry.retries

    def _rsync(self, args: list[str], what: str, progress: bool = False,
               missing_ok: Optional[list[str]] = None,
               sent: Optional[SentFilter] = None,
               messages: Optional[list[str]] = None,
               remote_command: Optional[str] = None) -> str:
        """One rsync run, retried while it fails before anything moved (see retry.py):
        the master connection was shed, or, without one, rsync's own ssh was."""
        return self.retry.call(lambda: self._rsync_once(args, what, progress, missing_ok,
                                                        sent, messages, remote_command))

    def _rsync_once(self, args: list[str], what: str, progress: bool = False,
                    missing_ok: Optional[list[str]] = None,
                    sent: Optional[SentFilter] = None,
                    messages: Optional[list[str]] = None,
                    remote_command: Optional[str] = None) -> str:
        """`progress`: live transfer progress on the user's terminal (`output.terminal`:
        stderr for a plain hook, /dev/tty under pre-commit); scripts and CI get none.
        `missing_ok`: the listed files; exit 23 for only those of them that are missing
        is an answer, not a failure (old rsyncs have no --ignore-missing-args).
        `sent`: takes stdout (names of files sent, marked by an --out-format in `args`)
        and passes the rest on to the terminal. `messages`: gets rsync's stderr.
        `remote_command`: the server's --rsync-path (over ssh), instead of the plain one."""
        import sh

        flavor = self.flavor()
        base = ["--timeout", str(max(self.settings.timeout, 1) * 4)]
        stream: dict[str, object] = {}
        terminal = output.progress_stream() if progress else None
        if terminal is not None:
            base.append(flavor.progress_option)

            out: TextIO = terminal

            def show(chunk: str) -> None:  # one parameter: sh passes as many as declared
                with contextlib.suppress(OSError):  # a terminal that went away
                    out.write(chunk)
                    out.flush()

            stream = {"_out": show, "_out_bufsize": 0}
        if sent is not None:
            if terminal is not None:
                sent.show = stream["_out"]  # type: ignore[assignment]
            stream = {"_out": sent.feed, "_out_bufsize": 0}
        if self.ssh:
            self.ssh.open()
            base += ["-e", self.ssh.rsh(), "--rsync-path=" + (
                remote_command or f"umask {RECEIVER_UMASK:03o} && rsync")]
        elif not os.path.isdir(self.path):
            raise missing_central(self.settings.central, self.path)
        rsync = sh.Command(flavor.path)
        try:
            proc = rsync(*base, *args, _err_to_out=False, _tty_out=False,
                         _preexec_fn=_receiver_umask, _return_cmd=True, **stream)
            if sent is not None:
                sent.close()
            if messages is not None:
                messages.append(proc.stderr.decode(errors="replace"))
            return str(proc)
        except sh.ErrorReturnCode as exc:
            if (missing_ok is not None and exc.exit_code == 23
                    and only_missing(exc.stdout, exc.stderr, missing_ok)):
                if messages is not None:
                    messages.append(exc.stderr.decode(errors="replace"))
                return exc.stdout.decode(errors="replace")
            if self._names_missing_central(exc.stderr):
                raise missing_central(self.settings.central, self.location) from None
            detail = failure_detail(exc.stderr, exc.exit_code)
            message = (f"{what} failed ({self.description}, rsync exit {exc.exit_code}: "
                       f"{detail}): fix the cause and run the command again")
            cause = rsync_cause(exc.stderr.decode(errors="replace"), exc.exit_code) \
                if self.ssh else None
            if cause:
                raise Transient(message, cause) from None
            raise SyncError(message) from None

    @staticmethod
    def _partial(root: str) -> str:
        """An absolute partial dir keeps resumable data out of the object directories."""
        return f"{root.rstrip('/')}/{PARTIAL_DIR}" if root.startswith("/") else PARTIAL_DIR

    def probe(self, relpaths: list[str]) -> dict[str, int]:
        if not relpaths:
            return {}
        modern = self.flavor().ignore_missing_args
        if not modern and not self.ssh:
            return self._probe_local(relpaths)
        empty = tempfile.mkdtemp(prefix="dvc-synced-probe-")
        messages: list[str] = []
        try:
            with files_from(relpaths) as listing:
                out = self._rsync(
                    ["-n", *(["--ignore-missing-args"] if modern else []),
                     f"--files-from={listing}", "--out-format=%l %n", "--",
                     self.location, empty + "/"],
                    "checking central",
                    missing_ok=None if modern else relpaths,
                    messages=messages,
                )
        finally:
            os.rmdir(empty)
        # The same listing says what is there and is no file (rsync prints its "skipping
        # non-regular file" on stdout or stderr, by version): no round trip more.
        self.not_files.update(parse_non_files(out + "\n" + "".join(messages), relpaths))
        return parse_listing(out)

    def _probe_local(self, relpaths: list[str]) -> dict[str, int]:
        """A local central without --ignore-missing-args: lstat gives the answer rsync's
        listing would (regular files only: a symlink is not an object) without relying
        on how an rsync not checked here (openrsync) lists after a missing file."""
        if not os.path.isdir(self.path):
            raise missing_central(self.settings.central, self.path)
        return lstat_sizes(self.path, relpaths, self.description, self.not_files)

    def connect(self) -> None:
        """Open the shared ssh connection now (optional in `Transport`): the upload queue
        forms a lane's first batch after the handshake, from all verified meanwhile."""
        self.flavor()
        if self.ssh:
            self.ssh.open()

    def reports_existing(self) -> bool:
        """Whether `upload` tells which listed files central had: rsync 3.1 on (old ones
        keep the probe before the upload, as they have always been tested)."""
        return self.flavor().ignore_missing_args

    def upload(self, src_root: Path, relpaths: list[str]) -> Optional[set[str]]:
        """Returns the listed files central had already (not sent), when it can tell.

        `--ignore-existing` skips a file central has without a word, and `--out-format`
        names each file sent: a listed file not named was there. That folds the probe
        into the upload (one session less); the caller size-checks only those.
        """
        if not relpaths:
            return set() if self.reports_existing() else None
        reporting = self.reports_existing()
        sent = SentFilter() if reporting else None
        with files_from(relpaths) as listing:
            self._rsync(
                ["-t", "--ignore-existing", f"--files-from={listing}",
                 *self.flavor().upload_modes(), f"--partial-dir={self._partial(self.path)}",
                 *([f"--out-format={SENT_MARK}%n"] if reporting else []),
                 "--", f"{src_root}/", self.existing_dest],
                "uploading to central",
                progress=True,
                sent=sent,
            )
        if sent is None:
            return None
        return set(relpaths).difference(sent.sent)

    def _delta_ready(self, relpaths: list[str]) -> bool:
        """Over ssh (a local central is read in place: nothing to save), with an rsync 3
        (`--copy-dest` as a basis, `-I`), and only paths the delta script names unquoted."""
        return (self.ssh is not None and bool(relpaths) and self.flavor().ignore_missing_args
                and _PLAIN_PATH.match(self.path) is not None
                and all(_PLAIN_PATH.match(rel) for rel in relpaths))

    def upload_delta(self, src_root: Path, relpaths: list[str],
                     bases: dict[str, str]) -> Optional[set[str]]:
        """`upload` of manifests, each sent as a delta against the older version `bases`
        names, if central holds it: rsync's delta algorithm sends only changed blocks.

        The result is written to a stage directory of ours on central, hashed there,
        and only then linked to its name (`delta_script`); one that does not hash right
        is refused (SyncError, nothing named). Returns the listed objects central had,
        or None when this central cannot take a delta (the caller uploads plainly).
        """
        if not self._delta_ready([*relpaths, *bases.values()]):
            return None
        items = []
        for rel in relpaths:
            ref = object_ref(rel)
            if ref is None or ref.legacy:  # a legacy name is not the md5 of the bytes
                return None
            items.append((rel, bases.get(rel), expected_hash(ref)))
        stage = f"{self.path}/{STAGE_DIR}/{os.urandom(8).hex()}"
        host = self.location.partition(":")[0]
        script = delta_script(self.path, stage, items)
        messages: list[str] = []
        with files_from(relpaths) as listing:
            try:
                self._rsync(
                    # -I: a basis of the same size and time is no copy of the object
                    # (rsync's quick check would take it as one; the hash would refuse).
                    ["-t", "-I", f"--files-from={listing}", *self.flavor().upload_modes(),
                     "--copy-dest=../basis", "--", f"{src_root}/", f"{host}:{stage}/in/."],
                    "uploading to central", progress=True, messages=messages,
                    remote_command=f"sh -c '{script}' sh")
            except SyncError as exc:
                if BAD_MARK in str(exc) or f"exit {DELTA_BAD_EXIT}" in str(exc):
                    raise SyncError(
                        f"a manifest sent as a delta did not hash to its name on central "
                        f"({self.description}); nothing was named: run the push again"
                    ) from None
                raise
        return parse_marks("".join(messages), HAD_MARK)

    def download_delta(self, relpaths: list[str], dest_root: Path,
                       bases: dict[str, Path]) -> bool:
        """`download` of manifests, each received as a delta against an older version on
        this machine (`bases`: relpath -> its file): rsync's `--copy-dest` basis, a hard
        link in a scratch dir beside `dest_root`, never written (rsync writes a new file).
        The caller hashes what arrives before it gets a name, as after `download`.
        False when this central cannot send a delta (nothing was done)."""
        if not self._delta_ready(relpaths):
            return False
        basis = Path(tempfile.mkdtemp(prefix="basis-", dir=dest_root.parent))
        try:
            linked = 0
            for rel, old in bases.items():
                target = basis / rel
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.link(old, target)
                    linked += 1
                except OSError:
                    continue  # another filesystem: that one comes whole
            if not linked:
                return False
            with files_from(relpaths) as listing:
                self._rsync(
                    ["-t", "-I", f"--files-from={listing}", f"--copy-dest={basis}",
                     f"--partial-dir={self._partial(str(dest_root))}",
                     "--", self.location, f"{dest_root}/"],
                    "downloading from central",
                    progress=True,
                )
            return True
        finally:
            shutil.rmtree(basis, ignore_errors=True)

    def download(self, relpaths: list[str], dest_root: Path) -> None:
        if not relpaths:
            return
        with files_from(relpaths) as listing:
            self._rsync(
                ["-t", f"--files-from={listing}", f"--partial-dir={self._partial(str(dest_root))}",
                 "--", self.location, f"{dest_root}/"],
                "downloading from central",
                progress=True,
            )

    @staticmethod
    def _names_missing_central(stderr: bytes) -> bool:
        """Whether rsync failed because central's directory is not there: as the sender
        (`change_dir "/srv/x/" failed`), or as the receiver of `existing_dest`. Every
        other directory of a transfer is one of ours that exists (a store, a staging dir)."""
        return _NO_DIR.search(stderr.decode(errors="replace")) is not None

    def check_central(self) -> str:
        """Exists and is readable (a probe for nothing), and whether it is writable: for a
        path by access(2), over ssh by `test -w` on the server. Writes nothing."""
        self.probe([f"{PARTIAL_DIR}/doctor-probe"])  # a missing central raises here
        if not self.ssh:
            if not os.access(self.path, os.W_OK | os.X_OK):
                raise SyncError(f"central storage {self.path} is not writable by you: ask "
                                "its owner to add you to its group (docs/central.md)")
            return f"{self.description}: exists, writable"
        writable = self.ssh.test_writable(self.path)
        if writable is None:
            return f"{self.description}: exists (writability not checked: the server " \
                   "runs no `test`)"
        if not writable:
            raise SyncError(f"central storage {self.location} is not writable by you on the "
                            "server: ask its owner to add you to its group (docs/central.md)")
        return f"{self.description}: exists, writable"

    def create_central(self) -> str:
        """The last directory of central's path, under an existing parent (init --create),
        group-writable by the receiver's umask, so teammates can add objects."""
        if not self.ssh:
            return create_local_central(self.path)
        empty = tempfile.mkdtemp(prefix="dvc-synced-create-")
        try:
            os.chmod(empty, 0o775)  # the new directory gets these bits, less the umask
            self._rsync(["-d", "--", f"{empty}/", self.location], "creating central")
        except ConfigError as exc:
            if "does not exist" not in str(exc):
                raise
            raise SyncError(f"cannot create central storage {self.location}: its parent "
                            "directory does not exist on the server: create that first") from None
        finally:
            os.rmdir(empty)
        return f"created {self.location}"

    def close(self) -> None:
        if self.ssh:
            self.ssh.close()


TRANSPORT = RsyncTransport
