"""Settings: precedence env > git config > team file > defaults, and refusals naming a fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dvc_synced_plugin import config
from dvc_synced_plugin.errors import ConfigError
from tests.conftest import GitRepo, run


@pytest.fixture
def repo(git_repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    """git config calls in config.load see only this repo's and its own HOME's settings."""
    for key in list(os.environ):
        if key.startswith(("GIT_", "DVC_SYNCED_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", git_repo.env["HOME"])
    monkeypatch.setenv("XDG_CONFIG_HOME", git_repo.env["XDG_CONFIG_HOME"])
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return git_repo


def team_file(repo: GitRepo, **values: str) -> None:
    for key, value in values.items():
        run(["git", "config", "--file", ".dvc-synced", f"dvc-synced.{key.replace('_', '-')}",
             value], repo.root)


def load(repo: GitRepo, **env: str) -> config.Settings:
    return config.load(repo.root, env={f"DVC_SYNCED_{k.upper()}": v for k, v in env.items()})


def test_defaults(repo: GitRepo) -> None:
    team_file(repo, central="dvc-server:/srv/project.cache")
    s = load(repo)
    assert (s.transport, s.remote, s.jobs, s.timeout, s.ssh_command) == (
        "rsync", "synced-storage", 4, 30, "ssh")
    assert s.sources == {"transport": "default", "remote": "default", "jobs": "default",
                         "timeout": "default", "central": ".dvc-synced",
                         "upload-on-commit": "default"}
    assert s.upload_on_commit is False
    home = Path(repo.env["HOME"])
    assert s.local.parent == home / ".cache" / "dvc-synced"
    assert s.local.name.startswith("project.cache-")


def test_precedence_env_over_git_config_over_team_file(repo: GitRepo) -> None:
    team_file(repo, central="/team", jobs="2", timeout="7", transport="rclone")
    repo.git("config", "dvc-synced.central", "/git-local")
    repo.git("config", "--global", "dvc-synced.jobs", "3")
    repo.git("config", "--global", "dvc-synced.timeout", "9")
    repo.git("config", "dvc-synced.timeout", "11")  # the repository's scope beats --global
    s = load(repo, jobs="5")
    assert (s.central, s.jobs, s.timeout, s.transport) == ("/git-local", 5, 11, "rclone")
    assert s.sources["central"] == "git config"
    assert s.sources["jobs"] == "environment"
    assert s.sources["transport"] == ".dvc-synced"
    assert load(repo, central="/env").central == "/env"


def test_ssh_command_only_from_git_config_or_environment(repo: GitRepo) -> None:
    team_file(repo, central="h:/x")
    repo.git("config", "dvc-synced.ssh-command", "ssh -F /my/config")
    assert load(repo).ssh_command == "ssh -F /my/config"
    assert load(repo, ssh_command="ssh -v").ssh_command == "ssh -v"
    team_file(repo, ssh_command="sh -c 'touch /tmp/pwned' --")
    with pytest.raises(ConfigError, match="may not be set in .dvc-synced"):
        load(repo, ssh_command="ssh")


def test_no_central(repo: GitRepo) -> None:
    with pytest.raises(ConfigError, match=r"dvc-synced init --central URL"):
        load(repo)
    team_file(repo, transport="rsync")
    with pytest.raises(ConfigError, match="no central storage"):
        load(repo, central="   ")


@pytest.mark.parametrize(("env", "message"), [
    ({"transport": "ftp"}, "unknown transport 'ftp' \\(environment\\): use rsync or rclone"),
    ({"jobs": "0"}, "jobs = '0' \\(environment\\) is not a positive whole number"),
    ({"timeout": "ten"}, "timeout = 'ten'"),
    ({"jobs": "-3"}, "positive whole number"),
    ({"remote": "-rf"}, "not a usable DVC remote name"),
    ({"remote": 'a"b'}, "not a usable DVC remote name"),
    ({"remote": "a]b"}, "not a usable DVC remote name"),
    ({"remote": ""}, "not a usable DVC remote name"),
    ({"central": "/a\n/b"}, "newline"),
    ({"central": "/a\0b"}, "newline"),
])
def test_bad_values(repo: GitRepo, env: dict[str, str], message: str) -> None:
    team_file(repo, central="/team")
    with pytest.raises(ConfigError, match=message):
        load(repo, **env)


def test_unknown_keys_name_their_layer(repo: GitRepo) -> None:
    team_file(repo, central="/team", centrl="/typo")
    with pytest.raises(ConfigError, match=r"dvc-synced.centrl in .dvc-synced: known are"):
        load(repo)
    (repo.root / ".dvc-synced").unlink()
    repo.git("config", "dvc-synced.remtoe", "x")
    with pytest.raises(ConfigError, match=r"dvc-synced.remtoe in git config"):
        load(repo, central="/x")


def test_malformed_team_file(repo: GitRepo) -> None:
    (repo.root / ".dvc-synced").write_text("[dvc-synced\ncentral = x\n")
    with pytest.raises(ConfigError, match=r"\.dvc-synced is malformed .*: fix it") as err:
        load(repo)
    assert "\n" not in str(err.value)


def test_team_file_includes_are_not_followed(repo: GitRepo, tmp_path: Path) -> None:
    """A committed file cannot pull settings from elsewhere on the machine."""
    other = tmp_path / "elsewhere"
    other.write_text("[dvc-synced]\n\tcentral = /from/include\n")
    team_file(repo, central="/team")
    run(["git", "config", "--file", ".dvc-synced", "include.path", str(other)], repo.root)
    assert load(repo).central == "/team"


def test_local_path_resolution(repo: GitRepo) -> None:
    team_file(repo, central="/srv/data", local="rel/storage")
    assert load(repo).local == repo.root / "rel" / "storage"
    assert load(repo, local="~/x").local == Path(repo.env["HOME"]) / "x"


def test_default_local_path_differs_per_central(tmp_path: Path) -> None:
    a = config.default_local_path(tmp_path, "dvc-server:/srv/project.cache")
    b = config.default_local_path(tmp_path, "other:/srv/project.cache")
    assert a != b and a.startswith("~/.cache/dvc-synced/project.cache-")
    assert config.default_local_path(tmp_path / "proj", "remote:").startswith(
        "~/.cache/dvc-synced/proj-")


def test_write_team_file_round_trips_awkward_values(repo: GitRepo) -> None:
    awkward = "/srv/a b;$(touch pwned)/\"q\"/'s'/#not-a-comment"
    config.write_team_file(repo.root, {"central": awkward, "transport": "rclone"})
    s = load(repo)
    assert (s.central, s.transport) == (awkward, "rclone")


def test_upload_on_commit_from_every_layer(repo: GitRepo) -> None:
    """The hook's light reader (`upload.enabled`) agrees with `config.load` in each layer."""
    from dvc_synced_plugin.hooks import upload

    def both(**env: str) -> tuple[bool, bool]:
        envs = {f"DVC_SYNCED_{k.upper()}": v for k, v in env.items()}
        return load(repo, **env).upload_on_commit, upload.enabled(repo.root, envs)

    team_file(repo, central="/team")
    assert both() == (False, False)
    team_file(repo, upload_on_commit="true")
    assert both() == (True, True)
    repo.git("config", "dvc-synced.upload-on-commit", "off")
    assert both() == (False, False)
    assert both(upload_on_commit="Yes") == (True, True)
    with pytest.raises(ConfigError, match=r"upload-on-commit = 'maybe' \(environment\) is not "
                       r"true or false"):
        load(repo, upload_on_commit="maybe")
    assert upload.enabled(repo.root, {"DVC_SYNCED_UPLOAD_ON_COMMIT": "maybe"}) is False


def test_fetch_patterns_from_every_layer(repo: GitRepo) -> None:
    """fetch-include/-exclude are keys like the others: team file, git config, environment
    (an empty value clears, as git-lfs's do), and a broken wildcard names its key."""
    team_file(repo, central="/srv/c", fetch_include="data, models/*.bin")
    run(["git", "config", "dvc-synced.fetch-exclude", "data/raw"], repo.root)
    s = load(repo)
    assert s.selection.include == ("data", "models/*.bin")
    assert s.selection.exclude == ("data/raw",)
    assert s.sources["fetch-include"] == ".dvc-synced"
    assert s.selection.selects("data/features") and not s.selection.selects("data/raw")
    cleared = load(repo, fetch_include="", fetch_exclude="")
    assert not cleared.selection.active and cleared.selection.selects("anything")
    with pytest.raises(ConfigError, match=r"fetch-exclude \(environment\).*unclosed"):
        load(repo, fetch_exclude="data/[ab")
