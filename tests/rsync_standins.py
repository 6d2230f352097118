"""Stand-ins for the rsyncs macOS ships, put early on PATH by the tests.

Each answers `--version` as the real one does and refuses, as it does, the options it
lacks; everything else runs the real rsync at protocol 29, the protocol both speak on
the wire (an rsync 3 receiver treats a protocol-29 sender differently: see
rsync_flavor.upload_modes).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REAL_RSYNC = shutil.which("rsync") or "/usr/bin/rsync"

OPENRSYNC_VERSION = "openrsync: protocol version 29\nrsync version 2.6.9 compatible\n"
RSYNC_269_VERSION = (
    "rsync  version 2.6.9  protocol version 29\n"
    "Copyright (C) 1996-2006 by Andrew Tridgell, Wayne Davison, and others.\n"
    "<http://rsync.samba.org/>\n"
    "Capabilities: 64-bit files, socketpairs, hard links, symlinks, batchfiles,\n"
    "              inplace, IPv6, 64-bit system inums, 64-bit internal inums\n"
)

# How each refuses an option it does not know (getopt_long / popt), exit 1.
_OPENRSYNC_REFUSE = "echo \"openrsync: unrecognized option \\`$a'\" >&2; exit 1"
_RSYNC_269_REFUSE = ("echo \"rsync: $a: unknown option\" >&2; "
                     "echo 'rsync error: syntax or usage error (code 1) at main.c(1318) "
                     "[client=2.6.9]' >&2; exit 1")
_CHMOD_REFUSE = ("echo \"rsync: Invalid argument passed to --chmod ($a)\" >&2; exit 1")


def write_standin(bin_dir: Path, flavor: str, version_text: str = "",
                  calls: Path | None = None) -> Path:
    """An executable `rsync` in `bin_dir` for `flavor` ("openrsync", "2.6.9", or
    "custom" with `version_text`); `calls` records each `--version` asked."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    if flavor == "openrsync":
        text, refuse = OPENRSYNC_VERSION, _OPENRSYNC_REFUSE
    elif flavor == "2.6.9":
        text, refuse = RSYNC_269_VERSION, _RSYNC_269_REFUSE
    else:
        text, refuse = version_text, _RSYNC_269_REFUSE
    record = f"echo x >> '{calls}'; " if calls else ""
    script = bin_dir / "rsync"
    script.write_text(
        "#!/bin/sh\n"
        f"# stand-in for {flavor} rsync (tests/rsync_standins.py)\n"
        "for a in \"$@\"; do\n"
        "  case \"$a\" in\n"
        "    --) break ;;\n"
        f"    --version) {record}printf '%s' '{text}'; exit 0 ;;\n"
        "    --info|--info=*|--ignore-missing-args|--mkpath|--protect-args|-s)\n"
        f"      {refuse} ;;\n"
        "    --chmod=*[0-7][0-7][0-7]*)\n"  # octal modes: rsync 3.1.0 on
        f"      {_CHMOD_REFUSE} ;;\n"
        "    --*) ;;\n"
        "    -*s*)\n"  # -s inside a cluster of short options
        f"      {refuse} ;;\n"
        "  esac\n"
        "done\n"
        f"exec '{REAL_RSYNC}' --protocol=29 \"$@\"\n"
    )
    os.chmod(script, 0o755)
    return script


def path_with(bin_dir: Path) -> str:
    """This PATH with the venv's bin first (as make_env has it), then `bin_dir`."""
    venv_bin = os.path.dirname(sys.executable)
    rest = [p for p in os.environ.get("PATH", os.defpath).split(os.pathsep)
            if p and p != venv_bin]
    return os.pathsep.join([venv_bin, str(bin_dir), *rest])
