"""Command line: thin argument parsing; each command lives in its own module."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from typing import Optional

from dvc_synced_plugin import __version__, output
from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.events import HOOK_NAMES


def _root():  # type: ignore[no-untyped-def]
    from dvc_synced_plugin import gitinfo

    return gitinfo.toplevel()


def _settings():  # type: ignore[no-untyped-def]
    from dvc_synced_plugin import config

    return config.load(_root())


def cmd_init(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import initialize, precommit_config

    pin = None if args.no_pre_commit_config else precommit_config.pin_of(args.hooks_repo,
                                                                          args.hooks_rev)
    print(initialize.init(_root(), args.central, args.local, args.transport, args.remote,
                          team_local=args.team_local, hooks_pin=pin))
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import flows

    report = flows.push_revisions(_settings(), args.rev or ["HEAD"])
    output.result(report.line("uploaded", "to"))
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import flows, hooks

    settings = _settings()
    report = flows.pull_revision(settings, args.rev)
    output.result(report.line("downloaded", "from"))
    if report.checkout_failed:
        output.say(f"dvc checkout could not update {', '.join(report.checkout_failed)}")
        return 1
    if args.rev == "HEAD":
        from dvc_synced_plugin import gitinfo

        hooks.write_state(settings.root, "ok", gitinfo.rev_parse(settings.root, "HEAD"))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import status

    settings = _settings()  # the work tree is asked once: settings carry it
    result = status.status(settings, args.rev)
    upstream = status.upstream_states(settings.root, args.upstream)
    status.say_workspace_lag(settings.root)
    if args.json:
        print(json.dumps({**result.as_dict(), "upstream": dict(upstream)}, indent=2))
    else:
        from dvc_synced_plugin.output import human_bytes

        print(f"revision {result.rev[:10]}: {result.objects} object(s)")
        for where, miss in result.missing.items():
            state = "complete" if not miss.objects else (
                f"{miss.objects} missing ({human_bytes(miss.bytes)})")
            print(f"  {where:8} {state}")
        for path in result.unknown_dirs:
            print(f"  manifest of {path} is on no storage")
        print(*status.background_lines(settings.root), sep="", end="")
        for path, state in upstream:
            print(f"  upstream: {state}  ({path})")
    return 0 if result.complete else 1


def cmd_import_url(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import imports

    print(imports.import_url(_root(), args.url, args.path, args.transport))
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import imports

    root = _root()
    if args.check:
        results = imports.check(root, args.path)
    else:
        results = imports.update(root, args.path, args.commit)
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2, ensure_ascii=False))
    else:
        for line in imports.report_lines(results, args.check):
            print(line)
    changed = any(not r.diff.empty for r in results)
    return 1 if args.check and changed else 0


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


def cmd_fetch(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import fetch

    settings = _settings()
    days = fetch.parse_days(args.recent)
    if days is None and not args.rev and not args.all:
        days = fetch.DEFAULT_DAYS
    if args.git_fetch:
        fetch.require_remote(settings.root, args.remote)
        fetch.git_fetch(settings.root, args.remote)
    report = fetch.fetch(settings, args.rev, days, everything=args.all, remote=args.remote)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(f"dvc-synced: {report.line()}")
    for problem in report.problems[:3]:
        output.say(f"warning: not fetched: {problem}")
    return 1 if report.problems else 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import schedule

    return schedule.command(_root(), args)


def cmd_du(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import diskuse

    use = diskuse.for_settings(_settings())
    if args.json:
        print(json.dumps(use.as_dict(), indent=2))
    else:
        print("\n".join(diskuse.render(use)))
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    from dvc_synced_plugin import gc

    return gc.run(_settings(), dry_run=args.dry_run, keep_days=args.keep_recent,
                  as_json=args.json)


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
    from dvc_synced_plugin.transports import TRANSPORTS

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
    p.add_argument("--local", help="your local storage path, for you only (git config "
                   "dvc-synced.local; default: per user and project)")
    p.add_argument("--team-local", metavar="PATH",
                   help="a team-wide default local storage path in .dvc-synced: ~/... or "
                   "relative")
    p.add_argument("--transport", default=None,
                   help="how to reach central: " + ", ".join(
                       f"{n} ({e.summary})" for n, e in TRANSPORTS.items() if e.public))
    p.add_argument("--remote", help="name of the DVC remote that is the local storage")
    p.add_argument("--hooks-repo", metavar="URL",
                   help="dvc-synced repository for .pre-commit-config.yaml (default: where "
                   "this dvc-synced was installed from)")
    p.add_argument("--hooks-rev", metavar="COMMIT",
                   help="its commit to pin (default: the installed one)")
    p.add_argument("--no-pre-commit-config", action="store_true",
                   help="leave .pre-commit-config.yaml alone (plain hooks: dvc-synced install)")
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
    p.add_argument("--upstream", action="store_true",
                   help="also list the upstreams of imported outputs (network)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("import-url", help="download data that is updated upstream and track it")
    p.add_argument("url", help="a path, [user@]host:path, ssh://..., or an rclone remote:path")
    p.add_argument("path", nargs="?", help="where in the workspace (default: URL's base name)")
    p.add_argument("--transport", choices=["rsync", "rclone"], default=None,
                   help="default: rclone for a configured rclone remote, else rsync")
    p.set_defaults(func=cmd_import_url)

    p = sub.add_parser("update", help="bring imported data up to date with its upstream")
    p.add_argument("path", nargs="*", help="imported outputs (default: all)")
    p.add_argument("--check", action="store_true",
                   help="only compare: change nothing, exit 1 when an upstream changed")
    p.add_argument("--commit", action="store_true", help="also git-commit each .dvc file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_update)

    p = sub.add_parser("verify", help="check central holds revisions' objects, uncorrupted")
    p.add_argument("--rev", action="append",
                   help="revision, or A..B for what its commits add (repeatable)")
    p.add_argument("--all", action="store_true",
                   help="every branch and tag on the git remote (the default)")
    p.add_argument("--remote", default="origin", help="git remote for --all (default origin)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("fetch", help="get recent revisions' data from central into the local "
                       "storage only, for later offline pulls")
    p.add_argument("rev", nargs="*", help="revisions (default: --recent 7)")
    p.add_argument("--recent", nargs="?", const="7", metavar="DAYS",
                   help="remote branches with commits in the last DAYS days (default 7)")
    p.add_argument("--all", action="store_true", help="every branch and tag of the git remote")
    p.add_argument("--remote", default="origin", help="git remote (default origin)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--git-fetch", action="store_true", help="run `git fetch` first")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("schedule", help="a periodic background fetch (systemd timer or cron)")
    ssub = p.add_subparsers(dest="action", metavar="ACTION")
    ssub.required = True
    q = ssub.add_parser("install", help="install or update the periodic job for this clone")
    q.add_argument("--every", default="15", metavar="MINUTES", help="interval (default 15)")
    q.add_argument("--recent", default="7", metavar="DAYS", help="fetch --recent DAYS (7)")
    ssub.add_parser("remove", help="remove exactly what install added")
    ssub.add_parser("status", help="whether the job is installed, and its last runs")
    q = ssub.add_parser("run", help="run the job once now (what the timer runs)")
    q.add_argument("--every", default="15", metavar="MINUTES")
    q.add_argument("--recent", default="7", metavar="DAYS")
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser("du", help="bytes the data takes in workspace, cache, local storage")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_du)

    p = sub.add_parser("gc", help="remove objects from the local storage that central holds")
    p.add_argument("--dry-run", action="store_true", help="say what would go; remove nothing")
    p.add_argument("--keep-recent", type=int, default=7, metavar="DAYS",
                   help="keep the data of branch tips and commits of the last DAYS days "
                   "(default 7; 0: only HEAD, the index and unpushed commits)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_gc)

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


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
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
