"""Command line: argument parsing and the error policy; each command lives in `commands/`.

Only the chosen command's module is imported (the registry in `commands/__init__.py` holds
every name and help line), so `dvc-synced hook ...` on every git command loads the hooks
and nothing else.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from typing import Optional

from dvc_synced_plugin import __version__, commands, output
from dvc_synced_plugin.errors import SyncError


def _chosen(argv: list[str]) -> Optional[str]:
    """The command argv names: its first word that is not an option (the top level has
    only --version and --help, which take no value)."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in commands.COMMANDS else None


def build_parser(chosen: Optional[str] = None) -> argparse.ArgumentParser:
    """Every command with its help; the arguments of `chosen` only (its module loaded)."""
    parser = argparse.ArgumentParser(
        prog="dvc-synced",
        description="Move DVC data between the local storage and a central storage "
        "(rsync, ssh, rclone) around git push and git pull.",
    )
    parser.add_argument("--version", action="version", version=f"dvc-synced {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (_module, summary) in commands.COMMANDS.items():
        p = sub.add_parser(name, help=summary)
        if name == chosen:
            command = commands.load(name)
            command.configure(p)
            p.set_defaults(func=command.run)
    return parser


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_chosen(argv)).parse_args(argv)
    # SIGTERM (kill, a timeout) and SIGHUP (the terminal closed) unwind like Ctrl-C: every
    # `finally` removes its temporary file. SIGKILL cannot be caught: the next run cleans.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):  # not the main thread: leave it
            signal.signal(signum, _interrupt)
    try:
        return int(args.func(args))
    except SyncError as exc:
        output.say(f"error: {exc}")
        return exc.exit_code
    except FileNotFoundError as exc:
        program = str(exc.filename or "")
        if not program or "/" in program:
            raise  # a file we expected, not a program: a bug to see in full
        # git, ssh (and anything else run by name) missing from PATH
        output.say(f"error: {program} is not installed or not on PATH: install it "
                   f"(apt-get install {'openssh-client' if program == 'ssh' else program})")
        return 2
    except KeyboardInterrupt as exc:
        # True after an interrupt in any phase: objects get their names only once whole
        # and verified, each workspace file is replaced whole, no temporary name stays.
        # The workspace may hold part of the change; the next sync finishes it.
        what = str(exc) if str(exc) in ("SIGTERM", "SIGHUP") else "SIGINT"
        with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone already
            output.say(f"interrupted ({what}): no file was left half-written; the workspace "
                       "may hold part of the change: run `dvc-synced pull` to finish it")
        return 128 + int(getattr(signal, what))
