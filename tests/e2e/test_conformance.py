"""Conformance corpus: DVC is the oracle, one small project per group of DVC features.

For each commit of each project, with hooks installed by `dvc-synced install`:
(a) central after `git push` holds exactly the objects a plain `dvc push` of that commit
    sends to an empty local remote (cumulatively), less what DVC routes elsewhere (its
    own `remote:`, imports, `push: false`): DVC's push with an explicit remote leaves
    those out by itself;
(b) bob's workspace after `git pull` equals a fresh clone that ran plain `dvc pull` from
    central: files, bytes, exec bits, directories, and the same `dvc status` (clean where
    DVC's own pull can get everything).
Features are grouped by project to keep CI cost bounded (each project is a git server,
two clones and DVC's oracle runs).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Team, User, run, store_objects
from tests.e2e.test_differential import differences, dvc_env, dvc_status, oracle_pull, snapshot

Steps = Callable[[User, Path], Iterator[str]]


def commit(user: User, msg: str) -> str:
    user.git("add", "-A")
    user.git("commit", "-q", "-m", msg)
    return msg


def write(user: User, files: dict[str, str]) -> None:
    for rel, text in files.items():
        user.write(rel, text)


# ------------------------------------------------------------------------------ projects


def templating(alice: User, tmp: Path) -> Iterator[str]:
    """vars (a params file and inline), ${...} interpolation, foreach, matrix."""
    write(alice, {
        "params.yaml": "model: {name: model.bin, size: 3}\n",
        "dvc.yaml": (
            "vars:\n  - params.yaml\n  - out_dir: results\nstages:\n"
            "  train:\n    cmd: mkdir -p ${out_dir} && printf 'w%.0s' $(seq ${model.size}) "
            "> ${model.name} && echo 1 > ${out_dir}/score.json\n"
            "    params: [model.size]\n    outs: [\"${model.name}\"]\n"
            "    metrics:\n      - ${out_dir}/score.json:\n          cache: false\n"
            "  each:\n    foreach: [a, b]\n    do:\n      cmd: echo ${item}-${model.size} > "
            "${item}.txt\n      outs: [\"${item}.txt\"]\n"
            "  grid:\n    matrix:\n      x: [1, 2]\n      y: [p, q]\n"
            "    cmd: mkdir -p g && echo ${item.x}${item.y}${model.size} > g/${item.x}${item.y}\n"
            "    outs: [\"g/${item.x}${item.y}\"]\n"),
    })
    alice.dvc("repro", "-q")
    yield commit(alice, "templated pipeline")
    write(alice, {"params.yaml": "model: {name: model.bin, size: 5}\n"})
    alice.dvc("repro", "-q")
    yield commit(alice, "new params")


def places(alice: User, tmp: Path) -> Iterator[str]:
    """wdir (a stage and a .dvc file), dvc.yaml in a subdirectory, .dvcignore."""
    write(alice, {
        "input.txt": "in 1\n",
        "pipe/dvc.yaml": ("stages:\n  fit:\n    wdir: work\n    cmd: mkdir -p out && "
                          "cp ../../input.txt out/model.txt\n    deps: [../../input.txt]\n"
                          "    outs: [out]\n"),
        "pipe/work/.keep": "",
        "top.txt": "top 1\n",
        "ignored/x.txt": "ignored 1\n",
        "keep/a.txt": "keep a\n",
        "keep/skip.tmp": "not tracked\n",
        ".dvcignore": "# patterns\nignored/\n*.tmp\n",
    })
    alice.dvc("add", "-q", "top.txt", "keep")
    (alice.repo / "meta").mkdir()
    text = (alice.repo / "top.txt.dvc").read_text()
    (alice.repo / "meta" / "top.dvc").write_text("wdir: ..\n" + text)
    (alice.repo / "top.txt.dvc").unlink()
    # A pointer DVC never sees: .dvcignore hides its directory.
    (alice.repo / "ignored" / "x.txt.dvc").write_text(
        "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  size: 3\n  hash: md5\n"
        "  path: x.txt\n")
    alice.dvc("repro", "-q", "pipe/dvc.yaml")
    yield commit(alice, "wdir, subdirectory pipeline, dvcignore")
    write(alice, {"input.txt": "in 2\n", "top.txt": "top 2\n", "keep/b.txt": "keep b\n"})
    alice.dvc("repro", "-q", "pipe/dvc.yaml")
    alice.dvc("commit", "-q", "-f", "meta/top.dvc", "keep.dvc")
    yield commit(alice, "v2")


def flags(alice: User, tmp: Path) -> Iterator[str]:
    """cache: false, persist, push: false, metrics/plots/params outputs, a frozen stage."""
    write(alice, {
        "params.yaml": "lr: 0.1\n",
        "dvc.yaml": (
            "stages:\n  train:\n    cmd: echo m-${lr} > model.bin && echo 1 > "
            "m.json && printf 'x,y\\n1,2\\n' > p.csv && echo log >> run.log && "
            "echo private > private.bin && echo p > plot.csv\n"
            "    params: [lr]\n"
            "    outs:\n      - model.bin\n      - run.log:\n          persist: true\n"
            "      - private.bin:\n          push: false\n"
            "    metrics:\n      - m.json:\n          cache: false\n"
            "    plots:\n      - p.csv:\n          cache: false\n      - plot.csv\n"
            "  frozen:\n    cmd: echo frozen > frozen.txt\n    outs: [frozen.txt]\n"),
    })
    alice.dvc("repro", "-q")
    alice.dvc("freeze", "-q", "frozen")
    yield commit(alice, "flags")
    write(alice, {"params.yaml": "lr: 0.2\n"})
    alice.dvc("repro", "-q", "train")
    yield commit(alice, "lr 0.2")


def own_remote(alice: User, tmp: Path) -> Iterator[str]:
    """Per-output `remote:` in a .dvc file and in dvc.yaml."""
    secure = tmp / "secure"
    secure.mkdir()
    alice.dvc("remote", "add", "secure", str(secure))
    write(alice, {"records.csv": "id\n1\n", "public.csv": "p\n1\n", "dvc.yaml": (
        "stages:\n  report:\n    cmd: cp records.csv report.csv\n    deps: [records.csv]\n"
        "    outs:\n      - report.csv:\n          remote: secure\n")})
    alice.dvc("add", "-q", "records.csv", "public.csv")
    text = (alice.repo / "records.csv.dvc").read_text()
    (alice.repo / "records.csv.dvc").write_text(text.replace("  path:", "  remote: secure\n"
                                                             "  path:"))
    alice.dvc("repro", "-q")
    yield commit(alice, "own remote")
    write(alice, {"records.csv": "id\n2\n"})
    alice.dvc("commit", "-q", "-f", "records.csv.dvc")
    alice.dvc("repro", "-q")
    yield commit(alice, "records v2")


def imports(alice: User, tmp: Path) -> Iterator[str]:
    """`dvc import` from a local DVC repository, `dvc import-url` of a local file."""
    src = tmp / "source"
    src.mkdir()
    run(["git", "init", "-q", "-b", "main"], src, alice.env)
    alice.run(sys.executable, "-m", "dvc", "init", "-q", cwd=src)
    (src / "shared.txt").write_text("shared 1\n")
    alice.run(sys.executable, "-m", "dvc", "add", "-q", "shared.txt", cwd=src)
    run(["git", "add", "-A"], src, alice.env)
    run(["git", "commit", "-q", "-m", "source"], src, alice.env)
    outside = tmp / "outside.csv"
    outside.write_text("u\n1\n")
    alice.dvc("import", "-q", str(src), "shared.txt", "-o", "shared.txt")
    alice.dvc("import-url", "-q", str(outside), "outside.csv")
    yield commit(alice, "imports")
    outside.write_text("u\n2\n")
    alice.dvc("update", "-q", "outside.csv.dvc")
    yield commit(alice, "import-url updated")


def files(alice: User, tmp: Path) -> Iterator[str]:
    """Several outputs in one .dvc file; legacy 2.x entries (md5 without `hash: md5`)."""
    write(alice, {"a.txt": "a 1\n", "d/x.txt": "x 1\n", "d/y/z.txt": "z 1\n",
                  "old.txt": "legacy 1\n",
                  "dvc.yaml": "stages:\n  old:\n    cmd: echo legacy-out > lout.txt\n"
                              "    outs: [lout.txt]\n"})
    alice.dvc("add", "-q", "a.txt", "d", "old.txt")
    outs = []
    for name in ("a.txt", "d"):
        text = (alice.repo / f"{name}.dvc").read_text()
        outs.append(text.split("outs:\n", 1)[1])
        (alice.repo / f"{name}.dvc").unlink()
    (alice.repo / "both.dvc").write_text("outs:\n" + "".join(outs))
    alice.dvc("repro", "-q")
    _make_legacy(alice, ["old.txt.dvc", "dvc.lock"])
    yield commit(alice, "several outputs, legacy entries")
    write(alice, {"a.txt": "a 2\n", "d/x.txt": "x 2\n"})
    alice.dvc("commit", "-q", "-f", "both.dvc")
    yield commit(alice, "both v2")


def _make_legacy(user: User, pointers: list[str]) -> None:
    """Rewrite entries as DVC 2.x wrote them, with the objects where 2.x kept them."""
    cache = user.repo / ".dvc" / "cache"
    for pointer in pointers:
        path = user.repo / pointer
        text = path.read_text()
        for line in text.splitlines():
            entry = line.strip().removeprefix("- ")
            md5 = entry.removeprefix("md5: ") if entry.startswith("md5: ") else ""
            if md5:
                legacy = cache / md5[:2] / md5[2:]
                legacy.parent.mkdir(parents=True, exist_ok=True)
                if not legacy.exists():
                    shutil.copy2(cache / "files" / "md5" / md5[:2] / md5[2:], legacy)
        path.write_text("\n".join(ln for ln in text.splitlines()
                                  if ln.strip() != "hash: md5") + "\n")


PROJECTS: dict[str, Steps] = {
    "templating": templating, "places": places, "flags": flags, "own_remote": own_remote,
    "imports": imports, "files": files,
}


# ------------------------------------------------------------------------------ the check


def oracle_push(repo_path: Path, remote: str, sha: str) -> None:
    from dvc.repo import Repo

    with Repo(str(repo_path)) as repo:
        repo.push(remote=remote, revs=[sha], workspace=False)


def status_of(repo: Path) -> dict:
    """`dvc status`, its stage addresses relative to the repository (not to the cwd)."""
    return {key.rsplit(f"/{repo.name}/", 1)[-1]: value
            for key, value in dvc_status(repo).items()}


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_conformance(team: Team, tmp_path: Path, name: str) -> None:
    alice = team.founder("alice")
    alice.synced("install")
    oracle_remote = tmp_path / "oracle-remote"
    oracle_remote.mkdir()
    alice.dvc("remote", "add", "--local", "oracle", str(oracle_remote))
    bob = team.user("bob")
    bob.synced("install")
    central = Path(team.central)
    problems: list[str] = []
    with dvc_env(tmp_path):
        for label in PROJECTS[name](alice, tmp_path):
            alice.git("push", "-q", "origin", "main")
            sha = alice.git("rev-parse", "HEAD").stdout.strip()
            oracle_push(alice.repo, "oracle", sha)
            ours, dvcs = store_objects(central), store_objects(oracle_remote)
            if ours != dvcs:
                problems.append(f"{label}: (a) central has {sorted(ours - dvcs)} beyond DVC's "
                                f"push, lacks {sorted(dvcs - ours)}")
            bob.git("pull", "-q")
            oracle = oracle_pull(bob, central, "", tmp_path / "oracle-bob")
            diffs = differences(snapshot(bob.repo), snapshot(oracle))
            got, want = status_of(bob.repo), status_of(oracle)
            if got != want:
                diffs.append(f"dvc status: bob {json.dumps(got)}, oracle {json.dumps(want)}")
            if name != "flags" and want:  # only push: false keeps DVC's own pull short
                diffs.append(f"dvc status of DVC's own pull is not clean: {want}")
            if diffs:
                problems.append(f"{label}: (b) " + "; ".join(diffs[:6]))
    assert not problems, f"{name}:\n" + "\n".join(problems)
    assert os.listdir(central)  # the project had data at all
