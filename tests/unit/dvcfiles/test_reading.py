"""The one reading of DVC's files: fast where proven, DVC's own stage loading elsewhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dvc_synced_plugin.dvcfiles import reading
from dvc_synced_plugin.git import gitinfo
from tests.conftest import run

MD5 = "0123456789abcdef0123456789abcdef"
MD5B = "fedcba9876543210fedcba9876543210"


def lock(*stages: tuple[str, str, str]) -> str:
    text = "schema: '2.0'\nstages:\n"
    for name, path, md5 in stages:
        text += f"  {name}:\n    cmd: x\n    outs:\n    - path: {path}\n      hash: md5\n" \
                f"      md5: {md5}\n      size: 1\n"
    return text


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    root.mkdir()
    run(["git", "init", "-q", "-b", "main"], root)
    run(["git", "config", "user.email", "t@example.com"], root)
    run(["git", "config", "user.name", "t"], root)
    run([sys.executable, "-m", "dvc", "init", "-q"], root)
    return root


def commit(root: Path, files: dict[str, str]) -> str:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-q", "-m", "c"], root)
    return run(["git", "rev-parse", "HEAD"], root).stdout.strip()


def outs(root: Path, old: str | None, new: str) -> set[tuple[str, str, str]]:
    found = set()
    for _, side in reading.read_changes(root, gitinfo.changes_between(root, old, new)):
        found |= {(o.path, o.oid, o.route) for o in side.outs}
    return found


def test_a_plain_project_never_imports_dvc(project: Path) -> None:
    sha = commit(project, {
        "a.dvc": f"outs:\n- md5: {MD5}\n  size: 1\n  hash: md5\n  path: a\n",
        "dvc.yaml": "stages:\n  s:\n    cmd: x\n    outs: [m.bin]\n",
        "dvc.lock": lock(("s", "m.bin", MD5B)),
    })
    code = ("import sys; from pathlib import Path; "
            "from dvc_synced_plugin.git import gitinfo; from dvc_synced_plugin.dvcfiles "
            "import reading; r = Path('.'); c = gitinfo.changes_between(r, None, "
            f"'{sha}'); got = reading.read_changes(r, c); "
            "print(sorted(o.path for _, n in got for o in n.outs), reading.STATS, "
            "'dvc' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "['a', 'm.bin'] {'fast': 2, 'slow': 0} False"


def test_templated_pipeline_is_read_by_dvc(project: Path) -> None:
    spec = ("vars:\n  - scores: metrics.json\nstages:\n  train:\n    cmd: x\n"
            "    outs: [model.pkl]\n    metrics:\n      - ${scores}:\n          cache: false\n"
            "  w:\n    wdir: st\n    cmd: x\n    outs:\n      - m.bin:\n          remote: r\n")
    sha = commit(project, {"dvc.yaml": spec, "dvc.lock": lock(
        ("train", "model.pkl", MD5), ("train", "metrics.json", MD5B)).replace(
        "  train:\n    cmd: x\n    outs:\n    - path: metrics.json",
        "  w:\n    cmd: x\n    outs:\n    - path: m.bin")})
    assert outs(project, None, sha) == {("model.pkl", MD5, ""), ("st/m.bin", MD5B, "remote:r")}


def test_a_dvc_yaml_change_alone_is_a_change(project: Path) -> None:
    """`cache: false` dropped by hand: dvc.lock is the same, the output now counts."""
    spec = "stages:\n  s:\n    cmd: x\n    outs:\n      - m.bin:\n          cache: false\n"
    first = commit(project, {"dvc.yaml": spec, "dvc.lock": lock(("s", "m.bin", MD5))})
    assert outs(project, None, first) == set()
    second = commit(project, {"dvc.yaml": spec.replace("cache: false", "persist: true")})
    assert outs(project, first, second) == {("m.bin", MD5, "")}


def test_dvcignore_hides_pointers_as_in_dvc(project: Path) -> None:
    pointer = f"outs:\n- md5: {MD5}\n  size: 1\n  hash: md5\n  path: a\n"
    sha = commit(project, {"ignored/a.dvc": pointer, "kept/a.dvc": pointer,
                           ".dvcignore": "# a comment\nignored/\n"})
    assert outs(project, None, sha) == {("kept/a", MD5, "")}
