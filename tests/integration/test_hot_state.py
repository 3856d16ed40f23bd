"""The hot-state contract (spec §9) on the in-memory implementation."""

from __future__ import annotations

import asyncio

import pytest

from server.adapters.hot_state import ENTRY_OVERHEAD, MemoryHotState


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000.0

    def __call__(self) -> float:
        return self.ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hot(clock: Clock) -> MemoryHotState:
    return MemoryHotState("ns", "v9", now=clock)


def test_keys_are_namespaced_and_versioned(hot: MemoryHotState) -> None:
    assert hot.key("cache:opportunity:abc") == "ns:v9:cache:opportunity:abc"


async def test_values_expire_after_their_ttl(hot: MemoryHotState, clock: Clock) -> None:
    await hot.set("k", b"v", ttl_ms=100)
    clock.ms += 99
    assert await hot.get("k") == b"v"
    clock.ms += 1
    assert await hot.get("k") is None


async def test_lock_is_exclusive_until_released(hot: MemoryHotState) -> None:
    token = await hot.acquire_lock("lock:x", 1_000)
    assert token
    assert await hot.acquire_lock("lock:x", 1_000) is None
    assert await hot.release_lock("lock:x", "not-the-token") is False
    assert await hot.acquire_lock("lock:x", 1_000) is None
    assert await hot.release_lock("lock:x", token) is True
    assert await hot.acquire_lock("lock:x", 1_000) is not None


async def test_expired_lock_cannot_be_renewed_and_goes_to_the_next_taker(
    hot: MemoryHotState, clock: Clock
) -> None:
    first = await hot.acquire_lock("lock:x", 100)
    assert first and await hot.renew_lock("lock:x", first, 100)
    clock.ms += 100
    assert await hot.renew_lock("lock:x", first, 100) is False
    second = await hot.acquire_lock("lock:x", 100)
    assert second and second != first
    assert await hot.release_lock("lock:x", first) is False
    assert await hot.renew_lock("lock:x", second, 100) is True


async def test_two_clients_racing_for_one_lock_one_wins(hot: MemoryHotState) -> None:
    tokens = await asyncio.gather(*(hot.acquire_lock("lock:race", 5_000) for _ in range(20)))
    assert sum(1 for t in tokens if t) == 1


async def test_byte_cap_keeps_the_newest_values_that_fit_and_counts_what_it_holds(clock: Clock) -> None:
    entry = len("k00") + 1000 + ENTRY_OVERHEAD
    hot = MemoryHotState(max_bytes=5 * entry, now=clock)
    token = await hot.acquire_lock("lock:held", 120_000)
    for i in range(20):
        await hot.set(f"k{i:02d}", b"x" * 1000, 60_000)
    held = [i for i in range(20) if await hot.get(f"k{i:02d}") is not None]
    assert held == [15, 16, 17, 18, 19]
    assert hot._bytes == 5 * entry
    await hot.set("k19", b"y" * 10, 60_000)  # a smaller value replaces the old one's bytes
    await hot.delete("k15")
    assert hot._bytes == 3 * entry + len("k19") + 10 + ENTRY_OVERHEAD
    clock.ms += 61_000
    for i in range(16, 20):
        assert await hot.get(f"k{i:02d}") is None  # expired on read: its bytes go with it
    assert hot._bytes == 0
    assert token and await hot.renew_lock("lock:held", token, 60_000)


async def test_size_cap_evicts_oldest_values_but_never_locks(clock: Clock) -> None:
    hot = MemoryHotState(max_entries=3, now=clock)
    token = await hot.acquire_lock("lock:held", 60_000)
    for i in range(10):
        await hot.set(f"k{i}", b"v", 60_000)
    assert await hot.get("k0") is None and await hot.get("k9") == b"v"
    assert token and await hot.renew_lock("lock:held", token, 60_000)
