"""The server accounts the benchmark's ssh figures run against (issue #14).

Every ssh session starts the server account's shell. On these machines root's ~/.bashrc
runs `pyenv init` (0.1-0.4 s a session), so figures against root measure this machine's
root, not the design. A dedicated account made with `useradd -m -s /bin/bash` gets
Debian's /etc/skel/.bashrc, which returns at once for a non-interactive shell, as on a
typical server. Both are measured: servers with heavy shells exist too, and there the
number of sessions is what counts.

Only the benchmark calls this, as root: it creates the account if it is missing, lets
its key in through the account's own ~/.ssh/authorized_keys (the loopback sshd reads
that file beside its fixed one) and gives it the directories of its central stores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

CLEAN_LOGIN = "dvcsrv"


@dataclass(frozen=True)
class Account:
    key: str  # in result keys: flows against it are named `ours@clean` (root: plain `ours`)
    login: str  # the OS user ssh logs in as
    host: str  # its Host alias in the benchmark's ssh config
    label: str  # for the tables

    @property
    def suffix(self) -> str:
        """For names of its stores, git servers, remotes and clones (root: none, as before)."""
        return "" if self.key == "root" else f"-{self.key}"

    def flow(self, base: str) -> str:
        return base if self.key == "root" else f"{base}@{self.key}"


ROOT = Account("root", "root", "dvc-server", "server shell: root (.bashrc runs pyenv init)")
CLEAN = Account("clean", CLEAN_LOGIN, "dvc-server-clean",
                "server shell: clean account (Debian default .bashrc)")
ACCOUNTS = {a.key: a for a in (ROOT, CLEAN)}


def split_flow(flow: str) -> tuple[str, Account]:
    """`ours@clean` -> ("ours", CLEAN); `seed` -> ("seed", ROOT)."""
    base, _, key = flow.partition("@")
    return base, ACCOUNTS[key or "root"]


class Unavailable(Exception):
    """The clean account cannot be set up here; the message is the one line to print."""


@dataclass(frozen=True)
class Login:
    name: str
    home: Path
    uid: int
    gid: int


def _lookup(name: str) -> Optional[Login]:
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return Login(name, Path(entry.pw_dir), entry.pw_uid, entry.pw_gid)


def _run(args: list[str]) -> None:
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise Unavailable(f"`{' '.join(args)}` failed ({detail}): the clean server account "
                          "is skipped")


def locked(shadow: Path, name: str) -> bool:
    """Whether the account's password field is locked (`!...`, what useradd leaves).

    With `UsePAM no` sshd refuses even a key login to a locked account; `*` (no password
    can match) is not locked."""
    try:
        lines = shadow.read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        fields = line.split(":")
        if fields[0] == name and len(fields) > 1:
            return fields[1].startswith("!")
    return False


def authorize(home: Path, pubkey: str, uid: int, gid: int) -> bool:
    """Put `pubkey` into the account's ~/.ssh/authorized_keys once; True if it was added."""
    key = pubkey.strip()
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    keys = ssh / "authorized_keys"
    lines = keys.read_text().splitlines() if keys.exists() else []
    added = key not in (line.strip() for line in lines)
    if added:
        keys.write_text("".join(f"{line}\n" for line in [*lines, key]))
    for path in (ssh, keys):
        os.chown(path, uid, gid)
    os.chmod(ssh, 0o700)
    os.chmod(keys, 0o600)
    return added


def ensure_account(name: str, pubkey: str, *,
                   run: Callable[[list[str]], None] = _run,
                   lookup: Callable[[str], Optional[Login]] = _lookup,
                   shadow: Path = Path("/etc/shadow"),
                   euid: Callable[[], int] = os.geteuid) -> Login:
    """The account `name`, created if missing, able to log in with `pubkey`. Idempotent:
    an existing account is kept as it is (only the key and an unlocked password field are
    ensured)."""
    if euid() != 0:
        raise Unavailable(f"not running as root: the clean server account ({name}) is "
                          "skipped; run the benchmark as root to measure it")
    login = lookup(name)
    if login is None:
        if not shutil.which("useradd"):
            raise Unavailable("useradd not found: `apt-get install passwd` to measure the "
                              "clean server account")
        run(["useradd", "-m", "-s", "/bin/bash", name])
        login = lookup(name)
        if login is None:
            raise Unavailable(f"useradd did not create {name}: the clean server account "
                              "is skipped")
    if locked(shadow, name):
        run(["usermod", "-p", "*", name])
    authorize(login.home, pubkey, login.uid, login.gid)
    return login


def shell_note(login: Login, skel: Path = Path("/etc/skel/.bashrc")) -> Optional[str]:
    """A warning when an existing account's ~/.bashrc is not Debian's default: its figures
    would not be those of a clean shell."""
    try:
        if (login.home / ".bashrc").read_bytes() == skel.read_bytes():
            return None
    except OSError:
        pass
    return (f"note: {login.home}/.bashrc is not {skel}: the 'clean account' figures run "
            "whatever it does")


def give_dirs(root: Path, login: Login) -> None:
    """Make the account own every directory of a store, so it can add objects.

    Files stay as they are: the benchmark's stores hard-link alice's cache (a chown would
    change her cache too), and objects are read-only (0444), readable by anyone."""
    for dirpath, _, _ in os.walk(root):
        os.chown(dirpath, login.uid, login.gid)


def unreachable(path: Path) -> Optional[Path]:
    """The first directory above `path` that other users cannot enter, if any."""
    for parent in [*reversed(path.resolve().parents), path.resolve()]:
        if parent.is_dir() and not os.stat(parent).st_mode & 0o001:
            return parent
    return None


def host_entry(root_entry: str, account: Account) -> str:
    """The ssh config block for `account`, made from root's (`Host dvc-server` ...)."""
    out = []
    for line in root_entry.splitlines():
        word = line.strip().split(" ", 1)[0].lower()
        if word == "host":
            line = f"Host {account.host}"
        elif word == "user":
            line = f"{line[:len(line) - len(line.lstrip())]}User {account.login}"
        out.append(line)
    return "\n".join(out) + "\n"
