"""A non-file where an object belongs on central (issue #20, case 4).

A directory or a dangling symlink at an object's path is no object: DVC reads no data
there. rsync's `--ignore-existing` skipped such a name and exited 0, so `git push`
reported the object uploaded and let the commit through. Now every object a push relies
on is a regular file of the right size on central, uploaded now or found there; anything
else refuses the push in one line naming the path and the fix, the git remote does not
move, and the thing on central is left as it is (nothing there is ever replaced).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Sshd, Team, User
from tests.faults.support import commit, md5, object_path, server_ref, track


def refused(user: User, path: str) -> str:
    before = server_ref(user)
    proc = user.git("push", "origin", "main", check=False)
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if "push refused:" in ln]
    assert path in line and "storage's admin" in line, line
    assert server_ref(user) == before
    return line


def make_team(tmp_path: Path, kind: str, sshd: Sshd | None) -> Team:
    central = tmp_path / "central"
    central.mkdir()
    if kind == "ssh":
        assert sshd is not None
        return Team(tmp_path, f"dvc-server:{central}",
                    extra_env={"DVC_SYNCED_SSH_COMMAND": sshd.ssh_command()})
    return Team(tmp_path, str(central), transport="rclone" if kind == "rclone" else "rsync")


@pytest.mark.parametrize("kind", ["rsync", "ssh", "rclone"])
def test_directory_or_symlink_at_an_object_path_refuses_the_push(
        tmp_path: Path, kind: str, request: pytest.FixtureRequest) -> None:
    sshd = request.getfixturevalue("sshd") if kind == "ssh" else None
    team = make_team(tmp_path, kind, sshd)
    central = tmp_path / "central"
    alice = team.founder("alice")
    alice.synced("install")

    data = b"the model\n"
    track(alice, {"model.bin": data})
    commit(alice, "model")
    # The object is in the local storage already (a plain `dvc push` to it, as after a
    # pull or an earlier refused push): the push asks central first.
    alice.dvc("push", "-q", "-r", "synced-storage")
    assert (alice.local_storage() / object_path(md5(data))).is_file()
    blocked = central / object_path(md5(data))
    blocked.mkdir(parents=True)  # a directory where the object belongs
    (blocked / "keep").write_text("someone's\n")
    line = refused(alice, object_path(md5(data)))
    assert "a directory" in line, line
    assert (blocked / "keep").read_text() == "someone's\n"  # never touched

    # A dangling symlink there instead (by the storage's admin).
    (blocked / "keep").unlink()
    blocked.rmdir()
    os.symlink(tmp_path / "nowhere", blocked)
    line = refused(alice, object_path(md5(data)))
    assert "symlink" in line, line
    assert os.readlink(blocked) == str(tmp_path / "nowhere")

    # A new object, only in the cache (rsync uploads first and names what it skipped).
    other = b"other\n"
    track(alice, {"other.bin": other})
    commit(alice, "other")
    (central / object_path(md5(other))).mkdir(parents=True)
    line = refused(alice, object_path(md5(other)))
    assert "a directory" in line, line
    (central / object_path(md5(other))).rmdir()

    # A directory output whose manifest path is blocked: no manifest goes up.
    alice.write("data/a.txt", "a\n")
    alice.dvc("add", "-q", "data")
    commit(alice, "data")
    manifest = next(p for p in (alice.repo / ".dvc" / "cache").rglob("*.dir"))
    rel = manifest.relative_to(alice.repo / ".dvc" / "cache").as_posix()
    blocked.unlink()  # the model's path is clear now
    (central / rel).mkdir(parents=True)
    refused(alice, rel)
    assert (central / rel).is_dir()

    # Once the admin clears the path, the same push goes through, and every object is a
    # regular file of the right size.
    (central / rel).rmdir()
    alice.git("push", "-q", "origin", "main")
    for path in (blocked, central / rel, central / object_path(md5(other))):
        assert path.is_file() and not path.is_symlink()
    assert blocked.read_bytes() == data
