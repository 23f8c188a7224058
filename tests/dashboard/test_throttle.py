"""The failed-login limit per address: arithmetic on an injected clock, a bounded table, shared by forks."""

from __future__ import annotations

import gc
import multiprocessing
import os
import warnings

import pytest

from dashboard.throttle import BURST, PER_MINUTE, SLOTS, LoginThrottle, client_key


class _Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_500_wrong_passwords_take_at_least_60_s() -> None:
    """A client that waits exactly as long as told needs (500 - BURST) x 60 / PER_MINUTE s for 500 guesses."""
    clock = _Clock()
    throttle = LoginThrottle(clock=clock)
    start_s, checked_at = clock.now_s, []
    while len(checked_at) < 500:
        wait_s = throttle.retry_after_s("203.0.113.7")
        if wait_s > 0:
            clock.now_s += wait_s
            continue
        checked_at.append(clock.now_s)
        throttle.failed("203.0.113.7")
    took_s = clock.now_s - start_s
    assert took_s >= 60.0
    assert abs(took_s - (500 - BURST) * 60.0 / PER_MINUTE) < 1e-6
    # never more than BURST + PER_MINUTE checks in any minute
    for i, t in enumerate(checked_at):
        in_minute = sum(1 for u in checked_at[i:] if u < t + 60.0)
        assert in_minute <= BURST + PER_MINUTE


def test_addresses_have_their_own_buckets_and_refill() -> None:
    clock = _Clock()
    throttle = LoginThrottle(burst=3, per_minute=6.0, clock=clock)
    waits = [throttle.failed("198.51.100.1") for _ in range(3)]
    assert waits[:2] == [0.0, 0.0] and waits[2] == 10.0
    assert throttle.retry_after_s("198.51.100.1") == 10.0
    assert throttle.retry_after_s("198.51.100.2") == 0.0  # another address is not held up
    clock.now_s += 4.0
    assert abs(throttle.retry_after_s("198.51.100.1") - 6.0) < 1e-9
    clock.now_s += 6.0
    assert throttle.retry_after_s("198.51.100.1") == 0.0
    assert LoginThrottle.retry_after_header(0.2) == "1" and LoginThrottle.retry_after_header(6.0) == "6"


def test_checks_take_a_token_first_and_a_right_password_gives_it_back() -> None:
    """Concurrent checks cannot pass on the same last token; a successful login costs nothing."""
    clock = _Clock()
    throttle = LoginThrottle(burst=3, per_minute=6.0, clock=clock)
    assert [throttle.take("192.0.2.1") for _ in range(4)] == [0.0, 0.0, 0.0, 10.0]  # three in flight at once
    throttle.give_back("192.0.2.1")  # one of them had the right password
    assert throttle.take("192.0.2.1") == 0.0 and throttle.take("192.0.2.1") == 10.0
    for _ in range(20):  # a user who logs in right, again and again, is never held up
        assert throttle.take("192.0.2.2") == 0.0
        throttle.give_back("192.0.2.2")


def test_ipv6_counts_per_64_network() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    clock = _Clock()
    throttle = LoginThrottle(burst=2, clock=clock)
    throttle.failed("2001:db8::1")
    throttle.failed("2001:db8::2")
    assert throttle.retry_after_s("2001:db8::3") > 0


def test_a_spray_of_addresses_neither_grows_the_table_nor_frees_a_held_address() -> None:
    clock = _Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(BURST):
        throttle.failed("192.0.2.66")
    size = os.fstat(throttle._file.fileno()).st_size
    for i in range(3 * SLOTS):
        throttle.failed(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert os.fstat(throttle._file.fileno()).st_size == size == SLOTS * 32
    assert throttle.retry_after_s("192.0.2.66") > 0


def _fail_in_child(throttle: LoginThrottle, address: str, times: int) -> None:
    for _ in range(times):
        throttle.failed(address)


def test_forked_workers_share_one_table() -> None:
    """As gunicorn forks its workers from the process that built the app: failures in one count in all."""
    throttle = LoginThrottle()
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_fail_in_child, args=(throttle, "192.0.2.9", BURST // 2)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=30)
        assert child.exitcode == 0
    assert throttle.retry_after_s("192.0.2.9") > 0  # neither child alone used the whole burst


def test_a_dropped_throttle_closes_its_file() -> None:
    throttle = LoginThrottle()
    fd = throttle._file.fileno()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del throttle
        gc.collect()
    with pytest.raises(OSError):
        os.fstat(fd)
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]  # closed, not left to the collector
