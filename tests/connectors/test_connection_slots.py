"""Slot accounting of a listener: admission, eviction order, per-address shares, no leaks."""

from __future__ import annotations

import pytest

from connectors.connection_slots import ConnectionLimits, ListenerSlots, Slot, SlotPool


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def _slot(host: str, clock: Clock, closed: list[str], name: str) -> Slot:
    return Slot(host, close=lambda: closed.append(name), opened_s=clock())


def test_full_pool_closes_a_stalled_request_before_a_silent_one() -> None:
    clock, closed = Clock(), []
    pool = SlotPool("test", capacity=3, per_address=3, grace_s=5.0, clock=clock)
    slots = {name: _slot("10.0.0.1", clock, closed, name) for name in ("silent", "busy", "stalled")}
    for slot in slots.values():
        assert pool.admit(slot)
    clock.now_s += 10.0
    slots["busy"].last_request_s = clock.now_s
    slots["stalled"].request_started_s = clock.now_s - 1.0
    assert pool.admit(_slot("10.0.0.1", clock, closed, "new 1"))
    assert closed == ["stalled"]
    assert pool.admit(_slot("10.0.0.1", clock, closed, "new 2"))
    assert closed == ["stalled", "silent"]
    # the busy one and the two fresh ones are in use: the next newcomer is refused
    assert not pool.admit(_slot("10.0.0.1", clock, closed, "new 3"))
    assert closed == ["stalled", "silent"] and len(pool) == 3 and pool.refused == 1 and pool.evicted == 2


def test_fresh_connections_are_not_closed_for_a_newcomer() -> None:
    clock, closed = Clock(), []
    pool = SlotPool("test", capacity=2, per_address=2, grace_s=5.0, clock=clock)
    assert pool.admit(_slot("10.0.0.1", clock, closed, "a")) and pool.admit(_slot("10.0.0.1", clock, closed, "b"))
    clock.now_s += 4.9
    assert not pool.admit(_slot("10.0.0.1", clock, closed, "c"))
    assert closed == []


def test_an_address_at_its_share_gives_up_its_own_slot_and_a_full_pool_takes_from_the_heaviest() -> None:
    clock, closed = Clock(), []
    pool = SlotPool("test", capacity=4, per_address=3, grace_s=1.0, clock=clock)
    for index in range(3):
        assert pool.admit(_slot("10.0.0.66", clock, closed, f"hostile {index}"))
    clock.now_s += 0.5
    assert pool.admit(_slot("10.0.0.1", clock, closed, "friend"))
    clock.now_s += 2.0  # everyone is past the grace now
    assert pool.admit(_slot("10.0.0.66", clock, closed, "hostile 3"))  # at its share: its own oldest goes
    assert closed == ["hostile 0"]
    assert pool.admit(_slot("10.0.0.2", clock, closed, "other"))  # full: the heaviest address gives one up
    assert closed == ["hostile 0", "hostile 1"]
    assert pool.count("10.0.0.66") == 2 and pool.count("10.0.0.1") == 1 and pool.count("10.0.0.2") == 1


def test_release_is_idempotent_and_counts_return_to_zero() -> None:
    clock, closed = Clock(), []
    pool = SlotPool("test", capacity=2, per_address=2, grace_s=0.0, clock=clock)
    first, second = _slot("h", clock, closed, "1"), _slot("h", clock, closed, "2")
    assert pool.admit(first) and pool.admit(second)
    assert pool.release(first) and not pool.release(first)
    assert first not in pool and second in pool
    assert pool.admit(_slot("h", clock, closed, "3"))
    clock.now_s += 0.1
    assert pool.admit(_slot("h", clock, closed, "4"))  # grace 0: the oldest goes at once
    assert closed == ["2"] and not pool.release(second)
    for slot in pool.slots():
        pool.release(slot)
    assert len(pool) == 0 and pool.count("h") == 0


def test_listener_slots_close_everything_and_report() -> None:
    closed: list[str] = []
    slots = ListenerSlots("test", ConnectionLimits(max_connections=2, max_handshakes=2))
    assert slots.sessions.admit(Slot("h", close=lambda: closed.append("session")))
    assert slots.handshakes.admit(Slot("h", close=lambda: closed.append("handshake")))
    slots.events["request_timeout"] += 1
    stats = slots.stats()
    assert (stats.sessions, stats.handshakes, stats.request_timeout) == (1, 1, 1)
    slots.close_all()
    assert sorted(closed) == ["handshake", "session"]
    assert (slots.stats().sessions, slots.stats().handshakes) == (0, 0)


@pytest.mark.parametrize(
    "options",
    [{"max_connections": 0}, {"max_per_address": 0}, {"max_handshakes": 0}, {"idle_timeout_s": 0.0}],
)
def test_limits_must_be_positive(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        ConnectionLimits(**options)  # type: ignore[arg-type]
