"""The retry policy: which failures are transient (with the strings the real tools print,
collected here from OpenSSH 9.2, rsync 3.5.0 and rclone 1.60.1 against a real sshd with
MaxStartups shedding, a stopped port, a stranger's key, an unknown host and a missing
path), and the backoff's bounds."""

from __future__ import annotations

import pytest

from dvc_synced_plugin.errors import SyncError
from dvc_synced_plugin.transports.retry import (
    GaveUp,
    Retry,
    Transient,
    rclone_cause,
    rsync_cause,
    ssh_cause,
)

RSYNC_12 = ("rsync: connection unexpectedly closed (0 bytes received so far) [Receiver]\n"
            "rsync error: error in rsync protocol data stream (code 12) at io.c(285) "
            "[Receiver=3.5.0]\n")

# sshd (default MaxStartups) shedding 60 simultaneous `ssh -o LogLevel=INFO` logins: the
# two forms it produced, and what the harness's `LogLevel ERROR` leaves of them.
SSH_SHED = [
    "kex_exchange_identification: read: Connection reset by peer\n"
    "Connection reset by 127.0.0.1 port 24023\n",
    "kex_exchange_identification: Connection closed by remote host\n"
    "Connection closed by 127.0.0.1 port 24023\n",
    "kex_exchange_identification: read: Connection reset by peer\n",
    "kex_exchange_identification: Connection closed by remote host\n",
]
SSH_REFUSED = "ssh: connect to host 127.0.0.1 port 42373: Connection refused\n"
# A server that sends its banner and closes (or resets) before the key exchange is done.
SSH_CLOSED_PREAUTH = ["Connection reset by 127.0.0.1 port 34445\n",
                      "Connection closed by 127.0.0.1 port 36807\n"]

SSH_PERMANENT = {
    "key refused": "root@127.0.0.1: Permission denied (publickey).\n",
    "unknown host": "ssh: Could not resolve hostname no-such-host.invalid: "
                    "Name or service not known\n",
    "unknown host key": "No ED25519 host key is known for [127.0.0.1]:24022 and you have "
                        "requested strict checking.\nHost key verification failed.\n",
    "too many keys": "Received disconnect from 127.0.0.1 port 22:2: Too many authentication "
                     "failures\nDisconnected from 127.0.0.1 port 22\n",
}


@pytest.mark.parametrize("stderr", SSH_SHED + [SSH_REFUSED] + SSH_CLOSED_PREAUTH)
def test_ssh_connection_level_failures_are_transient(stderr: str) -> None:
    cause = ssh_cause(stderr)
    assert cause is not None and cause in stderr


@pytest.mark.parametrize("stderr", SSH_PERMANENT.values(), ids=SSH_PERMANENT.keys())
def test_ssh_permanent_failures_are_not_retried(stderr: str) -> None:
    assert ssh_cause(stderr) is None


def test_a_permanent_cause_wins_over_a_transient_line() -> None:
    both = "Connection closed by 127.0.0.1 port 22\n" + SSH_PERMANENT["key refused"]
    assert ssh_cause(both) is None


def test_unrecognised_and_empty_failures_fail_at_once() -> None:
    assert ssh_cause("") is None
    assert ssh_cause("ssh: connect to host 10.0.0.1 port 22: Connection timed out\n") is None
    assert ssh_cause("Connection to dvc-server closed by remote host.\n") is None


@pytest.mark.parametrize("ssh_line", [SSH_SHED[2], SSH_SHED[3], SSH_REFUSED])
def test_rsync_over_ssh_shed_before_its_protocol_started(ssh_line: str) -> None:
    stderr = ssh_line + RSYNC_12
    assert rsync_cause(stderr, 12) == ssh_line.strip()


def test_rsync_failures_that_are_not_transient() -> None:
    # a stranger's key: rsync exits 255 after ssh's refusal
    auth = (SSH_PERMANENT["key refused"] + "rsync: connection unexpectedly closed (0 bytes "
            "received so far) [Receiver]\nrsync error: unexplained error (code 255) at "
            "io.c(285) [Receiver=3.5.0]\n")
    assert rsync_cause(auth, 255) is None
    assert rsync_cause(SSH_PERMANENT["unknown host"] + RSYNC_12, 12) is None
    missing = ('rsync: [sender] change_dir "/nonexistent" failed: No such file or directory '
               "(2)\nrsync error: some files/attrs were not transferred (see previous "
               "errors) (code 23) at main.c(1956) [Receiver=3.5.0]\n"
               "rsync: [Receiver] write error: Broken pipe (32)\n")
    assert rsync_cause(missing, 23) is None
    # ssh gone after data moved: not a connection set-up failure, not retried
    midway = (SSH_CLOSED_PREAUTH[0] + "rsync: connection unexpectedly closed (8231 bytes "
              "received so far) [sender]\nrsync error: error in rsync protocol data stream "
              "(code 12) at io.c(232) [sender=3.5.0]\n")
    assert rsync_cause(midway, 12) is None
    # the banner-then-close server under LogLevel ERROR: ssh said nothing, so nothing
    # tells it from a server without rsync; fail at once
    assert rsync_cause(RSYNC_12, 12) is None
    no_rsync = "bash: line 1: rsync: command not found\n" + RSYNC_12
    assert rsync_cause(no_rsync, 12) is None


RCLONE_NEWFS = '2026/12/06 02:35:00 Failed to create file system for "c:/tmp/rx/s": NewFs: '


@pytest.mark.parametrize("tail", [
    "couldn't connect SSH: ssh: handshake failed: read tcp 127.0.0.1:51970->127.0.0.1:24022: "
    "read: connection reset by peer",
    "couldn't connect SSH: dial tcp 127.0.0.1:33271: connect: connection refused",
    "couldn't connect SSH: ssh: handshake failed: EOF",
])
def test_rclone_connection_failures_are_transient(tail: str) -> None:
    cause = rclone_cause(RCLONE_NEWFS + tail + "\n", 1)
    assert cause is not None and cause.endswith(tail) and not cause.startswith("2026")


def test_rclone_hash_it_could_not_read_is_transient() -> None:
    """16 rclone-over-sftp pulls at once: one remote md5sum gave nothing (rclone 1.60)."""
    stderr = ('2026/12/06 03:19:23 ERROR : Attempt 3/3 failed with 2 errors and: corrupted on '
              'transfer: md5 hash differ "" vs "8a3aef42053b46ecc6450d1838985cf5"\n'
              "2026/12/06 03:19:23 Failed to copy with 2 errors: last error was: corrupted on "
              'transfer: md5 hash differ "" vs "8a3aef42053b46ecc6450d1838985cf5"\n')
    assert rclone_cause(stderr, 1) is not None
    flipped = stderr.replace('"" vs "8a3aef42053b46ecc6450d1838985cf5"',
                             '"8a3aef42053b46ecc6450d1838985cf5" vs ""')
    assert rclone_cause(flipped, 1) is not None
    # bytes that really differ are not retried
    corrupt = stderr.replace('"" vs', '"0cc175b9c0f1b6a831c399e269772661" vs')
    assert rclone_cause(corrupt, 1) is None


def test_rclone_own_retryable_exit() -> None:
    stderr = ("2026/12/06 02:40:00 ERROR : Attempt 3/3 failed with 1 errors and: "
              "503 Service Unavailable\n"
              "2026/12/06 02:40:00 Failed to copy: 503 Service Unavailable\n")
    assert rclone_cause(stderr, 5) == "Failed to copy: 503 Service Unavailable"
    assert rclone_cause(stderr, 1) is None


@pytest.mark.parametrize("stderr,code", [
    (RCLONE_NEWFS + "couldn't connect SSH: ssh: handshake failed: ssh: unable to "
     "authenticate, attempted methods [none publickey], no supported methods remain\n", 1),
    (RCLONE_NEWFS + "couldn't connect SSH: dial tcp: lookup no-such-host.invalid on "
     "10.255.255.53:53: no such host\n", 1),
    ("2026/12/06 02:35:05 ERROR : : error listing: directory not found\n"
     "2026/12/06 02:35:05 Failed to lsjson with 2 errors: last error was: error in "
     "ListJSON: directory not found\n", 3),
    ('2026/12/06 02:35:06 Failed to create file system for "nosuch:/x": didn\'t find '
     "section in config file\n", 1),
    # exit 5, but what failed is permanent
    ("2026/12/06 02:40:00 ERROR : a: Failed to copy: directory not found\n", 5),
])
def test_rclone_permanent_failures_are_not_retried(stderr: str, code: int) -> None:
    assert rclone_cause(stderr, code) is None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def policy(budget: float, clock: Clock, notes: list[str], rand: float = 0.5) -> Retry:
    return Retry(budget, rand=lambda: rand, clock=clock, sleep=clock.sleep,
                 notify=notes.append)


def test_retries_until_success_counted_and_shown() -> None:
    clock, notes = Clock(), []
    retry = policy(30, clock, notes)
    results = iter([Transient("cannot reach central (x)", "kex reset"),
                    Transient("cannot reach central (x)", "kex reset"), "done"])

    def attempt() -> str:
        item = next(results)
        if isinstance(item, Exception):
            raise item
        return item

    assert retry.call(attempt) == "done"
    assert retry.retries == 2
    assert len(notes) == 2 and "kex reset" in notes[0] and "retry 1" in notes[0]
    assert "retry 2" in notes[1]
    # exponential, half fixed half jittered: 0.5 -> [0.25, 0.5], 1.0 -> [0.5, 1.0]
    assert clock.slept == [0.375, 0.75]


def test_delays_grow_jittered_and_capped() -> None:
    low = Retry(60, rand=lambda: 0.0)
    high = Retry(60, rand=lambda: 0.999999)
    for n in range(1, 10):
        step = min(8.0, 0.5 * 2 ** (n - 1))
        assert low.delay(n) == pytest.approx(step / 2)
        assert step / 2 <= high.delay(n) <= step


def test_gives_up_within_the_timeout_and_says_so() -> None:
    clock, notes = Clock(), []
    retry = policy(10, clock, notes, rand=1.0)
    calls = []

    def attempt() -> None:
        calls.append(clock.now)
        raise Transient("cannot reach central over ssh at h (refused): check ssh", "refused")

    with pytest.raises(GaveUp) as info:
        retry.call(attempt)
    message = str(info.value)
    assert message.startswith("cannot reach central over ssh at h (refused)")
    assert f"gave up after {retry.retries} retries" in message
    assert "dvc-synced.timeout" in message
    assert calls[-1] - calls[0] <= 10
    assert retry.retries == len(calls) - 1 >= 3
    assert not isinstance(info.value, Transient)  # an outer retry loop does not repeat it


def test_not_transient_is_raised_at_once() -> None:
    clock, notes = Clock(), []
    retry = policy(30, clock, notes)
    calls = []

    def attempt() -> None:
        calls.append(1)
        raise SyncError("cannot reach central (Permission denied): fix the key")

    with pytest.raises(SyncError, match="Permission denied"):
        retry.call(attempt)
    assert calls == [1] and retry.retries == 0 and notes == [] and clock.slept == []


def test_a_budget_smaller_than_the_first_wait_fails_as_before() -> None:
    clock, notes = Clock(), []
    retry = policy(0.1, clock, notes)

    def attempt() -> None:
        raise Transient("cannot reach central (refused): check", "refused")

    with pytest.raises(SyncError) as info:
        retry.call(attempt)
    assert str(info.value) == "cannot reach central (refused): check"
    assert not isinstance(info.value, Transient) and retry.retries == 0
