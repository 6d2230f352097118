"""Issue #4: does a push or pull cost grow with the change, not with the project?

    python benchmarks/run.py [--sizes 1000,10000,100000] [--repeat 5] [--quick] [--readme]
    python benchmarks/run.py --fleet [--clients 8,24,48]     (issue #25, benchmarks/fleet.py)
    python benchmarks/run.py --rclone [--objects 300]        (issue #23, benchmarks/rclone_rows.py)
    python benchmarks/run.py --wire [--wire-s3-sizes ...]    (every #23 row, benchmarks/wire.py)

Measures, side by side in one run, on projects of N tracked objects with a change of 10:
push and pull with our hooks vs the seed's manual workflow vs DVC's native ssh remote;
no-op pushes/pulls with plain hooks and pre-commit vs git alone; a 1 GiB bulk push vs a bare
rsync of the same files; the peak memory of the process tree; the ssh connections and
sessions of every timed command (a counting wrapper is the ssh command). The ssh figures
run against root and, as root, a dedicated server account with a clean shell
(benchmarks/accounts.py). Prints a markdown table and writes benchmarks/results.json.
Medians of `--repeat` runs after one warm-up run.
Projects are built once per size under --workdir (default /var/tmp/dvc-synced-bench).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import accounts, fixture, readme  # noqa: E402
from benchmarks.accounts import CLEAN, ROOT, Account, split_flow  # noqa: E402
from benchmarks.fixture import Project, User  # noqa: E402
from tests import counting  # noqa: E402

T = TypeVar("T")
FLOWS = ("ours", "seed", "native")
# Run in the warm-up and the first counted repetition only: the seed's workflow against
# the clean account is the slowest flow of all at 100,000 objects, and its figure there is
# a comparison, not a target (against root it runs every repetition).
ONCE_FLOWS = ("seed@clean",)
CHANGED_FILES = 9  # + the directory's new .dir manifest = a change of 10 objects
TARGETS = {
    "scale_ratio_max": 1.3,  # time at the largest N / time at 1,000
    "vs_seed_min": 20.0,  # seed's time / ours at the largest N
    "bulk_min": 0.90,  # our throughput / bare rsync's
    "noop_extra_ms_max": 100.0,  # plain hooks over git alone
    "memory_mb_max": 300.0,  # peak RSS at the largest N
    "push_connections_max": 1,  # ssh handshakes of the push of a change
    "push_sessions_max": 2,  # remote shells started by it
    "pull_sessions_max": 2,
    "noop_connections_max": 0,  # a push or pull without pointer changes stays off the network
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- timing


@dataclass
class Sample:
    seconds: float
    maxrss_kb: int
    counts: Optional[counting.Counts] = None  # ssh/rclone calls, when COUNT_LOG is set


TIME = shutil.which("time", path="/usr/bin:/bin")
# The log the counting wrappers (ssh as every user's ssh-command, the seed's `rsync -e`)
# append to; `timed` reads and clears it around each timed command. Set by main().
COUNT_LOG: Optional[Path] = None


def timed(steps: list[tuple[list[str], Path, dict[str, str]]]) -> Sample:
    """Run commands one after another; wall time of all, peak RSS of any process in them.

    GNU time reports the largest resident set among the process and every descendant it
    waited for (git -> hook shell -> our Python -> rsync/ssh). It runs in between so the
    figure is not this benchmark's own size: a child forked from a big process starts
    with the parent's resident set, and `ru_maxrss` keeps that high-water mark.
    """
    total = 0.0
    peak = 0
    if COUNT_LOG is not None:
        counting.take(COUNT_LOG)  # what untimed commands (dvc add, commits) logged
    for args, cwd, env in steps:
        seconds, rss_kb = run_step(args, cwd, env)
        total += seconds
        peak = max(peak, rss_kb)
    return Sample(total, peak, counting.take(COUNT_LOG) if COUNT_LOG is not None else None)


def run_step(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    """One command under GNU time: its wall time and the peak RSS (KiB) of its tree;
    RuntimeError with the end of its output when it fails."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile() as rss:
        wrapped = [TIME, "-q", "-f", "%M", "-o", rss.name, *args] if TIME else args
        start = time.perf_counter()
        proc = subprocess.run(wrapped, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            out.seek(0)
            text = out.read().decode(errors="replace")
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}) in {cwd}:\n"
                               f"{text[-3000:]}")
        figures = Path(rss.name).read_text().split()
        return seconds, int(figures[-1]) if figures and figures[-1].isdigit() else 0


@dataclass
class Series:
    """Repeated samples of one measurement."""

    samples: list[Sample] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def peak_mb(self) -> float:
        return max(s.maxrss_kb for s in self.samples) / 1024

    def count(self, what: str) -> Optional[tuple[int, int]]:
        """(least, most) of one count over the samples: they should be alike."""
        values = [getattr(s.counts, what) for s in self.samples if s.counts is not None]
        return (min(values), max(values)) if values else None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "median_s": round(self.median, 4),
            "samples_s": [round(s.seconds, 4) for s in self.samples],
            "peak_rss_mb": round(self.peak_mb, 1),
        }
        if any(s.counts is not None for s in self.samples):
            for what in ("connections", "sessions", "controls", "rclone"):
                low_high = self.count(what)
                assert low_high is not None
                out[f"{what}_max"] = low_high[1]
                out[f"{what}_min"] = low_high[0]
            out["counts_samples"] = [s.counts.as_dict() if s.counts else None
                                     for s in self.samples]
        return out


class Results:
    def __init__(self) -> None:
        self.series: dict[str, Series] = {}
        self.loads: list[dict[str, object]] = []

    def add(self, key: str, sample: Sample, counted: bool) -> None:
        if counted:
            self.series.setdefault(key, Series()).samples.append(sample)

    def get(self, key: str) -> Optional[Series]:
        return self.series.get(key)

    def note_load(self, phase: str) -> None:
        one, five, fifteen = os.getloadavg()
        self.loads.append({"phase": phase, "load1": round(one, 2), "load5": round(five, 2),
                           "load15": round(fifteen, 2)})


# ------------------------------------------------------------------------------ commands


def git(user: User, *args: str, hooks: Optional[Path] = None) -> tuple[list[str], Path,
                                                                          dict[str, str]]:
    cfg = ["-c", f"core.hooksPath={hooks}"] if hooks is not None else []
    return (["git", *cfg, *args], user.repo, user.env)


def dvc(user: User, *args: str) -> tuple[list[str], Path, dict[str, str]]:
    return ([sys.executable, "-m", "dvc", *args], user.repo, user.env)


def seed_rsync(project: Project, user: User, src: str, dst: str) -> tuple[
        list[str], Path, dict[str, str]]:
    return (["rsync", "-r", "-P", "-e", project.seed_rsh(), src, dst], user.repo, user.env)


def push_steps(project: Project, flow: str) -> list[tuple[list[str], Path, dict[str, str]]]:
    """`flow` is ours, seed or native against root, or `ours@clean` ... against clean."""
    base, account = split_flow(flow)
    alice = project.alice_for(account)
    if base == "ours":  # plain hooks in .git/hooks
        return [git(alice, "push", "-q", "origin" if account is ROOT else f"ours{account.suffix}",
                    "main")]
    if base == "seed":
        return [
            git(alice, "push", "-q", f"seed{account.suffix}", "main", hooks=project.no_hooks),
            dvc(alice, "push", "-q", "-r", "seed-storage"),
            seed_rsync(project, alice, f"{project.store('alice-seed-local')}/",
                       f"{account.host}:{project.store(f'central-seed{account.suffix}')}/"),
        ]
    return [
        git(alice, "push", "-q", f"native{account.suffix}", "main", hooks=project.no_hooks),
        dvc(alice, "push", "-q", "-r", f"ssh{account.suffix}"),
    ]


def pull_steps(project: Project, flow: str) -> list[tuple[list[str], Path, dict[str, str]]]:
    bob = project.puller(flow)
    base, account = split_flow(flow)
    if base == "ours":
        return [git(bob, "pull", "-q")]
    if base == "seed":
        return [
            git(bob, "pull", "-q", hooks=project.no_hooks),
            seed_rsync(project, bob,
                       f"{account.host}:{project.store(f'central-seed{account.suffix}')}/",
                       f"{project.store(f'bob-seed{account.suffix}-local')}/"),
            dvc(bob, "pull", "-q"),
        ]
    return [
        git(bob, "pull", "-q", hooks=project.no_hooks),
        dvc(bob, "pull", "-q", "-r", f"ssh{account.suffix}"),
    ]


def rotated(items: Sequence[T], rep: int) -> list[T]:
    """Each repetition starts with another workflow, so none always runs on a warm cache."""
    k = rep % len(items)
    return [*items[k:], *items[:k]]


# ------------------------------------------------------------------------ one repetition


def make_change(project: Project, rep: int, rng: random.Random) -> dict[str, bytes]:
    """Rewrite CHANGED_FILES small files, `dvc add`, commit: a change of 10 objects."""
    alice = project.alice
    paths = rng.sample(fixture.small_paths(project.size), CHANGED_FILES)
    contents = {}
    for rel in paths:
        path = alice.repo / rel
        data = rng.randbytes(rng.randint(64, 2048))
        path.unlink()
        path.write_bytes(data)
        contents[rel] = data
    alice.dvc("add", "-q", "data")
    alice.git("commit", "-q", "-m", f"change {CHANGED_FILES} files (rep {rep})", "data.dvc")
    return contents


def check_pulled(project: Project, contents: dict[str, bytes], flows: Sequence[str]) -> None:
    for flow in flows:
        bob = project.puller(flow)
        for rel, data in contents.items():
            if (bob.repo / rel).read_bytes() != data:
                raise RuntimeError(f"{bob.name}'s {rel} is not what alice pushed")


def change_rep(project: Project, rep: int, counted: bool, results: Results,
               rng: random.Random, flows: Sequence[str] = FLOWS) -> None:
    contents = make_change(project, rep, rng)
    n = project.size
    for flow in rotated(flows, rep):
        sample = uncounted_native(flow, timed(push_steps(project, flow)))
        results.add(f"push/{flow}/{n}", sample, counted)
        log(f"    push {flow:12} {sample.seconds:7.2f}s  {sample.maxrss_kb / 1024:6.0f} MB"
            f"{counts_note(sample)}")
    for flow in rotated(flows, rep):
        sample = uncounted_native(flow, timed(pull_steps(project, flow)))
        results.add(f"pull/{flow}/{n}", sample, counted)
        log(f"    pull {flow:12} {sample.seconds:7.2f}s  {sample.maxrss_kb / 1024:6.0f} MB"
            f"{counts_note(sample)}")
    check_pulled(project, contents, flows)


def uncounted_native(flow: str, sample: Sample) -> Sample:
    """DVC's ssh remote speaks ssh in Python (asyncssh), not through ssh-command: the
    wrapper sees none of its round trips, so its zero is no figure."""
    if split_flow(flow)[0] == "native":
        sample.counts = None
    return sample


def counts_note(sample: Sample) -> str:
    c = sample.counts
    return "" if c is None else f"  ssh {c.connections} conn {c.sessions} sess"


def synced(user: User, *args: str) -> tuple[list[str], Path, dict[str, str]]:
    return ([sys.executable, "-m", "dvc_synced_plugin", *args], user.repo, user.env)


def fetch_rep(project: Project, rep: int, counted: bool, results: Results,
              rng: random.Random) -> None:
    """Issue #11: bob's `git pull` of a 10-object change after `dvc-synced fetch` (the data
    is in his local storage already) vs the same pull without a fetch before it."""
    alice, bob = project.alice, project.puller("ours")
    n = project.size
    for prefetch in rotated([True, False], rep):
        contents = make_change(project, rep, rng)
        timed([git(alice, "push", "-q", "origin", "main")])
        if prefetch:
            sample = timed([synced(bob, "fetch", "--git-fetch")])
            results.add(f"fetch/change/{n}", sample, counted)
            again = timed([synced(bob, "fetch")])  # what the timer costs when nothing is new
            results.add(f"fetch/noop/{n}", again, counted)
            log(f"    fetch {sample.seconds:6.2f}s, again {again.seconds:6.2f}s")
        sample = timed([git(bob, "pull", "-q")])
        key = "after-fetch" if prefetch else "no-fetch"
        results.add(f"fetch/pull-{key}/{n}", sample, counted)
        log(f"    pull {key:11} {sample.seconds:6.2f}s")
        check_pulled(project, contents, ["ours"])


def fetch_lines(results: Results, sizes: list[int]) -> list[str]:
    if not any(results.get(f"fetch/change/{n}") for n in sizes):
        return []
    head = " | ".join(f"N={n:,}" for n in sizes)
    lines = ["", f"`git pull` of a {CHANGED_FILES + 1}-object change with and without "
             "`dvc-synced fetch` before it (our plain hook):", "",
             f"| step | {head} |", "|---|" + "---|" * len(sizes)]
    for key, label in (("pull-no-fetch", "`git pull`, no fetch before"),
                       ("change", "`dvc-synced fetch --git-fetch` of the change"),
                       ("pull-after-fetch", "`git pull` after that fetch"),
                       ("noop", "`dvc-synced fetch` with nothing new")):
        lines.append(f"| {label} | "
                     f"{' | '.join(fmt_s(results.get(f'fetch/{key}/{n}')) for n in sizes)} |")
    return lines


HOOK_MODES = ("none", "plain", "pre-commit")


def hooks_dir(project: Project, user: User, mode: str) -> Optional[Path]:
    if mode == "none":
        return project.no_hooks
    if mode == "pre-commit":
        return project.precommit_hooks
    return None  # .git/hooks, where `dvc-synced install` put the plain hooks


def noop_rep(project: Project, rep: int, counted: bool, results: Results) -> None:
    """A code-only commit pushed and pulled, then an up-to-date push and pull, per hook mode."""
    alice, bob = project.alice, project.puller("ours")
    n = project.size
    for mode in rotated(HOOK_MODES, rep):
        (alice.repo / "notes.txt").write_text(f"rep {rep} {mode} {time.time()}\n")
        alice.git("commit", "-q", "-m", "code only", "notes.txt")
        for op, user, args in (
            ("code-push", alice, ("push", "-q", "origin", "main")),
            ("code-pull", bob, ("pull", "-q")),
            ("uptodate-push", alice, ("push", "-q", "origin", "main")),
            ("uptodate-pull", bob, ("pull", "-q")),
        ):
            sample = timed([git(user, *args, hooks=hooks_dir(project, user, mode))])
            results.add(f"noop/{op}/{mode}/{n}", sample, counted)


# ------------------------------------------------------------------------------------ bulk


def bulk_sizes(total_mib: int) -> list[int]:
    """Files of 1 to 100 MiB adding up to `total_mib`."""
    sizes: list[int] = []
    cycle = (1, 3, 10, 30, 100)
    while sum(sizes) < total_mib:
        sizes.append(min(cycle[len(sizes) % len(cycle)], total_mib - sum(sizes)))
    return sizes


def bulk(workdir: Path, total_mib: int, repeat: int, warmup: int, results: Results,
         others: Sequence[tuple[Account, accounts.Login]] = ()) -> None:
    """Our push of `total_mib` of new files vs a bare rsync of the same objects, same ssh,
    against root and each of `others` (own git server and stores each: keys `bulk/ours`,
    `bulk/bare` for root, `bulk/ours@clean` ... for the others)."""
    root = workdir / "bulk-run"
    if root.exists():
        shutil.rmtree(root)
    project = Project(0, root, workdir)
    root.mkdir(parents=True)
    try:
        fixture.run(["git", "init", "-q", "--bare", "-b", "main", str(project.server("ours"))],
                    root, os.environ.copy())
        alice = fixture._new_user(project, "alice")
        fixture.run(["git", "clone", "-q", str(project.server("ours")), str(alice.repo)], root,
                    alice.env)
        alice.dvc("init", "-q")
        project.store("central").mkdir(parents=True)
        alice.synced("init", "--central", f"dvc-server:{project.store('central')}")
        alice.git("add", "-A")
        alice.git("commit", "-q", "-m", "setup")
        alice.git("push", "-q", "origin", "main")
        alice.synced("install")
        targets: list[tuple[Account, User, str, Path]] = [
            (ROOT, alice, "origin", project.store("bare"))]
        for account, login in others:  # same clone and local storage, own central and git
            server = project.server(f"ours{account.suffix}")
            fixture.run(["git", "init", "-q", "--bare", "-b", "main", str(server)], root,
                        os.environ.copy())
            alice.git("remote", "add", f"ours{account.suffix}", str(server))
            alice.git("push", "-q", f"ours{account.suffix}", "main")
            central = project.store(f"central{account.suffix}")
            central.mkdir(parents=True)
            accounts.give_dirs(central, login)
            user = User("alice", alice.home, alice.repo, {
                **alice.env, "DVC_SYNCED_CENTRAL": f"{account.host}:{central}"})
            targets.append((account, user, f"ours{account.suffix}",
                            project.store(f"bare{account.suffix}")))
        cache = alice.repo / ".dvc" / "cache"
        sizes = bulk_sizes(total_mib)
        for rep in range(warmup + repeat):
            counted = rep >= warmup
            data = alice.repo / "bulk"
            if data.exists():
                shutil.rmtree(data)
            data.mkdir()
            for i, mib in enumerate(sizes):
                (data / f"b{i:03d}.bin").write_bytes(os.urandom(mib << 20))
            before = {str(p.relative_to(cache)) for p in (cache / "files").rglob("*")
                      if p.is_file()}
            alice.dvc("add", "-q", "bulk")
            alice.git("add", "bulk.dvc", ".gitignore")
            alice.git("commit", "-q", "-m", f"bulk {rep}")
            new = sorted(str(p.relative_to(cache)) for p in (cache / "files").rglob("*")
                         if p.is_file() and str(p.relative_to(cache)) not in before)
            listing = root / "bare.list"
            listing.write_text("".join(f"{rel}\n" for rel in new if not rel.endswith(".dir")))
            for account, _, _, bare in targets:
                if bare.exists():
                    shutil.rmtree(bare)
                bare.mkdir(parents=True)
                for other, login in others:
                    if other is account:
                        accounts.give_dirs(bare, login)
            # Alternating, so neither transfer nor account always runs first. Our pushes
            # share alice's local storage: the first fills it, a later one finds it filled.
            order = rotated([(which, t) for t in targets for which in ("ours", "bare")],
                            rep)
            for which, (account, user, remote, bare) in order:
                if which == "bare":
                    sample = timed([(["rsync", "-t", f"--files-from={listing}", "-e",
                                      project.seed_rsh(), f"{cache}/",
                                      f"{account.host}:{bare}/"], alice.repo, alice.env)])
                else:
                    sample = timed([git(user, "push", "-q", remote, "main")])
                key = account.flow(which)
                results.add(f"bulk/{key}", sample, counted)
                mbs = total_mib * 1.048576 / sample.seconds
                log(f"    bulk {key:10} {sample.seconds:6.2f}s  {mbs:6.0f} MB/s  "
                    f"{sample.maxrss_kb / 1024:5.0f} MB{counts_note(sample)}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------------- sshd


def start_sshd(workdir: Path) -> tuple[object, int, str]:
    """The test suite's loopback sshd; its client config copied to a stable path."""
    from tests.conftest import start_sshd as start

    base = Path(tempfile.mkdtemp(prefix="dvcs-bench-sshd-"))
    server = start(base)
    atexit.register(shutil.rmtree, base, True)  # its keys and config, once it has stopped
    ssh_dir = workdir / "ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(server.client_key, ssh_dir / "client_key")
    shutil.copy2(server.client_key.with_suffix(".pub"), ssh_dir / "client_key.pub")
    os.chmod(ssh_dir / "client_key", 0o600)
    text = server.ssh_config.read_text().replace(str(server.client_key),
                                                 str(ssh_dir / "client_key"))
    (ssh_dir / "config").write_text(text)
    # Project.ssh_command: every ssh call of the flows goes through it and is logged.
    counting.ssh_wrapper(ssh_dir, ssh_dir / "counts.log", ["ssh", "-F", str(ssh_dir / "config")])
    return server, server.port, server.user


def clean_account(workdir: Path) -> Optional[tuple[Account, accounts.Login]]:
    """The dedicated server account (created if missing) and its Host entry in the ssh
    config; None, after one line saying why, where it cannot be had."""
    ssh_dir = workdir / "ssh"
    try:
        login = accounts.ensure_account(CLEAN.login, (ssh_dir / "client_key.pub").read_text())
    except accounts.Unavailable as exc:
        log(f"  {exc}")
        return None
    note = accounts.shell_note(login)
    if note:
        log(f"  {note}")
    closed = accounts.unreachable(workdir)
    if closed is not None:
        log(f"  {closed} is closed to other users: the clean server account ({login.name}) "
            f"cannot reach its stores; `chmod o+x {closed}` or pick another --workdir "
            "(skipped)")
        return None
    config = ssh_dir / "config"
    text = config.read_text()
    config.write_text(text + accounts.host_entry(text, CLEAN))
    probe = subprocess.run(["ssh", "-F", str(config), CLEAN.host, "true"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if probe.returncode != 0:
        detail = (probe.stderr.strip().splitlines() or [f"exit {probe.returncode}"])[-1]
        log(f"  ssh as {login.name} failed ({detail}): the clean server account is skipped")
        return None
    return CLEAN, login


def ssh_costs(workdir: Path, shown: Sequence[Account], runs: int, results: Results) -> None:
    """What one bare `ssh host true` costs against each account (a handshake and a session),
    and one more session over an open master connection (the server shell's start alone,
    what each further session of a push pays). Accounts interleaved, as the sizes are."""
    config = str(workdir / "ssh" / "config")
    sockets = Path(tempfile.mkdtemp(prefix="dvcs-cm-"))  # short: a socket path has a limit
    env = os.environ.copy()
    try:
        for account in shown:
            control = ["-o", f"ControlPath={sockets}/{account.key}"]
            subprocess.run(["ssh", "-F", config, *control, "-o", "ControlMaster=yes",
                            "-o", "ControlPersist=120", "-N", "-f", account.host],
                           stdin=subprocess.DEVNULL, check=True)
        for rep in range(runs + 1):
            for account in rotated(shown, rep):
                control = ["-o", f"ControlPath={sockets}/{account.key}"]
                for key, args in (
                    ("connect", ["ssh", "-F", config, account.host, "true"]),
                    ("session", ["ssh", "-F", config, *control, "-o", "ControlMaster=no",
                                 account.host, "true"]),
                ):
                    sample = timed([(args, workdir, env)])
                    results.add(f"ssh/{key}/{account.key}", Sample(sample.seconds,
                                sample.maxrss_kb), rep > 0)
    finally:
        for account in shown:
            subprocess.run(["ssh", "-F", config, "-o", f"ControlPath={sockets}/{account.key}",
                            "-O", "exit", account.host], stdin=subprocess.DEVNULL,
                           capture_output=True)
        shutil.rmtree(sockets, ignore_errors=True)


def wrapper_cost(workdir: Path, runs: int, results: Results) -> None:
    """What the counting wrapper adds to each ssh call: the same wrapper around `true`
    against `true` itself, spawned directly (GNU time's own spawn would add noise of the
    same size as the figure)."""
    where = workdir / "wrapper-cost"
    wrapped = counting.ssh_wrapper(where, where / "log", ["true"])
    real = shutil.which("true") or "/bin/true"
    for rep in range(runs + 1):
        for key, program in rotated([("direct", real), ("wrapped", wrapped)], rep):
            start = time.perf_counter()
            subprocess.run([program], check=True)
            results.add(f"wrapper/{key}", Sample(time.perf_counter() - start, 0), rep > 0)
    shutil.rmtree(where, ignore_errors=True)


# ------------------------------------------------------------------------------ reporting


def machine() -> dict[str, object]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9

    def version(*args: str) -> str:
        try:
            out = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            return out.stdout.decode().splitlines()[0].strip()
        except (OSError, IndexError):
            return "?"

    from importlib.metadata import version as pkg_version

    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=fixture.REPO_ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().strip()
    # The code the hooks run: PYTHONPATH may point them at an export of an older commit.
    code = subprocess.run([sys.executable, "-c", "import dvc_synced_plugin, os; "
                           "print(os.path.dirname(dvc_synced_plugin.__file__))"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()
    if code.strip() != str(fixture.REPO_ROOT / "dvc_synced_plugin"):
        rev = f"{rev}, hooks run {code.strip()}"
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_gb, 1),
        "os": platform.platform(), "python": platform.python_version(),
        "dvc": pkg_version("dvc"), "dvc_ssh": pkg_version("dvc-ssh"),
        "git": version("git", "--version"), "rsync": version("rsync", "--version"),
        "ssh": version("ssh", "-V"), "dvc_synced_commit": rev,
    }


def fmt_s(series: Optional[Series]) -> str:
    if series is None:
        return "-"
    s = series.median
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def ratio(a: Optional[Series], b: Optional[Series]) -> Optional[float]:
    if a is None or b is None or b.median == 0:
        return None
    return a.median / b.median


def fmt_ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}x" if value < 10 else f"{value:.0f}x"


def report(results: Results, sizes: list[int], meta: dict[str, object]) -> tuple[str, dict]:
    lines: list[str] = []
    smallest, largest = sizes[0], sizes[-1]
    head = " | ".join(f"N={n:,}" for n in sizes)
    lines += [
        f"Change of {CHANGED_FILES + 1} objects; median of {meta['repeat']} runs "
        f"(after {meta['warmup']} warm-up); wall time of the whole workflow.",
        "",
        f"| workflow | {head} | N={largest:,} / N={smallest:,} |",
        "|---|" + "---|" * (len(sizes) + 1),
    ]
    labels = {
        "ours": "`git push` (our plain hook)",
        "seed": "seed: git push + `dvc push` + `rsync -r -P`",
        "native": "git push + `dvc push -r ssh` (dvc-ssh)",
    }
    pull_labels = {
        "ours": "`git pull` (our plain hook)",
        "seed": "seed: git pull + `rsync -r -P` + `dvc pull`",
        "native": "git pull + `dvc pull -r ssh` (dvc-ssh)",
    }
    shown = shown_accounts(meta)
    for account in shown:
        if len(shown) > 1:  # a section row per server account
            lines.append(f"| **{account.label}** |" + " |" * (len(sizes) + 1))
        bases = account_flows(account)
        for op, names in (("push", labels), ("pull", pull_labels)):
            for base in bases:
                flow = account.flow(base)
                cells = [fmt_s(results.get(f"{op}/{flow}/{n}")) for n in sizes]
                scale = ratio(results.get(f"{op}/{flow}/{largest}"),
                              results.get(f"{op}/{flow}/{smallest}"))
                runs = [len(s.samples) for n in sizes if (s := results.get(f"{op}/{flow}/{n}"))]
                fewer = f" ({min(runs)} run{'s' if min(runs) > 1 else ''})" if runs and min(
                    runs) < int(meta["repeat"]) else ""  # type: ignore[call-overload]
                lines.append(f"| {op}: {names[base]}{fewer} | {' | '.join(cells)} | "
                             f"{fmt_ratio(scale)} |")
            for base in bases[1:]:
                cells = [fmt_ratio(ratio(results.get(f"{op}/{account.flow(base)}/{n}"),
                                         results.get(f"{op}/{account.flow('ours')}/{n}")))
                         for n in sizes]
                lines.append(f"| {op}: {base} / ours | {' | '.join(cells)} | |")
    lines += ["", "Peak RSS of the process tree (git + hook + rsync/ssh; DVC for the others), MB:",
              "", f"| workflow | {head} |", "|---|" + "---|" * len(sizes)]
    for account in shown:
        where = "" if len(shown) == 1 else f" ({account.key})"
        for op in ("push", "pull"):
            for base in account_flows(account):
                cells = []
                for n in sizes:
                    series = results.get(f"{op}/{account.flow(base)}/{n}")
                    cells.append(f"{series.peak_mb:.0f}" if series else "-")
                lines.append(f"| {op} {base}{where} | {' | '.join(cells)} |")

    lines += counts_lines(results, sizes, shown, meta)

    lines += ["", f"No-op git push/pull (N={largest:,}): git alone vs with our hooks; "
              "extra = hooks minus git alone.", "",
              "| operation | git alone | plain hooks | extra | pre-commit | extra |",
              "|---|---|---|---|---|---|"]
    noop_labels = {
        "code-push": "push of a code-only commit", "code-pull": "pull of a code-only commit",
        "uptodate-push": "push, already up to date", "uptodate-pull": "pull, already up to date",
    }
    for op, label in noop_labels.items():
        base = results.get(f"noop/{op}/none/{largest}")
        cells = [fmt_s(base)]
        for mode in ("plain", "pre-commit"):
            series = results.get(f"noop/{op}/{mode}/{largest}")
            extra = (series.median - base.median) * 1000 if series and base else None
            cells += [fmt_s(series), "-" if extra is None else f"{extra:+.0f} ms"]
        lines.append(f"| {label} | {' | '.join(cells)} |")

    bulk_rows: list[str] = []
    for account in shown:
        ours, bare = (results.get(f"bulk/{account.flow(w)}") for w in ("ours", "bare"))
        if not (ours and bare):
            continue
        mib = meta["bulk_mib"]
        rate = mib * 1.048576 / ours.median
        bare_rate = mib * 1.048576 / bare.median
        if len(shown) > 1:
            bulk_rows.append(f"| **{account.label}** | | | | |")
        bulk_rows += [
            f"| bare `rsync` of the same objects, same ssh | {fmt_s(bare)} | "
            f"{bare_rate:.0f} MB/s | {bare.peak_mb:.0f} MB | {fmt_counts(bare)} |",
            f"| `git push` with our hook | {fmt_s(ours)} | {rate:.0f} MB/s | "
            f"{ours.peak_mb:.0f} MB | {fmt_counts(ours)} |",
            f"| ours / bare | | {rate / bare_rate:.0%} | | |"]
    if bulk_rows:
        lines += ["", f"Bulk: {meta['bulk_mib']} MiB of new files of 1-100 MiB, one push.", "",
                  "| transfer | time | throughput | peak RSS | ssh connections / sessions |",
                  "|---|---|---|---|---|", *bulk_rows]
    lines += ssh_cost_lines(results, shown)

    lines += fetch_lines(results, sizes)

    verdicts = targets(results, sizes, meta)
    lines += ["", "Targets:", ""]
    for item in verdicts:
        mark = "met" if item["met"] else ("MISSED" if item["met"] is False else "n/a")
        lines.append(f"- {item['target']}: **{mark}** ({item['measured']})")
    loads = results.loads
    if loads:
        peak = max(float(x["load1"]) for x in loads)  # type: ignore[arg-type]
        lines += ["", f"Load average (1 min) during the run: {loads[0]['load1']} at start, "
                  f"{peak} at most, {loads[-1]['load1']} at the end "
                  f"({meta['machine']['cores']} cores)."]  # type: ignore[index]
    return "\n".join(lines), {"targets": verdicts}


def shown_accounts(meta: dict[str, object]) -> list[Account]:
    keys = meta.get("accounts") or ["root"]
    assert isinstance(keys, list)
    return [accounts.ACCOUNTS[k] for k in keys]


def account_flows(account: Account) -> tuple[str, ...]:
    """The workflows run against `account` (all of them, since the seed's runs against the
    clean account too)."""
    return FLOWS


def fmt_range(low_high: tuple[int, int]) -> str:
    low, high = low_high
    return f"{high}" if low == high else f"{low}-{high}"


def fmt_counts(series: Optional[Series]) -> str:
    """`connections / sessions` over the runs (a range if they differed)."""
    if series is None:
        return "-"
    conn, sess = series.count("connections"), series.count("sessions")
    if conn is None or sess is None:
        return "-"
    return f"{fmt_range(conn)} / {fmt_range(sess)}"


def counts_lines(results: Results, sizes: list[int], shown: Sequence[Account],
                 meta: dict[str, object]) -> list[str]:
    """Round trips of each timed command, as the counting ssh logged them."""
    head = " | ".join(f"N={n:,}" for n in sizes)
    rows: list[tuple[str, str]] = []
    for account in shown:
        where = "" if len(shown) == 1 else f" ({account.key})"
        rows += [(f"push of the change: `git push`, our hook{where}",
                  f"push/{account.flow('ours')}"),
                 (f"pull of the change: `git pull`, our hook{where}",
                  f"pull/{account.flow('ours')}")]
    for account in shown:
        where = "" if len(shown) == 1 else f" ({account.key})"
        rows += [(f"push of the change: seed's `rsync -r -P`{where}",
                  f"push/{account.flow('seed')}"),
                 (f"pull of the change: seed's `rsync -r -P`{where}",
                  f"pull/{account.flow('seed')}")]
    rows += [("`dvc-synced fetch --git-fetch` of the change", "fetch/change"),
             ("`dvc-synced fetch`, nothing new", "fetch/noop"),
             ("`git pull` after that fetch", "fetch/pull-after-fetch")]
    for mode in ("plain", "pre-commit"):
        for op, label in (("code-push", "push of a code-only commit"),
                          ("code-pull", "pull of a code-only commit"),
                          ("uptodate-push", "push, already up to date"),
                          ("uptodate-pull", "pull, already up to date")):
            rows.append((f"no-op: {label} ({mode} hooks)", f"noop/{op}/{mode}"))
    body = []
    for label, key in rows:
        cells = [fmt_counts(results.get(f"{key}/{n}")) for n in sizes]
        if any(c != "-" for c in cells):
            body.append(f"| {label} | {' | '.join(cells)} |")
    if not body:
        return []
    cost = wrapper_ms(results)
    return ["", "ssh round trips per command, counted by a wrapper given as ssh-command "
            "(connections / sessions; a range where the runs differed). A connection is an "
            "ssh handshake; a session runs a command on it and starts the server account's "
            "shell. DVC's ssh remote speaks ssh in Python (one connection, sftp, no shell) and "
            "is not counted."
            + ("" if cost is None else f" The wrapper (a `sh` that logs, then execs ssh) "
               f"adds {cost[0]:.1f} ms to each ssh call it counts ({cost[1]:.1f} ms between "
               "the medians, under this run's load)."),
            "", f"| command | {head} |", "|---|" + "---|" * len(sizes), *body]


def wrapper_ms(results: Results) -> Optional[tuple[float, float]]:
    """The wrapper's cost per call, ms: (fastest wrapped run minus fastest direct one,
    difference of the medians). Load from elsewhere only ever adds, so the minima are the
    steadier figure of a millisecond-sized difference; the medians show it under load."""
    direct, wrapped = results.get("wrapper/direct"), results.get("wrapper/wrapped")
    if not (direct and wrapped):
        return None
    fastest = [min(s.seconds for s in series.samples) for series in (direct, wrapped)]
    return (max(0.0, (fastest[1] - fastest[0]) * 1000),
            max(0.0, (wrapped.median - direct.median) * 1000))


def ssh_cost_lines(results: Results, shown: Sequence[Account]) -> list[str]:
    rows = []
    for account in shown:
        connect = results.get(f"ssh/connect/{account.key}")
        session = results.get(f"ssh/session/{account.key}")
        if connect or session:
            rows.append(f"| {account.label} | {account.login} | {fmt_s(connect)} | "
                        f"{fmt_s(session)} |")
    if not rows:
        return []
    runs = max(len(s.samples) for k, s in results.series.items() if k.startswith("ssh/"))
    return ["", f"What ssh itself costs against each server account (median of {runs}):", "",
            "| server account | login | bare `ssh host true` (handshake + session) | "
            "one more session on an open connection |", "|---|---|---|---|", *rows]


def targets(results: Results, sizes: list[int], meta: dict[str, object]) -> list[dict]:
    out: list[dict] = []
    small, large = sizes[0], sizes[-1]
    for op in ("push", "pull"):
        scale = ratio(results.get(f"{op}/ours/{large}"), results.get(f"{op}/ours/{small}"))
        out.append({
            "target": f"{op} of the change at N={large:,} <= "
                      f"{TARGETS['scale_ratio_max']}x its time at N={small:,}",
            "measured": fmt_ratio(scale),
            "met": None if scale is None or small == large
            else scale <= TARGETS["scale_ratio_max"],
        })
        vs = ratio(results.get(f"{op}/seed/{large}"), results.get(f"{op}/ours/{large}"))
        out.append({
            "target": f"{op} at N={large:,} >= {TARGETS['vs_seed_min']:.0f}x faster than the seed",
            "measured": fmt_ratio(vs),
            "met": None if vs is None else vs >= TARGETS["vs_seed_min"],
        })
    shown = shown_accounts(meta)
    for account in shown:
        if account is ROOT:
            continue
        where = f" ({account.key} account)"
        for op in ("push", "pull"):
            flow = account.flow("ours")
            scale = ratio(results.get(f"{op}/{flow}/{large}"), results.get(f"{op}/{flow}/{small}"))
            out.append({
                "target": f"{op} of the change at N={large:,} <= "
                          f"{TARGETS['scale_ratio_max']}x its time at N={small:,}{where}",
                "measured": fmt_ratio(scale),
                "met": None if scale is None or small == large
                else scale <= TARGETS["scale_ratio_max"],
            })
    for account in shown:
        where = "" if account is ROOT else f" ({account.key} account)"
        ours, bare = (results.get(f"bulk/{account.flow(w)}") for w in ("ours", "bare"))
        share = ratio(bare, ours)
        out.append({
            "target": f"bulk throughput >= {TARGETS['bulk_min']:.0%} of bare rsync{where}",
            "measured": "-" if share is None else f"{share:.0%}",
            "met": None if share is None else share >= TARGETS["bulk_min"],
        })
    out += count_targets(results, sizes, shown)
    for op in ("code-push", "code-pull", "uptodate-push"):
        base = results.get(f"noop/{op}/none/{large}")
        plain = results.get(f"noop/{op}/plain/{large}")
        extra = (plain.median - base.median) * 1000 if plain and base else None
        out.append({
            "target": f"no-op {op} with plain hooks <= +{TARGETS['noop_extra_ms_max']:.0f} ms "
                      "over git alone",
            "measured": "-" if extra is None else f"{extra:+.0f} ms",
            "met": None if extra is None else extra <= TARGETS["noop_extra_ms_max"],
        })
    peaks = [results.get(f"{op}/ours/{large}") for op in ("push", "pull")]
    peak = max((s.peak_mb for s in peaks if s), default=None)
    out.append({
        "target": f"peak memory at N={large:,} <= {TARGETS['memory_mb_max']:.0f} MB",
        "measured": "-" if peak is None else f"{peak:.0f} MB",
        "met": None if peak is None else peak <= TARGETS["memory_mb_max"],
    })
    return out


def most(results: Results, keys: Sequence[str], what: str) -> Optional[int]:
    """The highest count `what` over the series `keys` (None: none of them was counted)."""
    values = [c[1] for k in keys if (s := results.get(k)) and (c := s.count(what))]
    return max(values) if values else None


def count_targets(results: Results, sizes: list[int], shown: Sequence[Account]) -> list[dict]:
    """Round-trip targets (issue #14), over every size and server account measured."""
    def keyset(op: str) -> list[str]:
        return [f"{op}/{a.flow('ours')}/{n}" for a in shown for n in sizes]

    out: list[dict] = []
    conn, sess = most(results, keyset("push"), "connections"), most(results, keyset("push"),
                                                                     "sessions")
    out.append({
        "target": f"push of a change: {TARGETS['push_connections_max']} ssh connection and "
                  f"<= {TARGETS['push_sessions_max']} sessions",
        "measured": "-" if conn is None or sess is None
        else f"{conn} connection(s), {sess} sessions",
        "met": None if conn is None or sess is None
        else conn <= TARGETS["push_connections_max"] and sess <= TARGETS["push_sessions_max"],
    })
    sess = most(results, keyset("pull"), "sessions")
    out.append({
        "target": f"pull of a change: <= {TARGETS['pull_sessions_max']} ssh sessions",
        "measured": "-" if sess is None else f"{sess} sessions",
        "met": None if sess is None else sess <= TARGETS["pull_sessions_max"],
    })
    noop = [f"noop/{op}/{mode}/{n}" for op in ("code-push", "code-pull", "uptodate-push",
                                               "uptodate-pull")
            for mode in ("plain", "pre-commit") for n in sizes]
    conn = most(results, noop, "connections")
    out.append({
        "target": f"no-op push and pull (plain hooks and pre-commit): "
                  f"{TARGETS['noop_connections_max']} ssh connections",
        "measured": "-" if conn is None else f"{conn} connections at most",
        "met": None if conn is None else conn <= TARGETS["noop_connections_max"],
    })
    return out


BEGIN = "<!-- results: written by `python benchmarks/run.py --readme`, not by hand -->"
END = "<!-- end of results -->"


def update_readme(path: Path, table: str, meta: dict[str, object]) -> None:
    """Replace what lies between the markers with this run's tables: no hand-copied figure."""
    m = meta["machine"]
    assert isinstance(m, dict)
    readme.write_block(path, BEGIN, END, [
        f"Run of {meta['started']} (`{meta['command']}`, {meta['seconds']} s; dvc-synced "
        f"{m['dvc_synced_commit']}) on {m['cores']} cores ({m['cpu']}), "
        f"{m['memory_gb']} GB RAM, {m['os']}; Python {m['python']}, DVC {m['dvc']}, "
        f"dvc-ssh {m['dvc_ssh']}, {m['git']}, {m['rsync']}, {m['ssh']}.",
        "",
        table,
    ])


# ------------------------------------------------------------------------------------ main


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--s3" in argv:  # issue #14: S3 at volume, its own module, options and results file
        from benchmarks import s3
        return s3.main([a for a in argv if a != "--s3"])
    if "--rclone" in argv:  # issue #23: rclone over sftp vs rsync, webdav vs a bare copy
        from benchmarks import rclone_rows
        return rclone_rows.main([a for a in argv if a != "--rclone"])
    if "--wire" in argv:  # issue #23: every row of it from one run, one table
        from benchmarks import wire
        return wire.main([a for a in argv if a != "--wire"])
    if "--fleet" in argv:  # issue #25: N clients at once, its own options and results file
        from benchmarks import fleet
        return fleet.main([a for a in argv if a != "--fleet"])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--s3", action="store_true", help="run only the S3 benchmark "
                        "(benchmarks/s3.py; see its --help, e.g. --s3-size)")
    parser.add_argument("--rclone", action="store_true", help="run only the rclone rows "
                        "(benchmarks/rclone_rows.py: sftp vs rsync, webdav vs a bare copy)")
    parser.add_argument("--wire", action="store_true", help="every row of issue #23 in one "
                        "table (benchmarks/wire.py; see its --help, e.g. --wire-s3-sizes)")
    parser.add_argument("--fleet", action="store_true", help="run only the N-clients-at-once "
                        "benchmark (benchmarks/fleet.py; see its --help, e.g. --clients)")
    parser.add_argument("--sizes", help="project sizes in objects (default 1000,10000,100000)")
    parser.add_argument("--repeat", type=int, help="counted runs per measurement (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted runs first (default 1)")
    parser.add_argument("--bulk-mib", type=int, help="bulk push size in MiB (default 1024)")
    parser.add_argument("--quick", action="store_true",
                        help="sizes 1000,10000, 3 runs, 256 MiB bulk: a fast check")
    parser.add_argument("--skip", default="", help="comma list of phases to skip: "
                        "change,noop,bulk,fetch,ssh")
    parser.add_argument("--flows", default=",".join(FLOWS),
                        help="workflows to compare (default ours,seed,native); a quick look "
                        "at ours alone leaves the others' clones behind until their next run")
    parser.add_argument("--accounts", default="root,clean",
                        help="server accounts for the ssh figures (default root,clean: root, "
                        f"whose .bashrc runs pyenv init here, and {CLEAN.login}, created with "
                        "Debian's default .bashrc when running as root)")
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/dvc-synced-bench"),
                        help="where projects are built and kept between runs")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached projects")
    parser.add_argument("--readme", action="store_true",
                        help="also put the tables into benchmarks/README.md (between markers)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results.json")
    parser.add_argument("--huge", action="store_true", help="the 10^6 tier alone (issue #14): "
                        "benchmarks/huge.py, results-huge.json; set-up ~15 min once")
    args = parser.parse_args(argv)
    if args.huge:
        from benchmarks import huge

        return huge.main(args.workdir, args.repeat or 3, args.warmup, args.rebuild, args.readme,
                         Path(__file__).resolve().parent / "results-huge.json",
                         " ".join(["python", "benchmarks/run.py", *(argv or sys.argv[1:])]))
    default_sizes = "1000,10000" if args.quick else "1000,10000,100000"
    sizes = sorted(int(s) for s in (args.sizes or default_sizes).split(","))
    if sizes[0] < 100:
        parser.error("sizes must be at least 100 objects")
    repeat = args.repeat or (3 if args.quick else 5)
    bulk_mib = args.bulk_mib or (256 if args.quick else 1024)
    skip = set(filter(None, args.skip.split(",")))
    flows = [f for f in FLOWS if f in args.flows.split(",")]
    if "ours" not in flows:
        parser.error("--flows must include ours")
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    wanted = [a for a in args.accounts.split(",") if a]
    if "root" not in wanted or not set(wanted) <= set(accounts.ACCOUNTS):
        parser.error(f"--accounts: a comma list of {', '.join(accounts.ACCOUNTS)}, with root")

    meta: dict[str, object] = {
        "command": " ".join(["python", "benchmarks/run.py", *(argv or sys.argv[1:])]),
        "sizes": sizes, "repeat": repeat, "warmup": args.warmup, "bulk_mib": bulk_mib,
        "changed_objects": CHANGED_FILES + 1, "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    results = Results()
    results.note_load("start")
    started = time.monotonic()
    args.workdir.mkdir(parents=True, exist_ok=True)
    server, port, login = start_sshd(args.workdir)
    global COUNT_LOG
    COUNT_LOG = args.workdir / "ssh" / "counts.log"
    try:
        others: list[tuple[Account, accounts.Login]] = []  # server accounts besides root
        found = clean_account(args.workdir) if "clean" in wanted else None
        if found is not None:
            others.append(found)
        shown = [ROOT, *(account for account, _ in others)]
        meta["accounts"] = [a.key for a in shown]
        meta["account_logins"] = {a.key: a.login for a in shown}
        flows += [account.flow(f) for account, _ in others for f in FLOWS if f in flows]
        if "ssh" not in skip:
            log("  ssh itself: a bare `ssh host true` per account, the counting wrapper")
            ssh_costs(args.workdir, shown, max(10, 2 * repeat), results)
            wrapper_cost(args.workdir, 100, results)
        projects = [fixture.prepare(args.workdir, n, port, login, args.rebuild, log, others)
                    for n in sizes]
        meta["projects"] = {p.size: json.loads((p.root / "READY").read_text())
                            for p in projects}
        rng = random.Random(time.time_ns())
        for rep in range(args.warmup + repeat):
            counted = rep >= args.warmup
            results.note_load(f"run {rep + 1}")
            # Sizes interleaved: a burst of load from elsewhere hits every size alike.
            for project in rotated(projects, rep):
                log(f"  n={project.size:,} run {rep + 1}/{args.warmup + repeat}"
                    f"{'' if counted else ' (warm-up)'}")
                if "change" not in skip:
                    change_rep(project, rep, counted, results, rng,
                               [f for f in flows if rep <= args.warmup or f not in ONCE_FLOWS])
                if "noop" not in skip:
                    noop_rep(project, rep, counted, results)
                if "fetch" not in skip:
                    fetch_rep(project, rep, counted, results, rng)
        if "bulk" not in skip:
            results.note_load("bulk")
            log(f"  bulk: {bulk_mib} MiB")
            bulk(args.workdir, bulk_mib, repeat, args.warmup, results, others)
        results.note_load("end")
    finally:
        server.stop()  # type: ignore[attr-defined]
    meta["seconds"] = round(time.monotonic() - started, 1)
    text, extra = report(results, sizes, meta)
    print(text)
    payload = {
        "meta": meta,
        "load": results.loads,
        "results": {k: v.as_dict() for k, v in sorted(results.series.items())},
        **extra,
        "table": text,
    }
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    log(f"wrote {args.out} ({meta['seconds']}s)")
    if args.readme:  # benchmarks/README.md only: README.md and docs/ link to it
        update_readme(readme.PAGE, text, meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
