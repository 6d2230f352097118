"""What an object is called and where it lies: the one object-id rule and the one path layout.

A store (DVC cache, local storage, central) lays objects out as `files/md5/ab/cdef...`
(3.x) or `ab/cdef...` (legacy 2.x). Directory outputs are `<md5>.dir` manifests.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Optional

MD5 = "[0-9a-f]{32}"  # the pattern every rule below is built from (also over manifest bytes)
HEX32 = re.compile(rf"^{MD5}$")  # a file's md5
OID_RE = re.compile(rf"^{MD5}(\.dir)?$")  # a file object, or a `.dir` manifest
PREFIX = "files/md5/"  # DVC 3.x; legacy 2.x objects have none
_PATH = re.compile(rf"^(?:{PREFIX})?([0-9a-f]{{2}})/([0-9a-f]{{30}}(?:\.dir)?)$")

# A whole revision of 10^6 files holds 10^6 refs: without a __dict__ each is ~100 B smaller.
_SLOTS = {"slots": True} if sys.version_info >= (3, 10) else {}


def object_path(oid: str, legacy: bool) -> str:
    """Where a store keeps the object (relative to the store's root)."""
    return f"{'' if legacy else PREFIX}{oid[:2]}/{oid[2:]}"


def object_ref(rel: str) -> Optional[ObjectRef]:
    """The object at a store-relative path; None for anything else (scratch, temp names)."""
    match = _PATH.match(rel)
    if match is None:
        return None
    return ObjectRef(match.group(1) + match.group(2), not rel.startswith(PREFIX))


@dataclass(frozen=True, **_SLOTS)
class ObjectRef:
    """One content-addressed object and the workspace path it belongs to (for messages)."""

    oid: str
    legacy: bool
    owner: str = field(default="", compare=False, hash=False)

    @property
    def is_dir(self) -> bool:
        return self.oid.endswith(".dir")

    @property
    def relpath(self) -> str:
        return object_path(self.oid, self.legacy)
