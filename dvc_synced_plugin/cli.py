"""Command line: thin argument parsing; each command lives in its own module."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

from dvc_synced_plugin import __version__
from dvc_synced_plugin.errors import SyncError

HOOK_NAMES = ("pre-push", "post-checkout", "post-merge", "post-rewrite", "post-commit",
              "post-applypatch")


def _root():  # type: ignore[no-untyped-def]
    from dvc_synced_plugin import gitinfo

    return gitinfo.toplevel()


def _settings():  # type: ignore[no-untyped-def]
    from dvc_synced_plugin import config

    return config.load(_root())


def cmd_init(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import initialize

    print(initialize.init(_root(), args.central, args.local, args.transport, args.remote))
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import sync

    settings = _settings()
    report = sync.push_revisions(settings, args.rev or ["HEAD"])
    print(f"dvc-synced: {report.line('uploaded', 'to')}")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import hooks, sync

    settings = _settings()
    report = sync.pull_revision(settings, args.rev)
    print(f"dvc-synced: {report.line('downloaded', 'from')}")
    if report.checkout_failed:
        print(f"dvc-synced: dvc checkout could not update {', '.join(report.checkout_failed)}",
              file=sys.stderr)
        return 1
    if args.rev == "HEAD":
        from dvc_synced_plugin import gitinfo

        hooks.write_state(settings.root, "ok", gitinfo.rev_parse(settings.root, "HEAD"))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import status

    result = status.status(_settings(), args.rev)
    status.say_workspace_lag(_root())
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        from dvc_synced_plugin.sync import human_bytes

        print(f"revision {result.rev[:10]}: {result.objects} object(s)")
        for where, miss in result.missing.items():
            state = "complete" if not miss.objects else (
                f"{miss.objects} missing ({human_bytes(miss.bytes)})")
            print(f"  {where:8} {state}")
        for path in result.unknown_dirs:
            print(f"  manifest of {path} is on no storage")
    return 0 if result.complete else 1


def cmd_verify(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import status

    settings = _settings()
    if args.all or not args.rev:
        revs = status.require_revisions(status.remote_revisions(settings.root, args.remote))
    else:
        revs = args.rev
    result = status.verify(settings, revs)
    for line in result.missing:
        print(f"missing  {line}")
    for line in result.corrupt:
        print(f"corrupt  {line}")
    verdict = "OK" if result.ok else "FAILED"
    print(f"verify {verdict}: {result.objects} object(s) of {result.revisions} revision(s), "
          f"{len(result.missing)} missing, {len(result.corrupt)} corrupt")
    return 0 if result.ok else 1


def cmd_doctor(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import doctor

    return doctor.run()


def cmd_demo(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import demo

    return demo.run(keep=args.keep)


def cmd_install(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import install

    for line in install.install(_root()):
        print(line)
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import install

    for line in install.uninstall(_root()):
        print(line)
    return 0


def cmd_hook(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import hooks

    return hooks.run(args.name, args.args, sys.stdin)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dvc-synced",
        description="Move DVC data between the local storage and a central storage "
        "(rsync, ssh, rclone) around git push and git pull.",
    )
    parser.add_argument("--version", action="version", version=f"dvc-synced {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("init", help="write the team settings and set up the local storage")
    p.add_argument("--central", required=True, help="central storage URL")
    p.add_argument("--local", help="local storage path (default: per user and project)")
    p.add_argument("--transport", choices=["rsync", "rclone"], default=None)
    p.add_argument("--remote", help="name of the DVC remote that is the local storage")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("push", help="put the data of revisions on central")
    p.add_argument("--rev", action="append", help="revision (repeatable; default HEAD)")
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("pull", help="get a revision's data from central into the workspace")
    p.add_argument("--rev", default="HEAD", help="revision (default HEAD)")
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("status", help="what a revision's data lacks in cache, local, central")
    p.add_argument("--rev", default="HEAD")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("verify", help="check central holds revisions' objects, uncorrupted")
    p.add_argument("--rev", action="append", help="revision (repeatable)")
    p.add_argument("--all", action="store_true",
                   help="every branch and tag on the git remote (the default)")
    p.add_argument("--remote", default="origin", help="git remote for --all (default origin)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("doctor", help="check tools, settings and central access")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("demo", help="two teammates share data through git push/pull")
    p.add_argument("--keep", action="store_true", help="keep the demo's temporary directory")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("install", help="install plain git hooks (without pre-commit)")
    p.set_defaults(func=cmd_install)
    p = sub.add_parser("uninstall", help="remove the hooks `install` added")
    p.set_defaults(func=cmd_uninstall)

    p = sub.add_parser("hook", help="run a git hook (called by git or pre-commit)")
    p.add_argument("name", choices=HOOK_NAMES)
    p.add_argument("args", nargs="*")
    p.set_defaults(func=cmd_hook)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SyncError as exc:
        print(f"dvc-synced: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except FileNotFoundError as exc:
        program = str(exc.filename or "")
        if not program or "/" in program:
            raise  # a file we expected, not a program: a bug to see in full
        # git, ssh (and anything else run by name) missing from PATH
        print(f"dvc-synced: error: {program} is not installed or not on PATH: install it "
              f"(apt-get install {'openssh-client' if program == 'ssh' else program})",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dvc-synced: interrupted; nothing half-written remains, run it again",
              file=sys.stderr)
        return 130
