"""The server's side of a manifest sent as a delta (`rsync.delta_script`), run here by sh
with a stand-in for rsync: only a staged result that hashes to its name gets the name."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from dvc_synced_plugin.transports.rsync import BAD_MARK, DELTA_BAD_EXIT, HAD_MARK, delta_script


def rel_of(data: bytes) -> tuple[str, str]:
    md5 = hashlib.md5(data).hexdigest()
    return f"files/md5/{md5[:2]}/{md5[2:]}.dir", md5


def test_only_a_result_that_hashes_right_is_named(tmp_path: Path) -> None:
    central = tmp_path / "central"
    old, good, bad, there = b'[{"old": 1}]', b'[{"good": 2}]', b'[{"bad": 3}]', b'[{"there": 4}]'
    old_rel, _ = rel_of(old)
    (central / old_rel).parent.mkdir(parents=True)
    (central / old_rel).write_bytes(old)
    os.chmod(central / old_rel, 0o444)
    there_rel, there_md5 = rel_of(there)
    (central / there_rel).parent.mkdir(parents=True, exist_ok=True)
    (central / there_rel).write_bytes(b"a teammate's copy")  # never touched
    good_rel, good_md5 = rel_of(good)
    bad_rel, bad_md5 = rel_of(bad)
    stage = f"{central}/.dvc-synced/stage/t1"
    # The stand-in rsync checks that the basis is the old manifest under the new name,
    # then "receives": the good one right, the bad one corrupt (a broken delta result).
    fake = tmp_path / "bin" / "rsync"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        f'cmp -s "$S/basis/{good_rel}" {central / old_rel} || exit 9\n'
        f'for r in {good_rel} {bad_rel} {there_rel}; do mkdir -p "$S/in/$(dirname $r)"; done\n'
        f"printf '%s' '{good.decode()}' > \"$S/in/{good_rel}\"\n"
        f"printf '%s' 'corrupt' > \"$S/in/{bad_rel}\"\n"
        f"printf '%s' '{there.decode()}' > \"$S/in/{there_rel}\"\n"
    )
    fake.chmod(0o755)
    script = delta_script(str(central), stage, [(good_rel, old_rel, good_md5),
                                                (bad_rel, old_rel, bad_md5),
                                                (there_rel, None, there_md5)])
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    proc = subprocess.run(["sh", "-c", script.replace("S=", "export S; S=", 1), "sh"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == DELTA_BAD_EXIT, proc.stderr
    assert (central / good_rel).read_bytes() == good
    assert not (central / bad_rel).exists()  # never named
    assert f"{BAD_MARK}{bad_rel}" in proc.stderr
    assert f"{HAD_MARK}{there_rel}" in proc.stderr
    assert (central / there_rel).read_bytes() == b"a teammate's copy"
    assert (central / old_rel).read_bytes() == old  # the basis was only read
    assert os.stat(central / old_rel).st_nlink == 1
    assert not os.path.exists(stage)  # the stage is gone
