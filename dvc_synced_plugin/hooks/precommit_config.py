"""The `.pre-commit-config.yaml` that `dvc-synced init` writes: our hooks, pinned to the
dvc-synced this machine runs, so nobody pastes YAML or a rev that does not exist.

Where the pin comes from (PEP 610 `direct_url.json` of the installed distribution):
- `pip install "git+URL@REV"`: the URL and the commit pip resolved (`vcs_info.commit_id`);
- an install from a clone (`pip install ./dvc-synced`, `-e`): that clone's HEAD, and its
  `origin` URL when origin has that commit, else the clone's path (this machine only);
- anything else (a wheel, an index): unknown, so init refuses and names the fix.
The published history carries no tags, so the pin is always a commit id, never a tag.

An existing config keeps everything of its own (other repos, comments, its stages);
only our repo entry is added or re-pinned, and our hook types join its install list.
"""

from __future__ import annotations

import io
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import unquote, urlparse

from dvc_synced_plugin import __version__
from dvc_synced_plugin.errors import ConfigError

CONFIG = ".pre-commit-config.yaml"
HOOK_TYPES = ("pre-push", "post-checkout", "post-merge", "post-rewrite", "post-commit")
HOOK_IDS = tuple(f"dvc-synced-{t}" for t in HOOK_TYPES)
FIX = ('install dvc-synced with pip install "git+URL@COMMIT" (or from a clone), or pass '
       "--hooks-repo URL --hooks-rev COMMIT, or --no-pre-commit-config")


@dataclass(frozen=True)
class Pin:
    repo: str
    rev: str
    note: str = ""  # said once by init when the pin is only good on this machine


def installed_pin(distribution: str = "dvc-synced") -> Pin:
    """The repo and commit the running dvc-synced was installed from, or ConfigError."""
    from importlib import metadata

    try:
        raw = metadata.distribution(distribution).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        raw = None
    if not raw:
        raise ConfigError("cannot tell which commit of dvc-synced to pin in "
                          f"{CONFIG} (not installed from git or a clone): {FIX}")
    return pin_from_direct_url(json.loads(raw))


def pin_from_direct_url(direct: dict[str, Any]) -> Pin:
    url = str(direct.get("url", ""))
    vcs = direct.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") == "git" and vcs.get("commit_id"):
        return Pin(url, str(vcs["commit_id"]))
    if "dir_info" in direct and url.startswith("file://"):
        return pin_from_clone(Path(unquote(urlparse(url).path)))
    raise ConfigError(f"cannot tell which commit of dvc-synced to pin in {CONFIG} "
                      f"(installed from {url or 'an archive'}): {FIX}")


def _git(clone: Path, *args: str) -> Optional[str]:
    done = subprocess.run(["git", "-C", str(clone), *args], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def pin_from_clone(clone: Path) -> Pin:
    head = _git(clone, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    if not head:
        raise ConfigError(f"dvc-synced was installed from {clone}, which is not a git clone "
                          f"with commits, so {CONFIG} has no commit to pin: {FIX}")
    origin = _git(clone, "remote", "get-url", "origin")
    if origin and _git(clone, "branch", "-r", "--contains", head, "--list", "origin/*"):
        if "://" not in origin and ":" not in origin.split("/", 1)[0]:
            origin = str((clone / origin).resolve())  # a relative path: from here
        return Pin(origin, head)
    return Pin(str(clone), head, note=(
        f"{CONFIG} pins dvc-synced to {clone}, a clone only this machine has: teammates "
        "need a URL (push that clone and run init again, or pass --hooks-repo URL)"))


def pin_of(repo: Optional[str], rev: Optional[str]) -> Pin:
    """The pin init uses: the one given on the command line, else the installed one."""
    if repo or rev:
        if not (repo and rev):
            raise ConfigError("--hooks-repo and --hooks-rev go together: the repository "
                              "and the commit of it that pre-commit installs")
        if rev.startswith("-") or any(c.isspace() for c in rev + repo):
            raise ConfigError(f"--hooks-rev {rev!r} / --hooks-repo {repo!r}: not a revision "
                              "and a repository URL")
        return Pin(repo, rev)
    return installed_pin()


def fresh_text(pin: Pin) -> str:
    """The whole file for a project without one (the README shows this text)."""
    hooks = "".join(f"      - id: {hook_id}\n" for hook_id in HOOK_IDS)
    return (
        f"default_install_hook_types: [{', '.join(HOOK_TYPES)}]\n"
        "default_stages: [pre-commit]\n"
        "repos:\n"
        f"  - repo: {pin.repo}\n"
        f"    rev: {pin.rev}  # dvc-synced {__version__}\n"
        "    hooks:\n" + hooks
    )


def _is_ours(entry: Any) -> bool:
    hooks = entry.get("hooks") if hasattr(entry, "get") else None
    return bool(hooks) and any(
        hasattr(h, "get") and str(h.get("id", "")).startswith("dvc-synced-") for h in hooks)


def merged_text(existing: str, pin: Pin) -> str:
    """`existing` with our repo entry added or re-pinned; the rest kept as it was."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    yaml = YAML()  # round trip: the user's comments and order survive
    yaml.indent(mapping=2, sequence=4, offset=2)
    try:
        doc = yaml.load(existing)
    except Exception as exc:  # noqa: BLE001 - any parse error is the same refusal
        raise ConfigError(f"{CONFIG} is not valid YAML ({str(exc).splitlines()[0]}): fix it "
                          "or move it away, then run init again") from None
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, dict) or not isinstance(doc.get("repos", []), list):
        raise ConfigError(f"{CONFIG} is not a pre-commit config (a mapping with a `repos:` "
                          "list): fix it or move it away, then run init again")
    repos = doc.setdefault("repos", CommentedSeq())
    entry = CommentedMap([("repo", pin.repo), ("rev", pin.rev),
                          ("hooks", CommentedSeq(CommentedMap([("id", i)]) for i in HOOK_IDS))])
    entry.yaml_add_eol_comment(f"dvc-synced {__version__}", "rev")
    ours = [i for i, e in enumerate(repos) if _is_ours(e)]
    if ours:  # re-pin, keeping their per-hook options and any extra ids (-system)
        old = repos[ours[0]]
        old["repo"], old["rev"] = pin.repo, pin.rev
        old.yaml_add_eol_comment(f"dvc-synced {__version__}", "rev")
        have = {h.get("id") for h in old["hooks"] if hasattr(h, "get")}
        old["hooks"].extend(CommentedMap([("id", i)]) for i in HOOK_IDS if i not in have)
    else:
        repos.append(entry)
    types = doc.get("default_install_hook_types")
    if types is None:
        # Their hooks ran at commit time through a bare `pre-commit install`: keep that.
        has_others = any(not _is_ours(e) for e in repos)
        types = ["pre-commit"] if has_others else []
    wanted = list(types) + [t for t in HOOK_TYPES if t not in types]
    doc["default_install_hook_types"] = wanted
    if "default_stages" not in doc:
        # Without it, their hooks that name no stage would also run at push and checkout.
        doc["default_stages"] = ["pre-commit"]
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def write(root: Path, pin: Pin) -> str:
    """Write or merge the config; returns the line init prints."""
    path = root / CONFIG
    try:
        existing = path.read_text()
    except FileNotFoundError:
        existing = None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {CONFIG}: {exc}") from None
    text = fresh_text(pin) if existing is None or not existing.strip() else merged_text(
        existing, pin)
    verb = "wrote" if existing is None else (
        "left" if text == existing else "updated")
    if text != existing:
        tmp = path.with_name(path.name + ".dvc-synced-tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return f"{verb} {CONFIG}: hooks from {pin.repo} at {pin.rev[:12]}"


def check(root: Path, pin: Pin) -> None:
    """Everything `write` could refuse, without writing (init validates before it writes)."""
    path = root / CONFIG
    if path.exists():
        try:
            existing = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {CONFIG}: {exc}") from None
        if existing.strip():
            merged_text(existing, pin)
