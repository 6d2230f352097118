"""git remotes: which remote HEAD's branch follows, its tips, and `git fetch` without prompts.

The one home of the plumbing `fetch`, `verify --all` and the periodic job share.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Optional

from dvc_synced_plugin import output
from dvc_synced_plugin.errors import ConfigError, SyncError
from dvc_synced_plugin.git import gitinfo

DAY = 86400


def require_remote(root: Path, remote: str) -> None:
    names = gitinfo.git(root, "remote").decode().split()
    if remote not in names:
        known = f" (this clone has: {', '.join(names)})" if names else ""
        raise ConfigError(
            f"no git remote {remote!r}{known}: add it with `git remote add {remote} URL` "
            "or name another with --remote"
        )


def git_fetch(root: Path, remote: str, timeout: float = 600, detach: bool = False) -> None:
    """`git fetch REMOTE`, never prompting for credentials.

    `detach` (the background job): a session of its own has no terminal, so ssh cannot
    ask for a passphrase even when started from one; BatchMode unless the user set an
    ssh command of their own.
    """

    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GCM_INTERACTIVE="never")
    if detach and "GIT_SSH_COMMAND" not in env and not gitinfo.git(
            root, "config", "core.sshCommand", check=False).strip():
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    try:
        proc = subprocess.run(["git", "fetch", "--quiet", "--", remote], cwd=root, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                              start_new_session=detach)
    except subprocess.TimeoutExpired:
        raise SyncError(f"git fetch {remote} took over {timeout:.0f}s: check the network "
                        "and the git remote's URL (`git remote -v`)") from None
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        detail = next((ln for ln in lines if ln.startswith("fatal:")), lines[-1] if lines else "")
        raise SyncError(f"git fetch {remote} failed ({detail or f'exit {proc.returncode}'}): "
                        "fix the git remote or the network, then fetch again")


def upstream(root: Path) -> Optional[str]:
    """HEAD's upstream commit, if the current branch tracks one this clone knows."""
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "@{upstream}^{commit}"],
        cwd=root, capture_output=True,
    )
    sha = proc.stdout.decode().strip()
    return sha if proc.returncode == 0 and sha else None


def recent_tips(root: Path, remote: str, days: int, now: Optional[float] = None) -> list[str]:
    """Remote-tracking branch tips whose commit is at most `days` old, HEAD's upstream first."""
    cutoff = (time.time() if now is None else now) - days * DAY
    out = gitinfo.git(
        root, "for-each-ref", "--format=%(objectname) %(committerdate:unix) %(refname)",
        f"refs/remotes/{remote}/",
    ).decode()
    tips: list[str] = []
    up = upstream(root)
    if up:
        tips.append(up)
    for line in out.splitlines():
        sha, stamp, ref = line.split(" ", 2)
        if ref == f"refs/remotes/{remote}/HEAD":
            continue  # a symref to one of the branches
        if stamp.isdigit() and int(stamp) >= cutoff and sha not in tips:
            tips.append(sha)
    return tips


def remote_revisions(root: Path, remote: str) -> list[str]:
    """Tips of every branch and tag on the git remote that this clone knows."""
    try:
        out = gitinfo.git(root, "ls-remote", "--heads", "--tags", "--", remote).decode()
    except SyncError as exc:
        raise SyncError(
            f"cannot list the branches and tags of git remote {remote!r} ({exc}): "
            "fix the remote (`git remote -v`), or name revisions with --rev"
        ) from None
    # An annotated tag is listed twice: the tag object, then `<tag>^{}` with its commit.
    tips: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref.endswith("^{}"):
            tips[ref[: -len("^{}")]] = sha
        else:
            tips.setdefault(ref, sha)
    known = sorted(gitinfo.known_commits(root, list(tips.values())))
    unknown = len(set(tips.values())) - len(known)
    if unknown:
        output.say(f"{unknown} branch/tag tip(s) of {remote!r} are not in this clone "
                   "and are not verified: `git fetch` first")
    return known


def upstream_remote(root: Path) -> str:
    """The remote HEAD's branch tracks, else origin."""
    proc = subprocess.run(["git", "rev-parse", "--abbrev-ref", "@{upstream}"], cwd=root,
                          capture_output=True, text=True)
    up = proc.stdout.strip()
    if proc.returncode == 0 and "/" in up:
        remote = up.split("/", 1)[0]
        names = gitinfo.git(root, "remote").decode().split()
        if remote in names:
            return remote
    return "origin"
