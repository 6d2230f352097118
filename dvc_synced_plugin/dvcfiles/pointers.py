"""The fast parser of DVC pointer files (.dvc, dvc.yaml + dvc.lock), for a proven subset.

It reads only files whose meaning it can prove equal to DVC's: plain `dvc add` files and
pipelines without templating, `wdir`, per-output `remote`/`push`, imports, cloud-versioned
entries, external paths or any key it does not know. Everything else raises `NeedsDvc`,
and `reading.py` asks DVC's own stage loading for that revision instead. Never a guess:
a value of a type or spelling DVC might read otherwise (YAML 1.1 vs 1.2 scalars, duplicate
keys) counts as outside the subset too.
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

try:  # the C loader is several times faster on large dvc.lock files
    _Base: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Base = yaml.SafeLoader


class NeedsDvc(SyncError):
    """The file uses something outside the fast parser's proven subset: DVC reads it.

    A SyncError only for callers of the fast parser alone (tests, benchmarks); `reading`
    hands such a file to DVC instead."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"needs DVC's own reading: {reason}")


# DVC's schema check walks every value, aliases expanded: a file past these bounds would
# hang it (a YAML alias bomb) and no DVC file comes near them.
MAX_ITEMS, MAX_DEPTH = 200_000, 64


def check_bounded(content: Optional[bytes], where: str) -> None:
    """Refuse, before DVC reads it, a file far larger or deeper than any DVC file."""
    if content is None:
        return
    try:
        data = yaml.load(content, Loader=_Base)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        return  # DVC gives its own error for invalid YAML
    except (ValueError, RecursionError):
        raise SyncError(f"{where} holds a value no DVC file has: fix the file or "
                        "`git checkout` it") from None
    count, todo = 0, [(data, 0)]
    while todo:
        value, depth = todo.pop()
        count += 1
        if count > MAX_ITEMS or depth > MAX_DEPTH:
            raise SyncError(f"{where} is far larger or deeper than a DVC file: fix the file "
                            "or `git checkout` it")
        if isinstance(value, dict):
            todo.extend((v, depth + 1) for kv in value.items() for v in kv)
        elif isinstance(value, list):
            todo.extend((v, depth + 1) for v in value)


class _Loader(_Base):  # type: ignore[misc,valid-type]
    """DVC's loader (ruamel) refuses duplicate keys; PyYAML keeps the last: not ours then."""


def _construct_mapping(loader: Any, node: Any, deep: bool = False) -> Any:
    keys = [k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)]
    if len(keys) != len(set(keys)):
        raise NeedsDvc("duplicate keys")
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


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
    # Where DVC keeps its data: "" central (through the local storage); "remote:NAME" an
    # own DVC remote (`remote:` of the output); "import" the repository it was imported
    # from. Data of the last two is DVC's to move (`dvc push`/`dvc fetch` of the target).
    # "unpushed": `push: false`, moved by no one (only in `Pointer.unpushed`).
    route: str = ""

    @property
    def is_dir(self) -> bool:
        return self.oid.endswith(".dir")


@dataclass(frozen=True)
class Pointer:
    """What one pointer file means at one revision."""

    outs: tuple[Out, ...] = ()  # cached outputs with an object (any route)
    paths: frozenset[str] = frozenset()  # every output path it declares, cached or not
    # `push: false` outputs with an object: DVC moves their data nowhere, so no flow
    # plans them; only the removal of outputs HEAD no longer has needs to know them.
    unpushed: tuple[Out, ...] = ()


EMPTY = Pointer()

# Scalars YAML 1.2 (DVC's ruamel) may read as non-strings where PyYAML's 1.1 reads a
# string, or the reverse: such a value is not ours to interpret.
_AMBIGUOUS = re.compile(
    r"^([-+]?(0o[0-7]+|0x[0-9a-fA-F]+|[0-9][0-9_]*|(\.[0-9]+|[0-9]+(\.[0-9]*)?)"
    r"([eE][-+]?[0-9]+)?)|\.inf|\.nan|null|~|true|false|yes|no|on|off|y|n)$",
    re.IGNORECASE,
)
_NUMERIC_MD5 = re.compile(r"^[0-9]+([eE][-+]?[0-9]+)?$")  # unquoted: a number in YAML 1.2
_BOOL_11 = re.compile(rb"^[^#\n]*:\s*(yes|no|on|off|y|n)\s*(#.*)?$", re.IGNORECASE | re.MULTILINE)

_DVC_FILE_KEYS = {"outs", "meta", "desc", "md5", "frozen"}
_FILE_OUT_KEYS = {"path", "md5", "size", "nfiles", "hash", "isexec", "desc", "type",
                  "labels", "meta", "cache", "persist"}
_YAML_KEYS = {"stages", "metrics", "plots", "params", "artifacts"}
_STAGE_KEYS = {"cmd", "deps", "outs", "metrics", "plots", "params", "desc", "meta",
               "always_changed", "frozen"}
_FLAG_KEYS = {"cache", "persist", "desc", "type", "labels", "meta", "x", "y", "template",
              "title", "x_label", "y_label", "header"}
_LOCK_STAGE_KEYS = {"cmd", "deps", "outs", "params"}
_LOCK_OUT_KEYS = {"path", "md5", "size", "nfiles", "hash", "isexec"}
_STAGE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _load(content: bytes, where: str) -> Any:
    if _BOOL_11.search(content):
        raise NeedsDvc("a YAML 1.1 boolean")
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


def _only(data: dict[Any, Any], allowed: set[str]) -> None:
    if not all(isinstance(k, str) and k in allowed for k in data):
        raise NeedsDvc("a key the fast parser does not know")


def _flag(data: dict[Any, Any], name: str) -> bool:
    value = data.get(name, True)
    if not isinstance(value, bool):
        raise NeedsDvc(f"{name} is not a boolean")
    return value


def _rel(rel: Any, where: str) -> str:
    """A plain path inside the repository, as the file spells it."""
    if rel is None or rel == "":
        raise SyncError(f"{where}: an output has no path: fix the file")
    if (not isinstance(rel, str) or "${" in rel or "\\" in rel or "://" in rel
            or rel.startswith(("/", "~")) or _AMBIGUOUS.match(rel)):
        raise NeedsDvc("a path outside the plain subset")
    norm = posixpath.normpath(rel)
    if norm in (".", "..") or norm.startswith("../"):
        raise NeedsDvc("a path outside its directory")
    return rel


def _out_from(entry: dict[Any, Any], where: str, key: str, path: str,
              target: str) -> Optional[Out]:
    md5 = entry.get("md5")
    if md5 is None:
        return None  # not committed yet: no object
    if isinstance(md5, str) and _NUMERIC_MD5.match(md5):
        raise NeedsDvc("an md5 YAML 1.2 reads as a number")
    if not isinstance(md5, str) or not OID_RE.match(md5):
        raise SyncError(f"{where}: {path!r} has a malformed md5 {excerpt(md5)}: fix or re-add it")
    name = entry.get("hash")
    if name not in (None, "md5"):
        raise NeedsDvc(f"hash {name!r}")
    if entry.get("isexec", False) not in (True, False):
        raise NeedsDvc("isexec is not a boolean")
    return Out(key=key, path=path, oid=md5, legacy=name is None, pointer=where, target=target,
               isexec=entry.get("isexec") is True)


def parse_dvc_file(pointer: str, content: bytes) -> Pointer:
    """A `.dvc` file as `dvc add` writes it."""
    data = _load(content, pointer)
    if data is None:
        return EMPTY
    if not isinstance(data, dict):
        raise SyncError(f"{pointer} is not a DVC file: fix or remove it")
    _only(data, _DVC_FILE_KEYS)
    if data.get("frozen", False) is not False:
        raise NeedsDvc("a frozen .dvc file")
    entries = data.get("outs") or []
    if not isinstance(entries, list):
        raise NeedsDvc("outs is not a list")
    base = posixpath.dirname(pointer)
    outs: list[Out] = []
    paths: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            raise SyncError(f"{pointer}: an output entry is not a mapping: fix the file")
        _only(entry, _FILE_OUT_KEYS)
        rel = _rel(entry.get("path"), pointer)
        path = posixpath.normpath(posixpath.join(base, rel))
        if path in paths:
            raise NeedsDvc("an output listed twice")
        paths.add(path)
        _flag(entry, "persist")
        if not _flag(entry, "cache"):
            continue
        out = _out_from(entry, pointer, rel, path, pointer)
        if out:
            outs.append(out)
    return Pointer(tuple(outs), frozenset(paths))


def _declared(stage: dict[Any, Any]) -> dict[str, bool]:
    """Output path (as written) -> cached, of one dvc.yaml stage."""
    result: dict[str, bool] = {}
    for field in ("outs", "metrics", "plots"):
        items = stage.get(field) or []
        if not isinstance(items, list):
            raise NeedsDvc(f"{field} is not a list")
        for item in items:
            if isinstance(item, dict) and len(item) == 1:
                (rel, flags), = item.items()
                flags = {} if flags is None else flags
                if not isinstance(flags, dict):
                    raise NeedsDvc("output flags are not a mapping")
                _only(flags, _FLAG_KEYS)
                _flag(flags, "persist")
                cached = _flag(flags, "cache")
            else:
                rel, cached = item, True
            rel = _rel(rel, "dvc.yaml")
            if rel in result:
                raise NeedsDvc("an output declared twice")
            result[rel] = cached
    return result


def parse_pipeline(pointer: str, lock: Optional[bytes], dvc_yaml: Optional[bytes]) -> Pointer:
    """The cached outputs of a dvc.yaml's stages, with their hashes from dvc.lock.

    As DVC's StageLoader: the stages are dvc.yaml's; each output takes the lock entry of
    the same path of the same stage, if any; lock stages dvc.yaml lacks mean nothing.
    """
    if dvc_yaml is None:
        if lock is None:
            return EMPTY
        raise NeedsDvc("a dvc.lock without dvc.yaml")
    if b"${" in dvc_yaml:
        raise NeedsDvc("templating")
    yaml_path = pointer[: -len("lock")] + "yaml"
    spec = _load(dvc_yaml, yaml_path)
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise NeedsDvc("dvc.yaml is not a mapping")
    _only(spec, _YAML_KEYS)
    stages = spec.get("stages") or {}
    if not isinstance(stages, dict):
        raise NeedsDvc("stages is not a mapping")
    locked: dict[Any, Any] = {}
    if lock is not None:
        data = _load(lock, pointer)
        if data is not None:
            if not isinstance(data, dict):
                raise NeedsDvc("dvc.lock is not a mapping")
            _only(data, {"schema", "stages"})
            if data.get("schema") != "2.0" or not isinstance(data.get("stages") or {}, dict):
                raise NeedsDvc("a dvc.lock of another schema")
            locked = data.get("stages") or {}
    base = posixpath.dirname(pointer)
    outs: list[Out] = []
    paths: set[str] = set()
    for name, stage in stages.items():
        if not isinstance(name, str) or not _STAGE_NAME.match(name):
            raise NeedsDvc("a stage name outside the plain subset")
        if not isinstance(stage, dict):
            raise NeedsDvc("a stage is not a mapping")
        _only(stage, _STAGE_KEYS)
        _flag(stage, "frozen")
        _flag(stage, "always_changed")
        declared = _declared(stage)
        paths.update(posixpath.normpath(posixpath.join(base, r)) for r in declared)
        entries = _lock_outs(locked.get(name))
        for rel, cached in declared.items():
            entry = entries.get(rel)
            if not cached or entry is None:
                continue
            path = posixpath.normpath(posixpath.join(base, rel))
            out = _out_from(entry, pointer, f"{name}:{rel}", path, f"{yaml_path}:{name}")
            if out:
                outs.append(out)
    return Pointer(tuple(outs), frozenset(paths))


def _lock_outs(stage: Any) -> dict[str, dict[Any, Any]]:
    if stage is None:
        return {}
    if not isinstance(stage, dict):
        raise NeedsDvc("a lock stage is not a mapping")
    _only(stage, _LOCK_STAGE_KEYS)
    entries = stage.get("outs") or []
    if not isinstance(entries, list):
        raise NeedsDvc("lock outs is not a list")
    result: dict[str, dict[Any, Any]] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise NeedsDvc("a lock output is not a mapping")
        _only(entry, _LOCK_OUT_KEYS)
        rel = entry.get("path")
        if not isinstance(rel, str) or rel in result:
            raise NeedsDvc("a lock output without a plain path")
        result[rel] = entry
    return result


def unexpected_shape(pointer: str) -> SyncError:
    return SyncError(f"{pointer} is not shaped as DVC writes it (a list or mapping where "
                     "another belongs): fix the file or `git checkout` it")


# A pointer file from git may have any shape (`outs: 5`): whatever the readers did not
# expect is the one-line refusal, never a traceback.
SHAPE_ERRORS = (TypeError, AttributeError, KeyError, IndexError, ValueError, RecursionError)


def parse_pointer(
    pointer: str, content: Optional[bytes], read_sibling: Callable[[str], Optional[bytes]]
) -> list[Out]:
    """Outputs of any pointer file; `read_sibling` reads dvc.yaml beside a dvc.lock.

    The fast parser alone (tests, benchmarks): raises NeedsDvc outside its subset.
    """
    if content is None:
        return []
    try:
        if pointer.rsplit("/", 1)[-1] == "dvc.lock":
            sibling = read_sibling(pointer[: -len("lock")] + "yaml")
            return list(parse_pipeline(pointer, content, sibling).outs)
        return list(parse_dvc_file(pointer, content).outs)
    except SHAPE_ERRORS:
        raise unexpected_shape(pointer) from None


def output_paths(pointer: str, content: Optional[bytes]) -> set[str]:
    """Every output path a pointer file's own entries name (best effort, no dvc.yaml).

    Used to spot pointers whose outputs git wrote into; `reading.py` gives the exact set.
    """
    if content is None:
        return set()
    try:
        return _output_paths(pointer, content)
    except SHAPE_ERRORS:
        raise unexpected_shape(pointer) from None


def _output_paths(pointer: str, content: bytes) -> set[str]:
    try:
        data = yaml.load(content, Loader=_Base)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        return set()
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
