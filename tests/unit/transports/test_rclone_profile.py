"""rclone per backend (#23 item 1): what is chosen from the remote's type, and that every
setting the user made wins."""

from __future__ import annotations

from pathlib import Path

from dvc_synced_plugin.transports.rclone_profile import choose, remote_settings


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(tmp_path), "PATH": "/nonexistent", **extra}


def test_sftp_asks_no_server_side_hash_and_fewer_connections(tmp_path: Path) -> None:
    env = env_for(tmp_path, RCLONE_CONFIG="/dev/null", RCLONE_CONFIG_BOX1_TYPE="sftp",
                  RCLONE_CONFIG_BOX1_HOST="h")
    p = choose("box1:/srv/dvc", 4, False, env)
    assert p.type == "sftp" and p.whole_uploads is False
    assert p.args() == ["--transfers=4", "--checkers=4", "--sftp-md5sum-command=none",
                        "--sftp-sha1sum-command=none", "--sftp-shell-type=none"]


def test_sftp_shell_type_none_only_when_no_remote_command_is_left(tmp_path: Path) -> None:
    """rclone opens a session per sftp Fs to detect the shell unless shell_type is set;
    "none" is set for the user only when no hash command of theirs needs a shell."""
    conf = tmp_path / "rclone.conf"
    env = env_for(tmp_path, RCLONE_CONFIG=str(conf))
    conf.write_text("[box1]\ntype = sftp\nmd5sum_command = none\nsha1sum_command = None\n")
    assert choose("box1:/srv", 4, False, env).flags == ("--sftp-shell-type=none",)
    conf.write_text("[box1]\ntype = sftp\nmd5sum_command = md5sum\n")  # needs the shell
    assert "--sftp-shell-type=none" not in choose("box1:/srv", 4, False, env).flags
    conf.write_text("[box1]\ntype = sftp\nshell_type = unix\n")  # the user's (or rclone's)
    assert choose("box1:/srv", 4, False, env).flags == (
        "--sftp-md5sum-command=none", "--sftp-sha1sum-command=none")
    conf.write_text("[box1]\ntype = sftp\n")
    for var in ("RCLONE_SFTP_SHELL_TYPE", "RCLONE_CONFIG_BOX1_SHELL_TYPE"):
        assert "--sftp-shell-type=none" not in choose(
            "box1:/srv", 4, False, {**env, var: "unix"}).flags
    assert "--sftp-shell-type=none" not in choose(
        "box1:/srv", 4, False, {**env, "RCLONE_SFTP_MD5SUM_COMMAND": "md5 -r"}).flags


def test_the_users_own_settings_win(tmp_path: Path) -> None:
    conf = tmp_path / "rclone.conf"
    conf.write_text("[box1]\ntype = sftp\nhost = h\nmd5sum_command = md5sum\n\n"
                    "[other]\ntype = s3\n")
    env = env_for(tmp_path, RCLONE_CONFIG=str(conf))
    p = choose("box1:/srv", 4, False, env)
    assert p.flags == ("--sftp-sha1sum-command=none",)  # md5sum_command is the user's
    # A backend variable and the config variable of the remote count as the user's too.
    p = choose("box1:/srv", 4, False, {**env, "RCLONE_SFTP_SHA1SUM_COMMAND": "sha1sum"})
    assert p.flags == ()
    p = choose("box1:/srv", 4, False, {**env, "RCLONE_CONFIG_BOX1_SHA1SUM_COMMAND": "x"})
    assert p.flags == ()
    # Global flags: RCLONE_TRANSFERS/CHECKERS are left to rclone, unless dvc-synced.jobs
    # was set (then it decides the transfers).
    s3 = choose("other:bucket", 4, False, {**env, "RCLONE_TRANSFERS": "2",
                                           "RCLONE_CHECKERS": "3", "RCLONE_FAST_LIST": "false"})
    assert s3.transfers is None and s3.checkers is None and not s3.fast_list
    assert choose("other:bucket", 6, True, {**env, "RCLONE_TRANSFERS": "2"}).transfers == 6


def test_object_stores_and_whole_upload_apis(tmp_path: Path) -> None:
    env = env_for(tmp_path, RCLONE_CONFIG="/dev/null", RCLONE_CONFIG_B_TYPE="s3",
                  RCLONE_CONFIG_D_TYPE="dropbox", RCLONE_CONFIG_W_TYPE="webdav")
    s3 = choose("b:bucket/dvc", 4, False, env)
    assert s3.whole_uploads and s3.fast_list and s3.transfers == 16 and s3.checkers == 32
    assert "--s3-no-check-bucket" in s3.args()
    assert "--s3-no-check-bucket" not in s3.args(creating=True)  # init --create: mkdir
    assert choose("b:bucket", 4, True, env).transfers == 4  # dvc-synced.jobs was set
    assert choose("d:x", 4, False, env).whole_uploads is True
    dav = choose("w:x", 4, False, env)  # may write in place: rclone's features decide
    assert dav.whole_uploads is None and dav.args() == ["--transfers=4", "--checkers=8"]
    assert choose(str(tmp_path), 4, False, env).whole_uploads is False  # a local path


def test_unreadable_config_sets_no_backend_option(tmp_path: Path) -> None:
    conf = tmp_path / "rclone.conf"
    conf.write_text("# Encrypted rclone configuration File\n\nRCLONE_ENCRYPT_V0:\nabc\n")
    env = env_for(tmp_path, RCLONE_CONFIG=str(conf))
    assert remote_settings("box1", env) is None
    assert choose("box1:/srv", 4, False, env).flags == ()
    # The default search order: $XDG_CONFIG_HOME/rclone/rclone.conf, then ~/.rclone.conf.
    (tmp_path / ".rclone.conf").write_text("[box1]\ntype = sftp\n")
    assert remote_settings("box1", env_for(tmp_path)) == {"type": "sftp"}


def test_no_more_slots_than_objects(tmp_path: Path) -> None:
    env = env_for(tmp_path, RCLONE_CONFIG="/dev/null", RCLONE_CONFIG_BOX1_TYPE="sftp")
    p = choose("box1:/srv", 4, False, env)
    assert p.args(objects=1)[:2] == ["--transfers=1", "--checkers=1"]  # one manifest
    assert p.args(objects=300)[:2] == ["--transfers=4", "--checkers=4"]
    # The renames out of the scratch dir: two slots, one checker for both.
    assert p.args(objects=300, moving=True)[:2] == ["--transfers=2", "--checkers=1"]
    assert p.args(objects=1, moving=True)[:2] == ["--transfers=1", "--checkers=1"]
    # RCLONE_CHECKERS is the user's: not passed, moving or not.
    mine = choose("box1:/srv", 4, False, {**env, "RCLONE_CHECKERS": "8"})
    assert not [a for a in mine.args(objects=300, moving=True) if a.startswith("--checkers")]
