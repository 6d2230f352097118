"""Untrusted input of any shape (issue #20, case 6): `.dir` manifests from central and
pointer files from git that are nested a thousand levels deep, huge, alias bombs, or of
the wrong types. Each gets the one-line refusal, never a traceback, through push, pull,
status and verify; a refused push leaves the git remote where it was.

(Hostile *contents* of the right shape, paths leaving the workspace: faults/test_hostile.py.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pytest

from dvc_synced_plugin import safety
from dvc_synced_plugin.dvcfiles.objects import manifest_delta, manifest_map, parse_manifest
from dvc_synced_plugin.dvcfiles.pointers import output_paths, parse_pointer
from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.sync import status
from tests.conftest import Team, User
from tests.faults.support import commit, md5, object_path, server_ref

G = "0123456789abcdef0123456789abcdef"
DEEP_JSON = 100_000  # json.loads recurses: RecursionError long before this
# YAML aliases: 10 references a level, 8 levels: 10^8 items when printed (25 s before).
BOMB = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'x'] * 10)}]\n"
               for i in range(8))

MANIFESTS: dict[str, bytes] = {
    "deep list": b"[" * DEEP_JSON + b"]" * DEEP_JSON,
    "deep entry md5": b'[{"md5": ' + b"[" * 990 + b"]" * 990 + b', "relpath": "x"}]',
    "deep relpath": b'[{"md5": "' + G.encode() + b'", "relpath": ' + b"{\"a\": " * 990
                    + b"1" + b"}" * 990 + b"}]",
    "list md5": b'[{"md5": ["a"], "relpath": "x"}]',
    "int relpath": b'[{"md5": "' + G.encode() + b'", "relpath": 5}]',
    "list entry": b"[[1, 2]]",
    "missing md5": b'[{"relpath": "x"}]',
    "huge integer": b'[{"md5": ' + b"9" * 5000 + b', "relpath": "x"}]',
    "null": b"null",
    "string": b'"[]"',
    "not utf-8": b'[{"md5": "\xff\xfe", "relpath": "x"}]',
    "many bad entries": json.dumps([{"md5": i, "relpath": [i]} for i in range(20000)]).encode(),
}

POINTERS: dict[str, dict[str, str]] = {
    "outs is an int": {"p.dvc": "outs: 5\n"},
    "outs is a string": {"p.dvc": "outs: abc\n"},
    "outs is a mapping": {"p.dvc": "outs: {path: p, md5: x}\n"},
    "deep md5": {"p.dvc": f"outs:\n- path: p\n  md5: {'[' * 900}{']' * 900}\n"},
    "deep yaml": {"p.dvc": f"outs: {'[' * 5000}{']' * 5000}\n"},
    "alias bomb md5": {"p.dvc": BOMB + "outs:\n- path: p\n  md5: *l7\n"},
    "alias bomb hash": {"p.dvc": BOMB + f"outs:\n- path: p\n  md5: {G}\n  hash: *l7\n"},
    "huge integer": {"p.dvc": f"outs:\n- path: p\n  md5: {G}\n  hash: md5\n"
                              f"  size: {'9' * 5000}\n"},
    "path is a list": {"p.dvc": f"outs:\n- path: [p]\n  md5: {G}\n"},
    "top level list": {"p.dvc": "- 1\n"},
    "lock outs is an int": {
        "dvc.yaml": "stages:\n  s:\n    cmd: echo\n",
        "dvc.lock": "schema: '2.0'\nstages:\n  s:\n    cmd: echo\n    outs: 5\n"},
    "lock stage is a list": {
        "dvc.yaml": "stages:\n  s:\n    cmd: echo\n",
        "dvc.lock": "schema: '2.0'\nstages:\n  s: [1, 2]\n"},
    "yaml outs is an int": {
        "dvc.yaml": "stages:\n  s:\n    cmd: echo\n    outs: 5\n",
        "dvc.lock": f"schema: '2.0'\nstages:\n  s:\n    cmd: echo\n    outs:\n"
                    f"    - path: p\n      md5: {G}\n      hash: md5\n"},
    "yaml outs entry flags": {
        "dvc.yaml": "stages:\n  s:\n    cmd: echo\n    outs:\n    - p: 5\n    - [1]\n",
        "dvc.lock": f"schema: '2.0'\nstages:\n  s:\n    cmd: echo\n    outs:\n"
                    f"    - path: p\n      md5: {G}\n      hash: md5\n"},
}


def one_line(message: str) -> None:
    assert "\n" not in message and len(message) < 400, message[:1000]


# ------------------------------------------------------------------------------ unit


@pytest.mark.parametrize("case", sorted(MANIFESTS))
def test_malformed_manifest_is_a_sync_error_in_every_reader(case: str) -> None:
    """The full readers refuse; the fast ones (whose callers check the entries they act
    on) refuse or return, and nothing else escapes."""
    data = MANIFESTS[case]
    old = b'[{"md5": "' + G.encode() + b'", "relpath": "y"}]'
    for read, must in ((lambda: parse_manifest(data, False, "d"), True),
                       (lambda: list(status.entry_oids(data, False, "d")), True),
                       (lambda: manifest_map(data, False, "d"), False),
                       (lambda: manifest_delta(None, data, False, "d"), False),
                       (lambda: manifest_delta(old, data, False, "d"), False)):
        try:
            read()
        except SyncError as exc:
            one_line(str(exc))
        else:
            assert not must, case
    verdict = safety.unsafe_manifest(data, "d")
    assert verdict is not None
    one_line(verdict)


@pytest.mark.parametrize("case", sorted(POINTERS))
def test_malformed_pointer_file_is_a_sync_error(case: str) -> None:
    files = {k: v.encode() for k, v in POINTERS[case].items()}
    pointer = "dvc.lock" if "dvc.lock" in files else "p.dvc"

    def sibling(path: str) -> Optional[bytes]:
        return files.get(path)

    try:
        parse_pointer(pointer, files[pointer], sibling)
    except SyncError as exc:
        one_line(str(exc))
    else:  # read as far as the outputs go (a broken dvc.yaml flag, a stage that is no
        # mapping, skipped as it always was): no traceback is what this test asks
        assert case.startswith("yaml") or case == "lock stage is a list", case
    try:
        output_paths(pointer, files[pointer])
    except SyncError as exc:
        one_line(str(exc))


def test_excerpt_is_bounded_whatever_the_shape() -> None:
    import yaml

    bomb = yaml.load(BOMB, Loader=yaml.CSafeLoader)["l7"]
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    for value in (bomb, deep, "x" * 10**6, {i: i for i in range(10**5)}):
        assert len(safety.excerpt(value)) <= 80


# ------------------------------------------------------------------------------ end to end


def refused(proc: object, what: str) -> str:
    """The command failed with a one-line error and no traceback; returns that line."""
    stderr = proc.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr, (what, stderr[-2000:])
    assert proc.returncode != 0, (what, stderr[-2000:])  # type: ignore[attr-defined]
    errors = [ln for ln in stderr.splitlines() if "error:" in ln or "refused:" in ln]
    assert errors, (what, stderr[-2000:])
    one_line(errors[0])
    return errors[0]


def through_all_four(team: Team, attacker: User, victim: User, files: dict[str, bytes],
                     what: str) -> None:
    """`files` (committed by the attacker, data planted already): the victim's git pull,
    `dvc-synced pull`, `status`, `verify` refuse in one line; so does the victim's own push
    of the same files, and the git remote does not move."""
    for rel, data in files.items():
        attacker.write(rel, data)
    commit(attacker, what)
    attacker.run("git", "push", "-q", "origin", "HEAD")
    proc = victim.git("pull", "-q", check=False)  # post-merge: git ignores its status
    assert "Traceback" not in proc.stderr, (what, proc.stderr[-2000:])
    assert "dvc-synced pull" in proc.stderr, (what, proc.stderr[-2000:])
    for command in ("pull", "status", "verify"):
        refused(victim.synced(command, check=False), f"{what}: {command}")

    # The victim's own commit of the same files: the push is refused.
    for rel, data in files.items():
        victim.write(f"mine/{rel}", data)
    commit(victim, f"mine: {what}")
    before = server_ref(victim)
    line = refused(victim.git("push", "origin", "HEAD", check=False), f"{what}: push")
    assert "push refused" in line, line
    assert server_ref(victim) == before
    victim.git("reset", "-q", "--hard", "HEAD~1")

    for rel in files:
        attacker.run("git", "rm", "-q", rel)
    commit(attacker, f"drop {what}")
    attacker.run("git", "push", "-q", "origin", "HEAD")
    victim.git("pull", "-q", check=False)


def test_hostile_shapes_through_push_pull_status_verify(team: Team) -> None:
    attacker = team.founder("alice")
    attacker.env["DVC_SYNCED_SKIP"] = "1"  # pushes git only: data is planted on central
    victim = team.user("bob")
    victim.synced("install")
    central = Path(team.central)
    for case in ("deep list", "deep entry md5", "list entry"):
        data = MANIFESTS[case]
        obj = central / f"{object_path(md5(data))}.dir"
        obj.parent.mkdir(parents=True, exist_ok=True)
        obj.write_bytes(data)
        pointer = f"outs:\n- md5: {md5(data)}.dir\n  hash: md5\n  path: d\n"
        through_all_four(team, attacker, victim, {"d.dvc": pointer.encode()}, case)
    for case in ("outs is an int", "alias bomb md5", "huge integer", "lock outs is an int"):
        files = {k: v.encode() for k, v in POINTERS[case].items()}
        through_all_four(team, attacker, victim, files, case)
