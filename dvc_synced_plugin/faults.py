"""Fault injection for the kill tests: a named point where this process sends itself a
real signal, so a test can interrupt a pull at an exact phase (download, cache,
workspace, state) and check that the next run recovers.

Inert unless DVC_SYNCED_KILL_AT is set, e.g. `workspace:SIGKILL:3` (the third time the
workspace phase reaches its point) or `download:SIGINT`.
"""

from __future__ import annotations

import os
import signal

ENV = "DVC_SYNCED_KILL_AT"
PHASES = ("download", "cache", "workspace", "state")
_hits: dict[str, int] = {}


def point(phase: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    name, _, rest = spec.partition(":")
    if name != phase:
        return
    sig, _, nth = rest.partition(":")
    _hits[phase] = _hits.get(phase, 0) + 1
    if _hits[phase] == int(nth or 1):
        os.kill(os.getpid(), getattr(signal, sig or "SIGKILL"))
