"""The hot-state contract (spec §9) on a real Redis server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from server.adapters.redis_hot_state import HotStateUnavailable, RedisHotState


@pytest.fixture
async def hot(redis_url: str) -> AsyncIterator[RedisHotState]:
    state = RedisHotState(redis_url, "ns", "v9")
    await state.client.flushdb()
    yield state
    await state.close()


async def test_keys_are_namespaced_in_redis(hot: RedisHotState) -> None:
    await hot.set(hot.key("cache:opportunity:abc"), b"v", 10_000)
    assert await hot.client.keys("*") == [b"ns:v9:cache:opportunity:abc"]
    assert 0 < await hot.client.pttl("ns:v9:cache:opportunity:abc") <= 10_000


async def test_values_expire_after_their_ttl(hot: RedisHotState) -> None:
    await hot.set("k", b"v", ttl_ms=60)
    assert await hot.get("k") == b"v"
    await asyncio.sleep(0.15)
    assert await hot.get("k") is None


async def test_lock_is_exclusive_and_only_the_holder_releases_it(hot: RedisHotState) -> None:
    token = await hot.acquire_lock("lock:x", 5_000)
    assert token
    assert await hot.acquire_lock("lock:x", 5_000) is None
    assert await hot.release_lock("lock:x", "not-the-token") is False
    assert await hot.renew_lock("lock:x", "not-the-token", 5_000) is False
    assert await hot.release_lock("lock:x", token) is True
    assert await hot.acquire_lock("lock:x", 5_000) is not None


async def test_renew_extends_the_lease(hot: RedisHotState) -> None:
    token = await hot.acquire_lock("lock:r", 100)
    assert token and await hot.renew_lock("lock:r", token, 60_000)
    assert await hot.client.pttl("lock:r") > 1_000


async def test_an_expired_lock_cannot_be_renewed(hot: RedisHotState) -> None:
    first = await hot.acquire_lock("lock:e", 50)
    assert first
    await asyncio.sleep(0.15)
    assert await hot.renew_lock("lock:e", first, 5_000) is False
    second = await hot.acquire_lock("lock:e", 5_000)
    assert second and second != first
    assert await hot.release_lock("lock:e", first) is False


async def test_two_clients_racing_for_one_lock(redis_url: str) -> None:
    clients = [RedisHotState(redis_url, "race", "v1") for _ in range(2)]
    try:
        key = clients[0].key("lock:leader")
        results = await asyncio.gather(*(c.acquire_lock(key, 5_000) for c in clients for _ in range(10)))
        assert sum(1 for r in results if r) == 1
    finally:
        for c in clients:
            await c.close()


async def test_unreachable_redis_fails_with_a_clear_message() -> None:
    state = RedisHotState("redis://127.0.0.1:1/0")
    with pytest.raises(HotStateUnavailable, match=re.escape("redis://127.0.0.1:1/0 cannot be reached")):
        await state.ping()
    await state.close()
