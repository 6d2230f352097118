"""Bad input: one line naming the fix, a non-zero exit, and nothing changed on either side.

One project is built once: `v1` is on central, `main` adds data that is only in alice's
DVC cache. Each test works on a fresh copy of alice's clone (same local storage, same
central) and asserts central, local storage, `.dvc/config*`, the team file and git's
view of the work tree are byte for byte as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
import yaml

from tests.conftest import (
    Sshd,
    Team,
    User,
    free_port,
    make_env,
    rclone_env,
    run,
    store_objects,
)

PWNED = "pwned"
HOSTILE = "a b;$(touch pwned);`touch pwned`'\"-x"


@dataclass
class Project:
    team: Team
    alice: User
    central: Path
    local: Path


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    base = tmp_path_factory.mktemp("bad")
    central = base / "central"
    central.mkdir()
    team = Team(base, str(central))
    alice = team.founder("alice")
    alice.write("data/a.txt", "a\n")
    alice.write("data/sub/b.bin", bytes(range(200)))
    alice.dvc("add", "-q", "data")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "v1")
    alice.git("tag", "v1")
    alice.synced("push")
    alice.git("push", "-q", "origin", "main", "v1")
    # main: new data only in the DVC cache, so a push that went ahead would change storages
    alice.write("data/c.txt", "c, not pushed\n")
    alice.write("model.bin", b"\0model" * 100)
    alice.dvc("add", "-q", "data", "model.bin")
    alice.git("add", "-A")
    alice.git("commit", "-q", "-m", "main: data not on central yet")
    assert store_objects(central)
    return Project(team, alice, central, alice.local_storage())


def snapshot(root: Path, scratch: bool = True) -> dict[str, str]:
    """Every file and directory below `root` with a digest; `scratch=False` leaves out our
    own `.dvc-synced/` (lock, staging) of a local storage."""
    result: dict[str, str] = {}
    if root.exists():
        result["."] = "dir"
        for p in root.rglob("*"):
            rel = p.relative_to(root)
            if not scratch and rel.parts[0] == ".dvc-synced":
                continue
            if p.is_file():
                result[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                result[str(rel)] = "dir"
    return result


@dataclass
class Clone:
    """A copy of alice's clone and the state every refused command must leave alone."""

    user: User
    project: Project

    def state(self) -> dict[str, object]:
        repo = self.user.repo
        files = {}
        for name in (".dvc/config", ".dvc/config.local", ".dvc-synced"):
            path = repo / name
            files[name] = path.read_bytes() if path.exists() else None
        git = run(["git", "status", "--porcelain", "--ignored", "-uall"], repo, self.user.env,
                  check=False)
        return {
            "central": snapshot(self.project.central),
            "local": snapshot(self.project.local, scratch=False),
            "files": files,
            "git": git.stdout,
        }

    def refused(self, *args: str, env: Optional[dict[str, str]] = None,
                cwd: Optional[Path] = None, words: tuple[str, ...] = ()) -> str:
        """Run dvc-synced, expect one error line naming a fix, and no change anywhere."""
        before = self.state()
        saved = dict(self.user.env)
        self.user.env.update(env or {})
        try:
            proc = self.user.run(sys.executable, "-m", "dvc_synced_plugin", *args, check=False,
                                 cwd=cwd)
        finally:
            self.user.env.clear()
            self.user.env.update(saved)
        assert_one_line_error(proc, words)
        after = self.state()
        for key, was in before.items():
            now = after[key]
            if isinstance(was, dict) and isinstance(now, dict):
                changed = {k for k in was.keys() | now.keys() if was.get(k) != now.get(k)}
                assert not changed, f"`{' '.join(args)}` changed {key}: {sorted(changed)}"
            assert now == was, f"`{' '.join(args)}` changed {key}"
        return proc.stderr.strip()

    def forget(self, data: bytes) -> None:
        """Drop an object of `main` (on no storage) from this clone's DVC cache."""
        oid = hashlib.md5(data).hexdigest()
        victim = self.user.repo / ".dvc" / "cache" / "files" / "md5" / oid[:2] / oid[2:]
        os.chmod(victim, 0o644)
        victim.unlink()


def assert_one_line_error(proc, words: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode != 0, proc
    assert len(lines) == 1 and lines[0].startswith("dvc-synced: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture
def clone(project: Project, tmp_path: Path) -> Clone:
    repo = tmp_path / "repo"
    shutil.copytree(project.alice.repo, repo, symlinks=True)
    user = User("alice-copy", project.alice.home, repo, dict(project.alice.env))
    return Clone(user, project)


def no_pwned(*roots: Path) -> None:
    for root in roots:
        assert not list(root.rglob(PWNED)), f"a shell ran a command from a URL below {root}"


# ------------------------------------------------------------------------- repository


def test_not_a_git_repository(clone: Clone, tmp_path: Path) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    for cmd in (["push"], ["pull"], ["status"], ["verify"], ["init", "--central", "/x"]):
        clone.refused(*cmd, cwd=outside, words=("not inside a git work tree", "clone"))
    assert not list(outside.iterdir())


def test_git_repository_without_dvc(clone: Clone, tmp_path: Path) -> None:
    repo = tmp_path / "nodvc"
    run(["git", "init", "-q", str(repo)], tmp_path)
    run(["git", "commit", "-q", "--allow-empty", "-m", "first"], repo, clone.user.env)
    env = {"DVC_SYNCED_CENTRAL": str(clone.project.central)}
    for cmd in (["push"], ["pull"], ["status"], ["init", "--central", "/x"]):
        clone.refused(*cmd, cwd=repo, env=env, words=("not a DVC repository", "dvc init"))
    assert sorted(p.name for p in repo.iterdir()) == [".git"]


def test_repository_without_commits(clone: Clone, tmp_path: Path) -> None:
    repo = tmp_path / "empty"
    run(["git", "init", "-q", str(repo)], tmp_path)
    user = User("empty", clone.user.home, repo, clone.user.env)
    user.dvc("init", "-q")
    user.synced("init", "--central", str(clone.project.central))
    for cmd in (["push"], ["pull"], ["status"]):
        clone.refused(*cmd, cwd=repo, words=("no commits yet", "commit"))
    clone.refused("verify", cwd=repo, words=("git remote 'origin'", "--rev"))


def test_no_settings(clone: Clone) -> None:
    os.unlink(clone.user.repo / ".dvc-synced")
    for cmd in ("push", "pull", "status", "verify"):
        clone.refused(cmd, words=("no central storage", "dvc-synced init --central"))


def test_unknown_rev(clone: Clone) -> None:
    for cmd in ("push", "pull", "status", "verify"):
        clone.refused(cmd, "--rev", "no-such-branch", words=("unknown revision", "no-such-branch"))
    # Something git would take as an option is a name, not an option.
    clone.refused("push", f"--rev=--output={clone.user.repo}/out", words=("unknown revision",))


# ------------------------------------------------------------------------- settings


def test_unknown_transport(clone: Clone) -> None:
    clone.refused("push", env={"DVC_SYNCED_TRANSPORT": "ftp"},
                  words=("unknown transport 'ftp'", "environment", "rsync or rclone"))
    run(["git", "config", "--file", ".dvc-synced", "dvc-synced.transport", "scp"],
        clone.user.repo)
    clone.refused("push", words=("unknown transport 'scp'", ".dvc-synced", "rsync or rclone"))


def test_malformed_team_file(clone: Clone) -> None:
    team_file = clone.user.repo / ".dvc-synced"
    team_file.write_text('[dvc-synced\n\tcentral = "unclosed\n')
    clone.refused("push", words=(".dvc-synced is malformed", "fix it"))
    team_file.write_text(f"[dvc-synced]\n\tcentral = {clone.project.central}\n\tcentrl = x\n")
    clone.refused("push", words=("unknown setting dvc-synced.centrl", "known are"))
    team_file.write_text(f"[dvc-synced]\n\tcentral = {clone.project.central}\n\tjobs = many\n")
    clone.refused("pull", words=("jobs", "positive whole number"))


def test_init_refuses_before_writing(clone: Clone) -> None:
    clone.refused("init", "--central=-oProxyCommand=touch pwned:/srv/x",
                  words=("invalid host",))
    clone.refused("init", "--central", "/srv/a\n/srv/b", words=("newline",))
    clone.refused("init", "--central", "/srv/x", "--remote=-rf",
                  words=("not a usable DVC remote name",))
    clone.refused("init", "--central=-remote:x", "--transport", "rclone",
                  words=("may not start with '-'",))
    no_pwned(clone.user.repo, clone.user.home)


def test_team_file_cannot_choose_a_command(clone: Clone, tmp_path: Path) -> None:
    """A committed file runs nothing: ssh-command there is refused, before any ssh runs."""
    marker = tmp_path / PWNED
    run(["git", "config", "--file", ".dvc-synced", "dvc-synced.central", "dvc-server:/srv/x"],
        clone.user.repo)
    run(["git", "config", "--file", ".dvc-synced", "dvc-synced.ssh-command",
         f"sh -c 'touch {marker}' --"], clone.user.repo)
    for cmd in ("push", "pull", "status"):
        clone.refused(cmd, words=("ssh-command may not be set in .dvc-synced",
                                  "git config dvc-synced.ssh-command"))
    assert not marker.exists()


def test_bad_values_in_environment(clone: Clone) -> None:
    clone.refused("push", env={"DVC_SYNCED_TIMEOUT": "0"}, words=("timeout",))
    clone.refused("push", env={"DVC_SYNCED_REMOTE": "-x"}, words=("not a usable DVC remote",))
    clone.refused("push", env={"DVC_SYNCED_CENTRAL": "/srv/a\n/srv/b"}, words=("newline",))
    clone.refused("push", env={"DVC_SYNCED_CENTRAL": "dvc-server:/x",
                               "DVC_SYNCED_SSH_COMMAND": 'ssh -o "unclosed'},
                  words=("ssh-command",))


# ------------------------------------------------------------------------- central


MODEL = b"\0model" * 100  # main's model.bin: only in alice's DVC cache


def test_local_central_missing(clone: Clone, tmp_path: Path) -> None:
    gone = tmp_path / "no" / "such" / "central"
    clone.forget(MODEL)  # so that pull needs central too
    for cmd in ("push", "pull", "status"):
        clone.refused(cmd, env={"DVC_SYNCED_CENTRAL": str(gone)},
                      words=(str(gone), "does not exist"))
    clone.refused("push", env={"DVC_SYNCED_CENTRAL": str(gone), "DVC_SYNCED_TRANSPORT": "rclone"},
                  words=(str(gone), "does not exist"))
    assert not (tmp_path / "no").exists()


def test_ssh_central_closed_port(clone: Clone, sshd: Sshd) -> None:
    port = free_port()  # nothing listens there
    clone.forget(MODEL)  # so that pull needs central too
    env = {"DVC_SYNCED_CENTRAL": f"ssh://127.0.0.1:{port}/srv/central",
           "DVC_SYNCED_SSH_COMMAND": sshd.ssh_command(),
           "DVC_SYNCED_TIMEOUT": "1"}  # refused is retried (retry.py) until the timeout
    for cmd in ("push", "pull", "status"):
        clone.refused(cmd, env=env, words=("cannot reach central", "ssh"))
    rclone = rclone_env("closed", {"type": "sftp", "host": "127.0.0.1", "port": str(port),
                                   "user": sshd.user, "key_file": str(sshd.client_key)})
    clone.refused("push", env={**rclone, "DVC_SYNCED_CENTRAL": "closed:/srv/central",
                               "DVC_SYNCED_TRANSPORT": "rclone", "DVC_SYNCED_TIMEOUT": "1"},
                  words=("connection refused", "rclone lsd"))


def test_tools_not_installed(clone: Clone, tmp_path: Path) -> None:
    """PATH holds git, ssh and the basics, not rsync nor rclone."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "ssh", "sh", "bash", "env", "cat", "ls", "uname"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    env = {"PATH": str(bin_dir)}
    clone.refused("push", env=env, words=("rsync is not installed", "apt-get install rsync"))
    clone.forget(MODEL)
    clone.refused("pull", env=env, words=("rsync is not installed",))
    clone.refused("push", env={**env, "DVC_SYNCED_TRANSPORT": "rclone"},
                  words=("rclone is not installed", "install"))
    # Without ssh (rsync is there) for an ssh central, and without git at all.
    (bin_dir / "ssh").unlink()
    (bin_dir / "rsync").symlink_to(shutil.which("rsync") or "/usr/bin/rsync")
    clone.refused("push", env={**env, "DVC_SYNCED_CENTRAL": "dvc-server:/srv/x"},
                  words=("ssh is not installed", "openssh-client"))
    (bin_dir / "git").unlink()
    for cmd in ("push", "pull", "status", "verify"):
        clone.refused(cmd, env=env, words=("git is not installed", "apt-get install git"))


def test_dvc_remote_not_a_local_directory(clone: Clone) -> None:
    clone.user.dvc("remote", "add", "--local", "team-s3", "s3://bucket/dvc")
    clone.user.dvc("remote", "add", "--local", "team-scp", "dvc-server:/srv/cache")
    clone.refused("push", env={"DVC_SYNCED_REMOTE": "team-s3"},
                  words=("team-s3", "not a local directory"))
    # DVC takes scp-style `host:path` for a relative local path; it is the seed's ssh remote.
    clone.refused("pull", env={"DVC_SYNCED_REMOTE": "team-scp"},
                  words=("team-scp", "host:path", "dvc remote modify --local team-scp url"))
    assert not list(clone.user.repo.glob("**/dvc-server:"))


def test_invalid_dvc_config(clone: Clone) -> None:
    with open(clone.user.repo / ".dvc" / "config", "a") as f:
        f.write("[core]\n    no_such_key = 1\n")
    for cmd in ("push", "pull", "status"):
        clone.refused(cmd, words=("DVC's config is invalid", "fix .dvc/config"))


def test_missing_object_names_the_tracked_file(clone: Clone) -> None:
    clone.forget(MODEL)
    err = clone.refused("push", words=("model.bin", "dvc commit"))
    assert "missing" in err
    clone.forget(b"c, not pushed\n")  # a file inside a tracked directory
    err = clone.refused("push", words=("data/c.txt", "model.bin", "dvc commit"))


# ------------------------------------------------------------------------- hostile names


def test_hostile_ssh_hosts_are_refused(clone: Clone, tmp_path: Path) -> None:
    for url in ("-oProxyCommand=touch pwned:/srv/x", "ssh://-oProxyCommand=touch%20pwned/srv",
                "host;touch pwned:/srv/x", "$(touch pwned):/srv/x"):
        clone.refused("push", env={"DVC_SYNCED_CENTRAL": url},
                      words=("central URL", "invalid host"))
    clone.refused("push", env={"DVC_SYNCED_CENTRAL": "-rem:path", "DVC_SYNCED_TRANSPORT": "rclone"},
                  words=("may not start with '-'",))
    no_pwned(tmp_path, clone.user.repo, clone.user.home)


@pytest.mark.parametrize("transport", ["rsync", "rsync-ssh", "rclone"])
def test_hostile_central_and_local_paths_work(
    project: Project, tmp_path: Path, transport: str, request: pytest.FixtureRequest
) -> None:
    """A central and a local storage named with spaces, quotes, `;`, `$()`, backticks and a
    leading `-` work like any other name, and no shell ever runs the command inside."""
    weird = tmp_path / "-x" / HOSTILE
    central = weird / "central"
    central.mkdir(parents=True)
    env = {"DVC_SYNCED_CENTRAL": str(central), "DVC_SYNCED_TRANSPORT": transport.split("-")[0],
           "DVC_SYNCED_LOCAL": str(weird / "local storage")}
    if transport == "rsync-ssh":
        sshd: Sshd = request.getfixturevalue("sshd")
        env["DVC_SYNCED_CENTRAL"] = f"{sshd.host_alias}:{central}"
        env["DVC_SYNCED_SSH_COMMAND"] = sshd.ssh_command()
    alice = project.alice
    alice_env = {**alice.env, "DVC_SYNCED_CENTRAL": env["DVC_SYNCED_CENTRAL"],
                 "DVC_SYNCED_TRANSPORT": env["DVC_SYNCED_TRANSPORT"],
                 "DVC_SYNCED_SSH_COMMAND": env.get("DVC_SYNCED_SSH_COMMAND", "ssh")}
    run([sys.executable, "-m", "dvc_synced_plugin", "push", "--rev", "v1"], alice.repo, alice_env)
    assert store_objects(central) == store_objects(project.central)

    home = tmp_path / "home-carol"
    home.mkdir()
    carol_env = make_env(home, env)
    repo = tmp_path / "carol"
    run(["git", "clone", "-q", "--branch", "v1", str(project.team.server), str(repo)], tmp_path,
        carol_env)
    out = run([sys.executable, "-m", "dvc_synced_plugin", "pull"], repo, carol_env)
    assert "downloaded" in out.stdout
    assert (repo / "data" / "a.txt").read_text() == "a\n"
    assert (repo / "data" / "sub" / "b.bin").read_bytes() == bytes(range(200))
    assert store_objects(weird / "local storage") == store_objects(central)
    no_pwned(tmp_path, alice.repo, alice.home, Path.cwd())


def test_status_of_incomplete_data_exits_1_and_changes_nothing(clone: Clone) -> None:
    """status is read-only: `main`'s data is only in the cache, then not even its manifest."""
    before = clone.state()
    out = clone.user.synced("status", "--json", check=False)
    report = json.loads(out.stdout)
    assert out.returncode == 1 and not report["complete"], out
    assert report["missing"]["central"]["objects"] == 3, report  # c.txt, model.bin, manifest
    assert report["missing"]["cache"]["objects"] == 0, report
    assert clone.state() == before
    manifest = yaml.safe_load((clone.user.repo / "data.dvc").read_text())["outs"][0]["md5"]
    victim = clone.user.repo / ".dvc" / "cache" / "files" / "md5" / manifest[:2] / manifest[2:]
    os.chmod(victim, 0o644)
    victim.unlink()
    before = clone.state()
    out = clone.user.synced("status", check=False)
    assert out.returncode == 1 and "manifest of data is on no storage" in out.stdout, out
    assert json.loads(clone.user.synced("status", "--json", check=False).stdout)[
        "unknown_dirs"] == ["data"]
    assert clone.state() == before
