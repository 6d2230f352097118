"""The counting wrappers the benchmarks and round-trip tests read their figures from."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests import counting


def test_ssh_wrapper_logs_and_runs_the_real_program(tmp_path: Path) -> None:
    log = tmp_path / "log"
    # `echo` stands in for ssh: the wrapper must pass every argument through untouched.
    command = counting.ssh_wrapper(tmp_path / "bin", log, ["echo", "real"])
    out = subprocess.run([command, "-o", "ControlMaster=no", "host", "a b"],
                         capture_output=True, text=True, check=True).stdout
    assert out == "real -o ControlMaster=no host a b\n"
    assert counting.take(log) == counting.Counts(sessions=1)
    assert counting.read(log) == counting.Counts()


def test_classifies_master_control_and_plain_calls(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text(
        "ssh -o ControlPath=/t/cm -o ControlMaster=yes -o ControlPersist=60 -f -N -- h\n"
        "ssh -o ControlPath=/t/cm -o ControlMaster=no h rsync --server\n"
        "ssh -o ControlPath=/t/cm -o ControlMaster=no h rsync --server\n"
        "ssh -o ControlPath=/t/cm -O exit -- h\n"
        "ssh h true\n"
        "rclone copy a b\n"
    )
    assert counting.read(log) == counting.Counts(connections=2, sessions=3, controls=1,
                                                 rclone=1)


def test_rclone_wrapper_shadows_rclone_on_path(tmp_path: Path) -> None:
    log = tmp_path / "log"
    directory = counting.rclone_wrapper(tmp_path / "bin", log)
    out = subprocess.run([str(directory / "rclone"), "version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("rclone v")
    assert counting.read(log).rclone == 1
