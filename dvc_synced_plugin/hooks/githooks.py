"""One function per git hook, on the event `events.py` made of argv, stdin and env.

The same code runs under plain hooks and under pre-commit.

Fast path first: find the pointer changes with a few git calls and return before importing
DVC (or yaml, or sh) or touching the network when there are none. The workspace state file
(`storage/state.py`) records the commit whose data the workspace last got,
so several hooks of one git command sync once, and a failed sync is redone in full.

Which hooks git 2.39 fires (checked with real runs, see tests/e2e/test_hooks.py):
  git pull (fast-forward or merge), git pull --rebase without local commits -> post-merge
  git pull --rebase with local commits, git rebase -> post-checkout (inside the rebase,
      skipped), post-commit per replayed commit (skipped), post-rewrite "rebase"
  git checkout/switch (branch, commit, no argument, -b) -> post-checkout flag 1
  git checkout -- FILE -> post-checkout flag 0;  git worktree add -> post-checkout from null
  git merge --no-ff without conflict -> post-merge only (no post-commit)
  a conflicted merge -> nothing; its `git commit` -> post-commit ("commit (merge)" reflog)
  git cherry-pick, git revert -> post-commit ("cherry-pick: ...", "revert: ..." reflog)
  git commit --amend -> post-commit then post-rewrite "amend"
  a rebase replaying nothing (fast-forward, local commits all upstream) -> post-checkout
      inside the rebase with an empty todo list, and no post-rewrite: synced there
  git merge --squash -> post-merge flag 1, also when it stops on conflicts (the
      unmerged pointers are left alone then)
  a conflicted squash merge or revert concluded by `git commit`/`--continue` ->
      post-commit with a "commit:" reflog: git's default message tells it apart (and,
      for a squash stopped on pointer files, the mark its post-merge left; for a message
      edited in the editor, the "# Conflicts:" hint left in COMMIT_EDITMSG)
  git am -> post-applypatch per patch (no post-commit)
  git push -> pre-push, also with nothing to push (empty stdin) and for deletions
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Optional, TextIO, Union

from dvc_synced_plugin.errors import MissingObjectsError, SyncError
from dvc_synced_plugin.fs import atomic_write
from dvc_synced_plugin.git import gitinfo
from dvc_synced_plugin.git.gitinfo import PointerChange
from dvc_synced_plugin.hooks import events
from dvc_synced_plugin.hooks.events import SKIP_ENV, HeadMove, PushEvent
from dvc_synced_plugin.output import announce, say
from dvc_synced_plugin.storage.memo import CommitMemo
from dvc_synced_plugin.storage.state import read_selection, read_state, write_state


def _resolve(root: Path, rev: str) -> Optional[str]:
    try:
        return gitinfo.rev_parse(root, rev) if rev else None
    except SyncError:
        return None


# ---------------------------------------------------------------------------- pre-push


def push_plan(root: Path, event: PushEvent) -> tuple[list[str], list[str], list[str]]:
    """(certain tips, speculative tips, excluded commits) of this push.

    Plain hooks read every pushed ref from stdin: all tips are certain. pre-commit shows
    only the first ref with new commits (no stdin): that one is certain, and every other
    local branch and tag plus HEAD that the remote lacks might be in the push too; if those
    have pointer changes, pre_push asks git which refs are pushed (pushed_refs.py).
    """
    if event.complete:
        tips = [u.local_sha for u in event.updates if not u.is_delete]  # deletions skipped
        return tips, [], gitinfo.known_commits(root, [u.remote_sha for u in event.updates])
    first = event.updates[0] if event.updates else None
    # A push that contains the root commit gets no FROM/TO: its local ref names the tip.
    tip = first.local_sha if first else _resolve(root, event.local_branch)
    exclude = gitinfo.known_commits(root, [first.remote_sha] if first else [])
    return [tip] if tip else [], ["HEAD", "--branches", "--tags"], exclude


class Verified:
    """Commits whose pointer changes a push already confirmed complete on central.

    A push is checked again whenever it is retried (git refused it as non-fast-forward after
    the upload) and, under pre-commit, local branches with unconfirmed data make a push ask
    git which refs it sends: remembering the confirmed commits keeps those pushes off the
    network. The
    list belongs to one central URL (another URL starts afresh) and keeps the newest
    entries only: a commit that drops out is merely checked again.
    """

    def __init__(self, root: Path, central: str) -> None:
        self.memo = CommitMemo(gitinfo.state_dir(root) / "on-central",
                               f"central {central}")

    def pending(self, changes: list[PointerChange]) -> list[PointerChange]:
        return [c for c in changes if c.commit not in self.memo.known]

    def add(self, changes: list[PointerChange]) -> None:
        self.memo.add(sorted({c.commit for c in changes if c.commit} - self.memo.known))


def pre_push(root: Path, event: PushEvent) -> int:
    """Upload the data of every commit the push sends that the remote lacks; else refuse."""
    certain, speculative, exclude = push_plan(root, event)
    try:
        changes = gitinfo.changes_in_commits(root, certain, exclude, exclude_remote=event.remote)
        maybe = gitinfo.changes_in_commits(root, speculative, exclude + certain,
                                           exclude_remote=event.remote) if speculative else []
        if not changes and not maybe:
            return 0  # the fast path: no pointer file changes in what is pushed
        # here: the settings and the transport registry stay off the fast path (~10 modules)
        from dvc_synced_plugin import config

        settings = config.load(root)
        verified = Verified(root, settings.central)
        changes, maybe = verified.pending(changes), verified.pending(maybe)
        if not changes and not maybe:
            return 0  # all confirmed on central by an earlier push
        unsure: list[tuple[str, list[PointerChange]]] = []
        why = ""
        if maybe:  # pre-commit hid the other pushed refs: learn them, else fail safe per ref
            # Imported here: a push without them never loads the ref discovery (pinned by
            # test_code_only_push_under_pre_commit_stays_on_the_fast_path).
            from dvc_synced_plugin.hooks import pushed_refs

            changes, unsure, why = pushed_refs.narrow(
                root, event.remote, dict(os.environ), certain, exclude, changes,
                verified.pending, settings.timeout)
        from dvc_synced_plugin.hooks import upload  # here: settings, json; off the fast path
        from dvc_synced_plugin.sync import flows  # here: it loads yaml, dvc; off the fast path

        upload.before_push(root)  # a background upload running: wait for it, then check
        total = flows.Report()
        for ref, group in [("", changes), *unsure]:
            if not group:
                continue
            try:
                report = flows.push_changes(settings, group)
            except MissingObjectsError as exc:
                if not ref:
                    raise
                from dvc_synced_plugin.hooks import pushed_refs  # see above: off the fast path

                raise pushed_refs.RefsUnknown(pushed_refs.refusal(ref, why, str(exc))) from None
            verified.add(group)
            total.add(report)
    except SyncError as exc:
        say(f"push refused: {exc}")
        if getattr(exc, "names_its_fix", False):
            return 1  # its one line already says how to push without the ref
        say(f"fix the cause and `git push` again; `{SKIP_ENV}=1 git push` pushes without "
            "the data (teammates then cannot get it)")
        return 1
    if total.needed:
        announce(total.line("uploaded", "to"))
    return 0


# ---------------------------------------------------------------------------- post-* hooks


def sync_workspace(root: Path, base: Optional[str], staged: bool = False,
                   side: Optional[tuple[str, str]] = None) -> int:
    """Bring the workspace's data to HEAD; `base` is where git says HEAD came from;
    `side`, for a merge commit, is (merge base, other parent): what git wrote, too.

    The workspace may hold the data of another commit than `base` (a hook was skipped, or
    `git reset` fired none): the state file knows, so the changes from both count. With no
    trustworthy starting point (first run, a failed sync) every pointer of HEAD counts.
    """
    if not (root / ".dvc").is_dir():
        return 0  # not a DVC project (a global core.hooksPath reaches every repository)
    new = _resolve(root, "HEAD")
    if new is None:
        return 0  # no commits yet
    status, synced = read_state(root)
    if status == "ok" and synced == new and not staged:
        return 0  # another hook of this git command did it already
    bases = gitinfo.known_commits(root, [base or "", synced if status == "ok" else ""])
    full = not staged and (status != "ok" or not bases)
    try:
        if staged:  # a squash merge: the result is in the index and the work tree only
            # git fires post-merge also when the squash stopped on conflicts: an unmerged
            # pointer is not deleted, it is undecided. Its output keeps HEAD's data; the
            # resolution's commit (post-commit, "Squashed commit") brings what was chosen.
            unmerged = gitinfo.unmerged_paths(root)
            changes = [c for c in gitinfo.changes_to_index(root) if c.path not in unmerged]
        elif full:
            changes = gitinfo.changes_between(root, None, new)
        else:
            changes = [c for b in bases for c in gitinfo.changes_between(root, b, new)]
        if not full:
            changes = _with_rewritten(changes, outputs_git_wrote_in(
                root, bases, new, staged, side), gitinfo.INDEX if staged else new)
        else:  # no known state: outputs of commits checked out lately that HEAD lacks go
            from dvc_synced_plugin.sync import flows  # off the fast path: it loads yaml, dvc

            changes += flows.repair_changes(root, new, bases)
        # A deleted pointer needs nothing fetched, but its outputs leave the workspace
        # (as plain `dvc pull` removes them): deletions count too.
        if not changes:
            write_state(root, "ok", new)  # nothing tracked changed: the fast path
            return 0
        from dvc_synced_plugin import config  # here: off the fast path, as above
        from dvc_synced_plugin.sync import flows  # here: it loads yaml, dvc; off the fast path

        settings = config.load(root)
        if not full and not staged and read_selection(root) != settings.selection.fingerprint:
            # The fetch patterns changed since the last sync: an output now included may
            # never have come, so every output of HEAD counts (the change's old sides too,
            # for what it removes).
            full = True
            changes = gitinfo.changes_between(root, None, new) + changes
        report = flows.pull_changes(settings, changes, checkout="all" if full else "changes")
    except SyncError as exc:
        write_state(root, "pending", new)
        say(f"warning: the data of {new[:10]} is not in the workspace: {exc}")
        say("git's state is as git left it; run `dvc-synced pull` to finish")
        return 1
    if report.kept:  # the checkout stands (git made it); the kept outputs are named once
        say(f"warning: {flows.kept_line(report.kept)}")
    if report.incomplete and report.needed:
        announce(report.line("downloaded", "from"))  # what did arrive
    for line in report.incomplete:
        say(f"warning: {line}")
    if report.incomplete and not report.checkout_failed:
        write_state(root, "pending", new)  # the next hook or `dvc-synced pull` finishes
        say("everything else is in the workspace; once it is pushed, `dvc-synced pull` "
            "brings the rest")
        return 1
    if report.checkout_failed:
        write_state(root, "pending", new)
        say(f"warning: dvc checkout could not update {', '.join(report.checkout_failed[:5])}")
        if report.unsaved:
            shown = " ".join(report.unsaved[:5]) + (" ..." if len(report.unsaved) > 5 else "")
            say(f"unsaved changes kept, not replaced: {shown}")
            say("keep them: `dvc add` the output and commit; or drop them: "
                f"`dvc checkout --force {report.unsaved[0]}`; then `dvc-synced pull`")
        else:
            say("resolve the workspace changes, then run `dvc-synced pull` to finish")
        return 1
    write_state(root, "ok", new)
    if report.needed:
        announce(report.line("downloaded", "from"))
    return 0


def _with_rewritten(changes: list[PointerChange], rewritten: dict[str, str],
                    commit: str) -> list[PointerChange]:
    """Pointer files whose outputs git wrote in count as added: what is there cannot be
    proved to be DVC's, so the update leaves those outputs to `dvc checkout`."""
    if not rewritten:
        return changes
    kept = [c for c in changes if c.path not in rewritten]
    return kept + [PointerChange(path, None, blob, commit)
                   for path, blob in sorted(rewritten.items())]


def _merged_side(root: Path, parents: list[str]) -> Optional[tuple[str, str]]:
    """(merge base, other parent) of a merge commit: its side's changes are what git wrote
    into the work tree, also where the resolution then kept ours (git rm, a checkout)."""
    if len(parents) < 2:
        return None
    base = gitinfo.git(root, "merge-base", parents[0], parents[1], check=False).decode().strip()
    return (base, parents[1]) if base else None


def outputs_git_wrote_in(root: Path, bases: list[str], new: str, staged: bool,
                         side: Optional[tuple[str, str]] = None) -> dict[str, str]:
    """{pointer file: blob} of HEAD's (or the index's) outputs that hold a path git's
    operation wrote: a file tracked in git under a directory that is a DVC output.

    git overwrites ignored files, and DVC outputs are ignored: a merge, checkout or pick
    whose other side tracks `d/a.txt` in git writes it into the output `d` (and a conflict
    resolved "ours" then deletes it). No pointer changes, so only DVC can say what `d`
    should hold. Cost follows the change: the paths git changed (one diff), the ignored
    ones among them (one check-ignore), the pointer files beside their directories.
    """
    names: set[str] = set()
    pathspec = ["--", ".", *[f":(exclude,glob){p}" for p in ("**/*.dvc", "**/dvc.lock")]]
    diffs = [["diff", "--name-only", "-z", "--no-renames", "--cached", "HEAD"]] if staged else [
        ["diff", "--name-only", "-z", "--no-renames", b, new] for b in bases if b != new]
    if side:
        diffs.append(["diff", "--name-only", "-z", "--no-renames", *side])
    for args in diffs:
        out = gitinfo.git(root, *args, *pathspec, check=False)
        names.update(n.decode("utf-8", "surrogateescape") for n in out.split(b"\0")
                     if b"/" in n)  # a path inside an output has a directory
    if not names:
        return {}
    # DVC lists every output in a .gitignore: only ignored paths can be inside one.
    proc = gitinfo.git(root, "check-ignore", "--no-index", "-z", "--stdin", check=False,
                       input=b"".join(n.encode("utf-8", "surrogateescape") + b"\0"
                                      for n in sorted(names)))
    ignored = [n.decode("utf-8", "surrogateescape") for n in proc.split(b"\0") if n]
    if not ignored:
        return {}
    dirs = {d for n in ignored for d in _parents(n)}
    candidates = {f"{d}.dvc" for d in dirs} | {"dvc.lock"} | {f"{d}/dvc.lock" for d in dirs}
    rev = "" if staged else new
    blobs = gitinfo.object_ids(root, [f"{rev}:{c}" for c in sorted(candidates)])
    if not blobs:
        return {}
    from dvc_synced_plugin.dvcfiles.pointers import output_paths  # here: yaml, off the fast path

    contents = gitinfo.read_blobs(root, blobs.values())
    rewritten: dict[str, str] = {}
    for spec, blob in blobs.items():
        pointer = spec.split(":", 1)[1]
        try:
            outs = output_paths(pointer, contents.get(blob))
        except SyncError:
            continue  # an unreadable pointer: the sync itself reports it
        if any(o in dirs for o in outs):
            rewritten[pointer] = blob
    return rewritten


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def post_checkout(root: Path, event: HeadMove) -> int:
    if event.file_checkout:
        return 0  # a file checkout: HEAD did not move
    if gitinfo.rebase_in_progress(root) and not nothing_to_replay(root):
        return 0  # the rebase's post-rewrite syncs once at the end
    return sync_workspace(root, event.base)


def nothing_to_replay(root: Path) -> bool:
    """A rebase whose todo list is empty (a fast-forward, or every local commit already
    upstream) moves HEAD with this checkout and ends without a post-rewrite: sync now."""
    try:
        todo = (gitinfo.git_dir(root) / "rebase-merge" / "git-rebase-todo").read_text()
    except (OSError, UnicodeDecodeError):
        return False
    return not any(line.strip() and not line.lstrip().startswith("#")
                   for line in todo.splitlines())


SQUASH_MARK = "squash-unmerged"  # in the state dir: HEAD a conflicted squash started at


def mark_conflicted_squash(root: Path) -> None:
    """A squash stopped on conflicts in pointer files: the resolution's commit (whatever
    its message: git drops SQUASH_MSG before post-commit) must bring their data."""
    mark = gitinfo.state_dir(root) / SQUASH_MARK
    head = _resolve(root, "HEAD")
    if head and gitinfo.unmerged_paths(root):
        atomic_write(mark, head + "\n")
    else:
        mark.unlink(missing_ok=True)


def squash_concluded(root: Path, parents: list[str]) -> bool:
    """This commit concludes a conflicted squash (the mark names its parent); the mark
    goes with any commit, so a squash abandoned by `git reset` counts at most once."""
    mark = gitinfo.state_dir(root) / SQUASH_MARK
    try:
        started = mark.read_text().strip()
    except OSError:
        return False
    mark.unlink(missing_ok=True)
    return len(parents) == 1 and started == parents[0]


def post_merge(root: Path, event: HeadMove) -> int:
    if event.kind == "squash":  # the result is staged, not committed: HEAD did not move
        mark_conflicted_squash(root)
        return sync_workspace(root, None, staged=True)
    # ORIG_HEAD is HEAD before the merge, also for `git pull --rebase` without local commits.
    return sync_workspace(root, _resolve(root, "ORIG_HEAD"))


def post_rewrite(root: Path, event: HeadMove) -> int:
    if event.kind == "amend":
        code = sync_workspace(root, event.base or _resolve(root, "HEAD@{1}"))
        head, *parents = gitinfo.git(root, "rev-list", "--parents", "-n", "1",
                                     "HEAD").decode().split()
        upload_after(root, head, parents)
        return code
    code = sync_workspace(root, _resolve(root, "ORIG_HEAD"))
    head = _resolve(root, "HEAD")
    if head:
        upload_after(root, head, None)  # the job finds what the rebased commits add
    return code


def upload_after(root: Path, head: str, parents: Optional[list[str]]) -> None:
    """With `dvc-synced.upload-on-commit`, start the background upload of a new commit
    that changes pointer files (`parents` None: a rebase, every new commit counts). The
    setting is read only then: a commit of code costs one git call more."""
    if parents is not None and not gitinfo.changes_between(
            root, parents[0] if parents else None, head):
        return
    from dvc_synced_plugin.hooks import upload  # here: settings, json; off the fast path

    if not upload.enabled(root):
        return
    try:
        upload.start(root, head)
    except OSError as exc:  # the commit stands; the push uploads as without the setting
        say(f"warning: could not start the background upload: {exc}; `git push` uploads")


def post_commit(root: Path, event: HeadMove) -> int:
    """A commit git made (a concluded merge, cherry-pick, revert) brings that commit's data;
    a commit the user made from this workspace brings none, so the state moves along.

    The reflog subject says which it was in one git call: "commit: ..." and "commit
    (initial)" are the user's; "commit (amend)" is left to post-rewrite; commits a rebase
    replays are left to its post-rewrite; "commit (merge)", "cherry-pick: ...", "revert:
    ..." and "commit (cherry-pick)" had git write pointer files into the work tree.
    """
    if gitinfo.rebase_in_progress(root):
        return 0
    subject, _, message = gitinfo.git(root, "log", "-g", "-1", "--format=%gs%x00%B", "HEAD",
                                      check=False).decode(errors="replace").partition("\0")
    if subject.startswith("commit (amend)"):
        return 0
    head, *parents = gitinfo.git(root, "rev-list", "--parents", "-n", "1", "HEAD").decode().split()
    # Without a reflog (core.logAllRefUpdates off) only a merge commit is surely git's doing.
    made_here = subject.startswith(("commit:", "commit (initial)")) if subject else len(parents) < 2
    if (not made_here or written_by_git(message) or squash_concluded(root, parents)
            or conflicts_resolved(root)):
        code = sync_workspace(root, parents[0] if parents else None,
                              side=_merged_side(root, parents))
        upload_after(root, head, parents)
        return code
    status, synced = read_state(root)
    if status == "ok" and parents and synced == parents[0]:
        write_state(root, "ok", head)
    upload_after(root, head, parents)
    return 0


def written_by_git(message: str) -> bool:
    """A plain `git commit` that concludes a conflicted squash merge or revert (also
    `git revert --continue`): its reflog says "commit:", but git wrote the pointer files.
    git leaves no other trace by then, so its default message is the sign. A squash that
    stopped on pointer files is also known by the mark its post-merge left; a revert whose
    message was edited away by `conflicts_resolved`; one committed with `-m` or `-F` and
    a message of the user's is not (the next full `dvc-synced pull` repairs it)."""
    return message.startswith("Squashed commit of the following:") or (
        "\nThis reverts commit " in message)


# The hint git's sequencer appends, commented out, to the message of a pick or revert that
# stopped on conflicts: a literal (never translated), in core.commentChar.
CONFLICTS_HINT = re.compile(r"^[^\w\s] Conflicts:$", re.MULTILINE)


def conflicts_resolved(root: Path) -> bool:
    """The commit concludes a conflicted revert (or squash) through the editor, whatever
    the message became: COMMIT_EDITMSG, the file git gave the editor, still has git's
    "# Conflicts:" hint (comments are stripped from the commit, not from the file). git
    rewrites the file for every commit, `-m` ones too, so an older one never counts."""
    try:
        text = (gitinfo.git_dir(root) / "COMMIT_EDITMSG").read_text(errors="replace")
    except OSError:
        return False
    return CONFLICTS_HINT.search(text) is not None


def post_applypatch(root: Path, event: HeadMove) -> int:
    """`git am` commits each patch it applies, firing no post-commit: sync each one."""
    parents = gitinfo.git(root, "rev-list", "--parents", "-n", "1", "HEAD").decode().split()[1:]
    return sync_workspace(root, parents[0] if parents else None)


Event = Union[PushEvent, HeadMove]
PARSERS: dict[str, Callable[[list[str], str, dict[str, str]], Event]] = {
    "pre-push": events.push_event,
    "post-checkout": lambda args, _stdin, env: events.checkout_event(args, env),
    "post-merge": lambda args, _stdin, env: events.merge_event(args, env),
    "post-rewrite": events.rewrite_event,
    "post-commit": lambda _args, _stdin, _env: HeadMove("commit"),
    "post-applypatch": lambda _args, _stdin, _env: HeadMove("commit"),
}
HANDLERS: dict[str, Callable[[Path, Event], int]] = {  # type: ignore[dict-item]
    "pre-push": pre_push,
    "post-checkout": post_checkout,
    "post-merge": post_merge,
    "post-rewrite": post_rewrite,
    "post-commit": post_commit,
    "post-applypatch": post_applypatch,
}


def run(name: str, args: list[str], stdin: Optional[TextIO] = None,
        env: Optional[dict[str, str]] = None) -> int:
    """A hook as git or pre-commit calls it: argv, stdin and env -> event -> handler."""
    env = dict(os.environ) if env is None else env
    if events.skipped(env):
        return 0
    try:
        root = gitinfo.toplevel()
    except SyncError:
        return 0  # a bare repository or outside a work tree: nothing to sync
    text = events.read_stdin(stdin) if events.HOOKS[name].stdin else ""
    return HANDLERS[name](root, PARSERS[name](args, text, env))
