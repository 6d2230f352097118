"""Parse DVC pointer files (.dvc, dvc.lock) as stored in git into the outputs they name.

Only the fields that address cached data are read: `md5` (with `.dir` for directories),
`hash: md5` (3.x objects; its absence means a legacy 2.x object), `cache`/`push` flags.
Parsing the blob straight from git lets hooks ask about exactly the changed pointers of
any revision without DVC building its index of the whole revision.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

import yaml

from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.oids import OID_RE
from dvc_synced_plugin.safety import excerpt

_TEMPLATE_RE = re.compile(r"\$\{[^}]*\}")

try:  # the C loader is several times faster on large dvc.lock files
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader


@dataclass(frozen=True)
class Out:
    """One cached output a pointer file records."""

    key: str  # identifies the output within its pointer file: "<stage>:<path>" or "<path>"
    path: str  # workspace path relative to the repository root, for messages
    oid: str  # md5 hex, with ".dir" for a directory manifest
    legacy: bool  # a 2.x object (md5-dos2unix, stored without the files/md5 prefix)
    pointer: str  # the pointer file that records it
    target: str  # what `dvc checkout` takes to restore it
    # `isexec: true` of a single-file output: DVC sets the owner's x bit on checkout (a
    # `.dir` manifest carries no such flag for the files inside, checked in dvc-data).
    isexec: bool = False

    @property
    def is_dir(self) -> bool:
        return self.oid.endswith(".dir")


def _load(content: bytes, where: str) -> Any:
    try:
        return yaml.load(content, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        at = f" line {line + 1}" if line is not None else ""
        raise SyncError(
            f"{where}{at} is not valid YAML: fix the file or `git checkout` it"
        ) from exc
    except (ValueError, RecursionError):  # an integer of 5,000 digits, say
        raise SyncError(
            f"{where} holds a value no DVC file has: fix the file or `git checkout` it"
        ) from None


def _out_from(entry: Any, where: str, key: str, path: str, target: str) -> Optional[Out]:
    if not isinstance(entry, dict):
        raise SyncError(f"{where}: an output entry is not a mapping: fix the file")
    if entry.get("cache") is False or entry.get("push") is False:
        return None
    md5 = entry.get("md5")
    if md5 is None:
        # Cloud-versioned outputs (`files:`, `etag`) live outside the content-addressed store.
        return None
    if not isinstance(md5, str) or not OID_RE.match(md5):
        raise SyncError(f"{where}: {path!r} has a malformed md5 {excerpt(md5)}: fix or re-add it")
    name = entry.get("hash")
    if name not in (None, "md5"):
        raise SyncError(f"{where}: {path!r} uses hash {excerpt(name)}; dvc-synced supports md5")
    return Out(key=key, path=path, oid=md5, legacy=name is None, pointer=where, target=target,
               isexec=entry.get("isexec") is True)


def _safe_rel(base: str, rel: Any, where: str) -> str:
    if not isinstance(rel, str) or not rel:
        raise SyncError(f"{where}: an output has no path: fix the file")
    return posixpath.normpath(posixpath.join(base, rel))


def parse_dvc_file(pointer: str, content: bytes) -> list[Out]:
    """Outputs of a `.dvc` file."""
    data = _load(content, pointer)
    if data is None:
        return []
    if not isinstance(data, dict):
        raise SyncError(f"{pointer} is not a DVC file: fix or remove it")
    base = posixpath.dirname(pointer)
    outs = []
    for entry in data.get("outs") or []:
        rel = entry.get("path") if isinstance(entry, dict) else None
        path = _safe_rel(base, rel, pointer)
        out = _out_from(entry, pointer, str(rel), path, pointer)
        if out:
            outs.append(out)
    return outs


def _uncached_patterns(dvc_yaml: Any) -> dict[str, list[re.Pattern[str]]]:
    """Per stage of dvc.yaml, the outputs declared `cache: false` or `push: false`.

    dvc.lock does not repeat those flags, so they come from dvc.yaml; templated paths
    (`${item}`) of foreach/matrix stages become wildcards.
    """
    result: dict[str, list[re.Pattern[str]]] = {}
    stages = dvc_yaml.get("stages") if isinstance(dvc_yaml, dict) else None
    if not isinstance(stages, dict):
        return result
    for name, stage in stages.items():
        if not isinstance(stage, dict):
            continue
        body = stage.get("do") if isinstance(stage.get("do"), dict) else stage
        for field in ("outs", "metrics", "plots"):
            for item in body.get(field) or []:
                if not isinstance(item, dict):
                    continue
                for path, flags in item.items():
                    if isinstance(flags, dict) and (
                        flags.get("cache") is False or flags.get("push") is False
                    ):
                        parts = _TEMPLATE_RE.split(str(path))
                        regex = ".*".join(re.escape(p) for p in parts)
                        result.setdefault(str(name), []).append(re.compile(f"^{regex}$"))
    return result


def parse_dvc_lock(
    pointer: str, content: bytes, dvc_yaml: Optional[bytes] = None
) -> list[Out]:
    """Cached outputs of every stage of a `dvc.lock` (checkout targets `dvc.yaml:stage`)."""
    data = _load(content, pointer)
    if data is None:
        return []
    if not isinstance(data, dict):
        raise SyncError(f"{pointer} is not a dvc.lock file: fix or `dvc repro` it")
    stages = data.get("stages") if "stages" in data or "schema" in data else data
    if not isinstance(stages, dict):
        return []
    uncached = _uncached_patterns(_load(dvc_yaml, pointer[:-4] + "yaml")) if dvc_yaml else {}
    base = posixpath.dirname(pointer)
    yaml_path = posixpath.join(base, "dvc.yaml")
    outs = []
    for stage_name, stage in stages.items():
        if not isinstance(stage, dict):
            continue
        skip = uncached.get(str(stage_name).split("@", 1)[0], [])
        for entry in stage.get("outs") or []:
            rel = entry.get("path") if isinstance(entry, dict) else None
            path = _safe_rel(base, rel, pointer)
            if any(p.match(str(rel)) for p in skip):
                continue
            out = _out_from(
                entry, pointer, f"{stage_name}:{rel}", path, f"{yaml_path}:{stage_name}"
            )
            if out:
                outs.append(out)
    return outs


def _unexpected_shape(pointer: str) -> SyncError:
    return SyncError(f"{pointer} is not shaped as DVC writes it (a list or mapping where "
                     "another belongs): fix the file or `git checkout` it")


# A pointer file from git may have any shape (`outs: 5`): whatever the readers did not
# expect is the one-line refusal, never a traceback.
_SHAPE_ERRORS = (TypeError, AttributeError, KeyError, IndexError, ValueError, RecursionError)


def parse_pointer(
    pointer: str, content: Optional[bytes], read_sibling: Callable[[str], Optional[bytes]]
) -> list[Out]:
    """Outputs of any pointer file; `read_sibling` reads dvc.yaml beside a dvc.lock."""
    if content is None:
        return []
    try:
        if pointer.rsplit("/", 1)[-1] == "dvc.lock":
            return parse_dvc_lock(pointer, content,
                                  read_sibling(pointer[: -len("lock")] + "yaml"))
        return parse_dvc_file(pointer, content)
    except _SHAPE_ERRORS:
        raise _unexpected_shape(pointer) from None


def output_paths(pointer: str, content: Optional[bytes]) -> set[str]:
    """Every output path a pointer file records, cached, pushed or not.

    Which outputs leave the workspace is decided against these: an output that became
    `cache: false` or `push: false` is still DVC's, and its file stays.
    """
    if content is None:
        return set()
    try:
        return _output_paths(pointer, content)
    except _SHAPE_ERRORS:
        raise _unexpected_shape(pointer) from None


def _output_paths(pointer: str, content: bytes) -> set[str]:
    data = _load(content, pointer)
    if not isinstance(data, dict):
        return set()
    base = posixpath.dirname(pointer)
    if pointer.rsplit("/", 1)[-1] == "dvc.lock":
        stages = data.get("stages") if "stages" in data or "schema" in data else data
        entries = [e for s in (stages.values() if isinstance(stages, dict) else [])
                   if isinstance(s, dict) for e in s.get("outs") or []]
    else:
        entries = data.get("outs") or []
    paths = set()
    for entry in entries:
        rel = entry.get("path") if isinstance(entry, dict) else None
        if isinstance(rel, str) and rel:
            paths.add(posixpath.normpath(posixpath.join(base, rel)))
    return paths
