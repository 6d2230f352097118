"""The benchmark's server accounts (benchmarks/accounts.py) and its round-trip reporting:
account set-up is idempotent, keys go in once, locked accounts are unlocked for key login,
and the counts a run records reach results and targets. Fakes for useradd (a test must not
create OS users); real files and chown for the rest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks import accounts, run
from benchmarks.accounts import CLEAN, ROOT, Login
from tests import counting

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchmarkKeyForTests bench@host"


class FakeSystem:
    """useradd/usermod and the passwd/shadow files, in memory (only `home` is real)."""

    def __init__(self, home: Path, shadow: Path) -> None:
        self.home = home
        self.shadow = shadow
        self.calls: list[list[str]] = []
        self.users: dict[str, Login] = {}

    def run(self, args: list[str]) -> None:
        self.calls.append(args)
        if args[0] == "useradd":
            name = args[-1]
            self.home.mkdir()
            self.users[name] = Login(name, self.home, os.getuid(), os.getgid())
            self.shadow.write_text(f"{name}:!:19000:0:99999:7:::\n")
        elif args[0] == "usermod":
            self.shadow.write_text(f"{args[-1]}:{args[2]}:19000:0:99999:7:::\n")

    def lookup(self, name: str) -> Login | None:
        return self.users.get(name)


def ensure(system: FakeSystem) -> Login:
    return accounts.ensure_account("dvcsrv", KEY, run=system.run, lookup=system.lookup,
                                   shadow=system.shadow, euid=lambda: 0)


def test_account_is_created_once_unlocked_and_keyed_once(tmp_path: Path) -> None:
    system = FakeSystem(tmp_path / "home", tmp_path / "shadow")
    first = ensure(system)
    assert system.calls == [["useradd", "-m", "-s", "/bin/bash", "dvcsrv"],
                            ["usermod", "-p", "*", "dvcsrv"]]
    assert not accounts.locked(system.shadow, "dvcsrv")
    keys = first.home / ".ssh" / "authorized_keys"
    assert keys.read_text() == KEY + "\n"
    assert oct(keys.stat().st_mode & 0o777) == "0o600"
    assert oct((first.home / ".ssh").stat().st_mode & 0o777) == "0o700"

    system.calls.clear()
    assert ensure(system) == first
    assert system.calls == []  # nothing to create or unlock the second time
    assert keys.read_text() == KEY + "\n"  # the key is not added twice


def test_an_existing_key_file_keeps_its_other_keys(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "authorized_keys").write_text("ssh-rsa OTHER admin\n")
    assert accounts.authorize(home, KEY + "\n", os.getuid(), os.getgid())
    assert not accounts.authorize(home, KEY, os.getuid(), os.getgid())
    assert (home / ".ssh" / "authorized_keys").read_text() == f"ssh-rsa OTHER admin\n{KEY}\n"


def test_not_root_is_one_line_and_touches_nothing(tmp_path: Path) -> None:
    system = FakeSystem(tmp_path / "home", tmp_path / "shadow")
    with pytest.raises(accounts.Unavailable) as exc:
        accounts.ensure_account("dvcsrv", KEY, run=system.run, lookup=system.lookup,
                                shadow=system.shadow, euid=lambda: 1000)
    assert "run the benchmark as root" in str(exc.value) and "\n" not in str(exc.value)
    assert system.calls == [] and not system.home.exists()


def test_locked_reads_only_the_named_account(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.write_text("root:*:1::::::\ndvcsrv:!:1::::::\nother:$6$x:1::::::\n")
    assert accounts.locked(shadow, "dvcsrv")
    assert not accounts.locked(shadow, "root") and not accounts.locked(shadow, "other")
    assert not accounts.locked(tmp_path / "missing", "dvcsrv")


def test_host_entry_is_roots_with_another_alias_and_login() -> None:
    root = ("Host dvc-server\n  HostName 127.0.0.1\n  Port 2222\n  User root\n"
            "  IdentityFile /k\n")
    assert accounts.host_entry(root, CLEAN) == (
        "Host dvc-server-clean\n  HostName 127.0.0.1\n  Port 2222\n  User dvcsrv\n"
        "  IdentityFile /k\n")


def test_flow_names_keep_roots_keys_as_before() -> None:
    assert ROOT.flow("ours") == "ours" and CLEAN.flow("ours") == "ours@clean"
    assert accounts.split_flow("native@clean") == ("native", CLEAN)
    assert accounts.split_flow("seed") == ("seed", ROOT)


def test_give_dirs_chowns_directories_only(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (store / "files" / "md5" / "ab").mkdir(parents=True)
    obj = store / "files" / "md5" / "ab" / "cdef"
    obj.write_text("x")
    seen: list[str] = []
    real = os.chown
    try:
        os.chown = lambda path, uid, gid: seen.append(str(path))  # type: ignore[assignment]
        accounts.give_dirs(store, Login("dvcsrv", tmp_path, 1, 1))
    finally:
        os.chown = real
    assert sorted(seen) == sorted(str(p) for p in [store, *store.rglob("*")] if p.is_dir())


def sample(seconds: float, conn: int, sess: int) -> run.Sample:
    return run.Sample(seconds, 1024, counting.Counts(connections=conn, sessions=sess))


def test_counts_reach_results_and_targets() -> None:
    results = run.Results()
    for n in (1000, 10000):
        for flow in ("ours", "ours@clean"):
            results.add(f"push/{flow}/{n}", sample(0.5, 1, 3), True)
            results.add(f"pull/{flow}/{n}", sample(0.4, 1, 2), True)
        results.add(f"noop/code-push/plain/{n}", sample(0.05, 0, 0), True)
    results.add("push/ours@clean/10000", sample(0.6, 1, 4), True)  # one run differed
    series = results.get("push/ours@clean/10000")
    assert series is not None
    assert series.count("sessions") == (3, 4)
    assert series.as_dict()["sessions_max"] == 4 and series.as_dict()["connections_min"] == 1
    assert run.fmt_counts(series) == "1 / 3-4"

    verdicts = {v["target"].split(":")[0]: v for v in
                run.count_targets(results, [1000, 10000], [ROOT, CLEAN])}
    assert verdicts["push of a change"]["met"] is False
    assert verdicts["push of a change"]["measured"] == "1 connection(s), 4 sessions"
    assert verdicts["pull of a change"]["met"] is True
    assert verdicts["no-op push and pull (plain hooks and pre-commit)"]["met"] is True
    table = "\n".join(run.counts_lines(results, [1000, 10000], [ROOT, CLEAN], {}))
    assert "| push of the change: `git push`, our hook (clean) | 1 / 3 | 1 / 3-4 |" in table


def test_timed_takes_the_counts_of_its_own_commands_only(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "counts.log"
    wrapper = counting.ssh_wrapper(tmp_path / "bin", log, ["true"])
    monkeypatch.setattr(run, "COUNT_LOG", log)
    env = dict(os.environ)
    os_run = [wrapper, "-o", "ControlMaster=no", "host", "true"]
    import subprocess

    subprocess.run(os_run, check=True)  # an untimed call before: not this command's
    got = run.timed([(os_run, tmp_path, env), (os_run, tmp_path, env)])
    assert got.counts == counting.Counts(sessions=2)


def test_account_part_is_rebuilt_for_a_recreated_account(tmp_path: Path) -> None:
    import json

    from benchmarks import fixture

    project = fixture.Project(1000, tmp_path, tmp_path)
    login = Login("dvcsrv", tmp_path, 1001, 1001)
    assert not fixture.account_built(project, CLEAN, login)  # never built
    fixture.account_ready(project, CLEAN).write_text(json.dumps({"login": "dvcsrv"}))
    assert not fixture.account_built(project, CLEAN, login)  # an older marker: no uid
    fixture.account_ready(project, CLEAN).write_text(
        json.dumps({"login": "dvcsrv", "uid": 1001}))
    assert not fixture.account_built(project, CLEAN, login)  # built before the seed's flow
    fixture.account_ready(project, CLEAN).write_text(
        json.dumps({"login": "dvcsrv", "uid": 1001, "flows": ["ours", "seed", "native"]}))
    assert fixture.account_built(project, CLEAN, login)
    assert not fixture.account_built(project, CLEAN, Login("dvcsrv", tmp_path, 1002, 1002))


def test_report_shows_both_server_shells_and_a_flow_run_once() -> None:
    results = run.Results()
    for n in (1000, 10000):
        for flow in ("ours", "seed", "native", "ours@clean", "native@clean"):
            for _ in range(3):
                results.add(f"push/{flow}/{n}", sample(1.0, 1, 3), True)
        results.add(f"push/seed@clean/{n}", sample(2.0, 1, 1), True)  # ONCE_FLOWS: one run
    text, extra = run.report(results, [1000, 10000],
                             {"repeat": 3, "warmup": 1, "accounts": ["root", "clean"]})
    assert f"| **{ROOT.label}** |" in text and f"| **{CLEAN.label}** |" in text
    clean_part = text.split(CLEAN.label, 1)[1]
    assert "| push: seed: git push + `dvc push` + `rsync -r -P` (1 run) | 2.00 s |" in clean_part
    assert "| push: `git push` (our plain hook) | 1.00 s |" in clean_part
    assert "(3 runs)" not in text and "(1 run)" not in text.split(CLEAN.label, 1)[0]
    assert any("clean account" in t["target"] for t in extra["targets"])


def test_a_real_account_logs_in_with_its_own_authorized_keys(tmp_path: Path, sshd) -> None:  # type: ignore[no-untyped-def]
    """Real useradd and the loopback sshd: the key in the new account's ~/.ssh is what lets
    it in (pytest's 0700 temp tree keeps the sshd's fixed key file out of its reach)."""
    import secrets
    import shutil
    import subprocess

    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root and useradd to create a real user")
    name = f"dvcsb{secrets.token_hex(3)}"
    pubkey = sshd.client_key.with_suffix(".pub").read_text()
    config = tmp_path / "ssh_config"
    config.write_text(accounts.host_entry(sshd.ssh_config.read_text(), accounts.Account(
        "t", name, "as-new-account", "t")))
    try:
        login = accounts.ensure_account(name, pubkey)
        assert accounts.shell_note(login) is None  # Debian's /etc/skel/.bashrc
        assert accounts.ensure_account(name, pubkey) == login  # again: nothing changes
        assert (login.home / ".ssh" / "authorized_keys").read_text().count(pubkey.strip()) == 1
        out = subprocess.run(["ssh", "-F", str(config), "as-new-account", "id", "-un"],
                             capture_output=True, text=True, stdin=subprocess.DEVNULL)
        assert (out.returncode, out.stdout.strip()) == (0, name), out.stderr
    finally:
        # sshd's child for the session may still be exiting: userdel refuses a user in use.
        import time

        for _ in range(25):
            if subprocess.run(["userdel", "-r", name], capture_output=True).returncode in (0, 6):
                break  # 6: no such user (it was never made)
            time.sleep(0.2)
