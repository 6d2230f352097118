"""import-url / update under faults and bad input: a cut download, an upstream that moves
during the update, unreachable and vanished upstreams, hostile URLs and records, local
edits. Each refusal is one line, a non-zero exit, and nothing changed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import Team, User, run, store_objects, tree_digest
from tests.e2e.test_imports import noise, rclone_log, rsync_wrapper


def snapshot(user: User, rel: str = "data/ds") -> tuple[dict[str, str], bytes, set[str]]:
    """What must not move on a refusal: the workspace bytes, the .dvc file, the cache."""
    dvcfile = user.repo / f"{rel}.dvc"
    return (tree_digest(user.repo / rel) if (user.repo / rel).exists() else {},
            dvcfile.read_bytes() if dvcfile.exists() else b"",
            store_objects(user.repo / ".dvc" / "cache"))


def synced_env(user: User, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dvc_synced_plugin", *args], user.repo,
               {**user.env, **env}, check=False)


def one_line_error(out, code: int) -> str:  # type: ignore[no-untyped-def]
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("dvc-synced: error:"), out.stderr
    return lines[0]


def cutting_wrapper(bin_dir: Path, tool: str, log: Path) -> dict[str, str]:
    """`tool` first on PATH: the real one, slowed to 100 kB/s and SIGKILLed after 1.5 s."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    real = shutil.which(tool)
    extra = (f"--bwlimit=100 --log-file={log} '--log-file-format=%i %n'" if tool == "rsync"
             else "--bwlimit=100k")
    (bin_dir / tool).write_text(f"#!/bin/sh\nexec timeout -s KILL 1.5 {real} {extra} \"$@\"\n")
    (bin_dir / tool).chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.parametrize("transport", ["rsync", "rclone"])
def test_cut_download_changes_nothing_and_resumes(transport: str, team: Team,
                                                  tmp_path: Path) -> None:
    src = tmp_path / "src" / "ds"
    src.mkdir(parents=True)
    (src / "a.txt").write_text("a v1\n")
    log = tmp_path / "wire.log"
    plain = (rsync_wrapper(tmp_path / "bin", log) if transport == "rsync"
             else {"RCLONE_CONFIG": "/dev/null", **rclone_log(log)})
    alice = team.founder()
    alice.env.update(plain)
    alice.synced("import-url", str(src), "data/ds", "--transport", transport)
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "import")

    (src / "a.txt").write_text("a v2, longer\n")
    (src / "b new.txt").write_text("b\n")
    (src / "z big.bin").write_bytes(noise("z", 400_000))  # ~4 s at 100 kB/s: cut at 1.5 s
    before = snapshot(alice)
    cut = cutting_wrapper(tmp_path / "cut-bin", transport, log)
    out = synced_env(alice, cut, "update")
    line = one_line_error(out, 1)
    assert "killed by signal 9" in line or "did not arrive whole" in line, line
    assert snapshot(alice) == before  # workspace, .dvc file and cache as they were
    assert alice.git("status", "--porcelain").stdout == ""
    staged = (alice.repo / ".dvc" / "tmp" / "dvc-synced-imports").rglob("z big.bin")
    assert all(p.stat().st_size < 400_000 for p in staged)  # the cut file is not whole

    log.write_text("")
    out = alice.synced("update", "--commit")
    assert "2 changed" not in out.stdout and "1 changed, 2 added" in out.stdout, out.stdout
    wire = log.read_text(errors="replace")
    if transport == "rsync":
        sent = [ln.split(" ", 4)[-1] for ln in wire.splitlines() if "] >f" in ln]
    else:
        sent = [ln.split(": ")[1] for ln in wire.splitlines() if "Copied (" in ln]
    assert sent == ["z big.bin"], wire  # what arrived whole before the cut is not fetched
    assert tree_digest(alice.repo / "data" / "ds") == tree_digest(src)


def test_upstream_moving_during_update_is_refused(team: Team, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("one\n")
    alice = team.founder()
    alice.synced("import-url", str(src), "data/ds")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "import")
    (src / "a.txt").write_text("two!\n")
    # An rsync that lets the download through, then the upstream changes again.
    bin_dir = tmp_path / "mutating"
    bin_dir.mkdir()
    (bin_dir / "rsync").write_text(
        f"#!/bin/sh\n{shutil.which('rsync')} \"$@\" || exit $?\n"
        f"case \"$*\" in *files-from*) echo late >> {src / 'late.txt'};; esac\n")
    (bin_dir / "rsync").chmod(0o755)
    before = snapshot(alice)
    out = synced_env(alice, {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, "update")
    line = one_line_error(out, 1)
    assert "changed during the download" in line and "late.txt" in line, line
    assert snapshot(alice) == before
    out = alice.synced("update")  # quiet now: goes through, with the late file
    assert "1 changed, 1 added" in out.stdout, out.stdout
    assert tree_digest(alice.repo / "data" / "ds") == tree_digest(src)


@pytest.mark.parametrize("transport", ["rsync", "rclone"])
def test_single_file_upstream(transport: str, team: Team, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "table v1.csv").write_text("a,b\n1,2\n")
    alice = team.founder()
    alice.env["RCLONE_CONFIG"] = "/dev/null"
    out = alice.synced("import-url", str(src / "table v1.csv"), "--transport", transport)
    assert (alice.repo / "table v1.csv").read_text() == "a,b\n1,2\n", out
    (src / "table v1.csv").write_text("a,b\n1,2\n3,4\n")
    out = alice.synced("update", "--commit", "table v1.csv")
    assert "1 changed, 0 added, 0 removed" in out.stdout, out.stdout
    assert (alice.repo / "table v1.csv").read_text() == "a,b\n1,2\n3,4\n"
    assert "up to date" in alice.dvc("status").stdout


def test_bad_input(team: Team, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("one\n")
    alice = team.founder()

    # Refused before anything is written: rclone option overrides (both transports' parsers),
    # an upstream in the workspace or on central, an unreachable host, a taken PATH.
    cases = [
        (["import-url", "up,type=local:/etc", "x", "--transport", "rclone"], 2,
         "not a plain remote name"),
        (["import-url", "up,type=local:/etc", "x"], 2, "up,type=local"),
        (["import-url", str(alice.repo / "sub"), "x"], 2, "inside this workspace"),
        (["import-url", team.central, "x"], 2, "is the central storage"),
        (["import-url", f"{team.central}/files", "x"], 2, "is the central storage"),
        (["import-url", "ssh://root@127.0.0.1:1/srv/x", "x"], 1, "cannot reach the upstream"),
        (["import-url", str(tmp_path / "nowhere"), "x"], 1, "does not exist"),
        (["import-url", str(src), ".dvc/x"], 2, "cannot hold imported data"),
    ]
    (alice.repo / "sub").mkdir()
    for args, code, text in cases:
        out = alice.synced(*args, check=False)
        assert text in one_line_error(out, code), (args, out.stderr)
        assert not (alice.repo / "x").exists() and not (alice.repo / "x.dvc").exists()
    alice.write("taken/f", "mine\n")
    out = alice.synced("import-url", str(src), "taken", check=False)
    assert "already exists" in one_line_error(out, 2)
    assert (alice.repo / "taken" / "f").read_text() == "mine\n"

    alice.synced("import-url", str(src), "data/ds")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "import")

    # Local edits are never overwritten; `dvc add` keeps them (and our record).
    (src / "a.txt").write_text("upstream two\n")
    (alice.repo / "data" / "ds" / "a.txt").write_text("my edit\n")
    before = snapshot(alice)
    out = alice.synced("update", check=False)
    line = one_line_error(out, 1)
    assert "local edits" in line and "dvc add data/ds" in line and "dvc checkout" in line
    assert snapshot(alice) == before
    alice.dvc("add", "-q", "data/ds")
    assert "dvc-synced-import" in yaml.safe_load(
        (alice.repo / "data" / "ds.dvc").read_text())["meta"]
    out = alice.synced("update", "--check", check=False)
    assert out.returncode == 1 and "1 changed" in out.stdout, out.stdout
    alice.dvc("checkout", "-q", "-f", "data/ds")

    # A PATH whose .dvc file has no record; a broken record; a vanished upstream.
    alice.write("plain/f", "plain\n")
    alice.dvc("add", "-q", "plain")
    out = alice.synced("update", "plain", check=False)
    assert "has no upstream record" in one_line_error(out, 2)
    dvcfile = alice.repo / "data" / "ds.dvc"
    good = dvcfile.read_text()
    for broken in ("files: 3", "files: {'a.txt': [1, '1']}", "files: '1 1 - ../../etc/passwd'",
                   "files: 'big 1 - a.txt'", "files: '1 1 sha1:00 a.txt'",
                   "files: \"1 1 - a.txt\\n1 2 - a.txt\"", "transport: scp", "url: 7"):
        data = yaml.safe_load(good)
        data["meta"]["dvc-synced-import"].update(yaml.safe_load(broken))
        dvcfile.write_text(yaml.safe_dump(data))
        commands = [["update", "--check"]] + ([["update"], ["status", "--upstream"]]
                                              if broken == "files: 3" else [])
        for args in commands:
            out = alice.synced(*args, check=False)
            if args[0] == "status":
                assert "not checked (the upstream record" in out.stdout, out.stdout
            else:
                assert "record in ds.dvc is broken" in one_line_error(out, 2)
    dvcfile.write_text("outs: [unclosed\n")
    assert "not valid YAML" in one_line_error(alice.synced("update", "data/ds", check=False), 2)
    dvcfile.write_text(good)
    shutil.rmtree(src)
    before = snapshot(alice)
    for args in (["update"], ["update", "--check"]):
        out = alice.synced(*args, check=False)
        assert "does not exist" in one_line_error(out, 1), out.stderr
    assert snapshot(alice) == before


def test_a_file_takes_a_removed_folders_name(team: Team, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "x").mkdir(parents=True)
    (src / "x" / "y.txt").write_text("in a folder\n")
    (src / "keep.txt").write_text("keep\n")
    alice = team.founder()
    alice.synced("import-url", str(src), "ds")
    shutil.rmtree(src / "x")
    (src / "x").write_text("now a file\n")
    out = alice.synced("update")
    assert "0 changed, 1 added, 1 removed" in out.stdout, out.stdout
    assert tree_digest(alice.repo / "ds") == tree_digest(src)
    assert "up to date" in alice.dvc("status").stdout


def test_upstream_names_that_would_reach_git_or_dvc_are_refused(team: Team,
                                                                tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub" / ".git" / "hooks").mkdir(parents=True)
    (src / "sub" / ".git" / "hooks" / "post-merge").write_text("#!/bin/sh\necho owned\n")
    alice = team.founder()
    for transport in ("rsync", "rclone"):
        out = synced_env(alice, {"RCLONE_CONFIG": "/dev/null"}, "import-url", str(src), "ds",
                         "--transport", transport)
        assert "not a plain relative path" in one_line_error(out, 1), out.stderr
        assert not (alice.repo / "ds").exists() and not (alice.repo / "ds.dvc").exists()
