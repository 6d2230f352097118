"""Command line: argument parsing and the error policy; each command lives in `commands/`.

Only the chosen command's module is imported (the registry in `commands/__init__.py` holds
every name and help line), so `dvc-synced hook ...` on every git command loads the hooks
and nothing else.
"""

from __future__ import annotations

import argparse
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


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_chosen(argv)).parse_args(argv)
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
    except KeyboardInterrupt:
        output.say("interrupted; nothing half-written remains, run it again")
        return 130
