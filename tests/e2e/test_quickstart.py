"""A team's first day, exactly as the README says it (issue #22, "Done when").

The commands are taken out of README.md itself: the install line, the founder's block and
the teammate's block of the Quick start, run by bash as printed. One thing is changed: the
repository URL (`repo:` and the install line's), which becomes a clone of this repository
(a `git clone --no-tags`, as published). The test checks that the `.pre-commit-config.yaml`
`init` writes is the README's, byte for byte, that the founder's `git push` puts the data on
central, and that the teammate, who installs nothing but pre-commit, ends with the same bytes.

The scene is the README's: the project is a DVC repository with a git remote, and the
server `dvc-server` (an ssh alias, here a loopback sshd) has `/srv/project.cache`. That
sshd runs in its own mount namespace with a temporary directory bound on `/srv`, as if it
were another machine; nothing outside the test sees it. Each teammate has an own virtualenv
(`virtualenv`, seeded with pip) that sees the already-installed dvc, as on a machine of a
team that uses DVC; dvc-synced and pre-commit are installed into it by the README's lines,
from the pinned commit. pre-commit builds the hook environment once per test session.
`DVC_SYNCED_QUICKSTART_BARE=1` gives each teammate a bare virtualenv instead, so alice's
install line brings dvc too, as on a newcomer's machine (slow; run with -s for a timed log).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, Team, store_objects, tree_digest, unavailable
from tests.harness import Unavailable, start_sshd
from tests.unit.test_release import published_clone

README = REPO_ROOT / "README.md"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def section(text: str, title: str) -> str:
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.S | re.M)


def readme_steps() -> dict[str, str]:
    """The README's own words: install line, founder's block, its YAML, teammate's block."""
    text = README.read_text()
    install = [line for b in blocks(section(text, "Install"), "bash") for line in b.splitlines()
               if line.startswith("pip install ")]
    assert len(install) == 1, install
    quick = section(text, "Quick start for a team")
    founder, teammate = blocks(quick, "bash")
    (config,) = blocks(quick, "yaml")
    return {"install": install[0], "founder": founder, "config": config, "teammate": teammate}


def with_url(steps: dict[str, str], url: str) -> dict[str, str]:
    """The one change: the README's repository URL becomes `url`."""
    repo = re.search(r"^  - repo: (\S+)$", steps["config"], re.M)
    assert repo, steps["config"]
    assert repo.group(1) in steps["install"], "install line and repo: name different URLs"
    return {k: v.replace(repo.group(1), url) for k, v in steps.items()}


def site_without(tmp: Path, *names: str) -> Path:
    """This environment's installed packages, minus `names` (what the README installs)."""
    site = tmp / "site-packages"
    site.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        lowered = entry.name.lower().replace("-", "_")
        if entry.suffix == ".pth" or lowered.startswith("__editable__") or any(
                lowered.startswith(n) for n in names):
            continue
        (site / entry.name).symlink_to(entry)
    return site


def virtualenv(path: Path, site: Path) -> Path:
    subprocess.run([sys.executable, "-m", "virtualenv", "-q", "--no-setuptools", "--no-wheel",
                    str(path)], check=True, capture_output=True)
    purelib = subprocess.run([str(path / "bin" / "python"), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    if not os.environ.get("DVC_SYNCED_QUICKSTART_BARE"):
        (Path(purelib) / "installed-dvc.pth").write_text(f"{site}\n")
    return path / "bin"


def sshd_with_srv(base: Path, srv: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The harness's loopback sshd, started in a mount namespace where `srv` is /srv."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        unavailable(Unavailable("a private /srv for the server needs root and unshare"))
    wrapper = base / "sbin"
    wrapper.mkdir(parents=True)
    real = shutil.which("sshd") or "/usr/sbin/sshd"
    (wrapper / "sshd").write_text(
        "#!/bin/sh\n"  # unshare and sh exec: the pid the harness stops is sshd's
        f"exec unshare -m --propagation private sh -c "
        f"'mount --bind \"$0\" /srv && exec \"$@\"' {srv} {real} \"$@\"\n")
    (wrapper / "sshd").chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper}{os.pathsep}{os.environ['PATH']}")
    try:
        return start_sshd(base / "sshd")
    except Unavailable as exc:
        unavailable(exc)
    finally:
        monkeypatch.undo()


@pytest.fixture(scope="session")
def quickstart_pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("quickstart-pre-commit-home")


class Person:
    """A teammate's shell: own HOME, own virtualenv first on PATH, nothing else of ours."""

    def __init__(self, team: Team, name: str, bindir: Path, extra: dict[str, str]) -> None:
        self.user = team.user(name)
        self.env = dict(self.user.env, **extra)
        self.env["PATH"] = f"{bindir}{os.pathsep}{SYSTEM_PATH}"
        self.env.pop("VIRTUAL_ENV", None)
        self.times: list[tuple[str, float, str]] = []

    def sh(self, script: str) -> str:
        """Run the README's lines one by one, as a user types them; stop at a failure."""
        out = []
        for line in script.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            started = time.monotonic()
            done = subprocess.run(["bash", "-c", line], cwd=self.user.repo, env=self.env,
                                  capture_output=True, text=True)
            seconds = time.monotonic() - started
            self.times.append((line, seconds, done.stdout + done.stderr))
            print(f"[{self.user.name} {seconds:5.1f}s] $ {line}\n{done.stdout}{done.stderr}")
            assert done.returncode == 0, f"README line failed: {line}\n{done.stdout}{done.stderr}"
            out.append(done.stdout)
        return "".join(out)


@pytest.mark.timeout(900)  # one pip install and one hook environment, on a shared 2-core box
def test_first_day_exactly_as_the_readme_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              quickstart_pre_commit_home: Path) -> None:
    clone = published_clone(tmp_path / "dvc-synced")
    steps = with_url(readme_steps(), clone.as_uri())
    srv = tmp_path / "srv"
    (srv / "project.cache").mkdir(parents=True)  # the README's premise: the server has it
    server = sshd_with_srv(tmp_path, srv, monkeypatch)
    try:
        team = Team(tmp_path, "dvc-server:/srv/project.cache")
        # ~/.ssh/config's `dvc-server` (ssh reads the real home's; the setting says which).
        ssh = {"DVC_SYNCED_SSH_COMMAND": server.ssh_command(),
               "PRE_COMMIT_HOME": str(quickstart_pre_commit_home)}
        site = site_without(tmp_path, "dvc_synced", "pre_commit")
        alice_bin = virtualenv(tmp_path / "venv-alice", site)
        alice = Person(team, "alice", alice_bin, ssh)
        bob_bin = virtualenv(tmp_path / "venv-bob", site)

        # The project before dvc-synced: DVC, a git remote, data committed but never shared.
        a = alice.user
        a.run(sys.executable, "-m", "dvc", "init", "-q", env=alice.env)  # a DVC they have
        a.git("commit", "-q", "-m", "Set up DVC")
        a.git("push", "-q", "origin", "main")
        a.write("data/images/cat.png", os.urandom(3000))
        a.write("data/images/dog.png", os.urandom(5000))
        a.write("data/model.bin", os.urandom(70_000))
        a.run(sys.executable, "-m", "dvc", "add", "-q", "data/images",
              "data/model.bin", env=alice.env)
        a.git("add", "-A")
        a.git("commit", "-q", "-m", "Track images and model")

        alice.sh(steps["install"])
        assert shutil.which("dvc-synced", path=alice.env["PATH"]) == str(alice_bin / "dvc-synced")
        alice.sh(steps["founder"])
        assert (a.repo / ".pre-commit-config.yaml").read_text() == steps["config"]
        server_log = a.git("--git-dir", str(team.server), "log", "--format=%s", "main").stdout
        assert "Share DVC data through dvc-synced" in server_log
        central = store_objects(srv / "project.cache")
        assert central >= store_objects(a.repo / ".dvc" / "cache") and central, central

        bob = Person(team, "bob", bob_bin, ssh)
        assert shutil.which("dvc-synced", path=bob.env["PATH"]) is None
        bob.sh(steps["teammate"])
        for out in ("data/images", "data/model.bin"):
            assert tree_digest(bob.user.repo / out) == tree_digest(a.repo / out), out
        print("\n".join(f"{s:6.1f}s  {line}" for line, s, _ in alice.times + bob.times))
    finally:
        server.stop()
