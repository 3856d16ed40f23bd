"""The worker's leader lease on each backend: hot state (memory, Redis), a file lock, a PostgreSQL advisory lock."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from server.adapters.hot_state import MemoryHotState
from server.adapters.leader_lease import AdvisoryLease, FileLease, HotStateLease, lease_for
from server.adapters.redis_hot_state import RedisHotState
from server.adapters.store.engine import create_engines, normalise_url
from server.adapters.store.store import SqlStore


class Clock:
    def __init__(self) -> None:
        self.ms = 0.0

    def __call__(self) -> float:
        return self.ms


async def test_hot_state_lease_is_exclusive_renewable_and_expires() -> None:
    clock = Clock()
    hot = MemoryHotState(now=clock)  # one shared store standing in for Redis
    a, b = HotStateLease(hot, 1500), HotStateLease(hot, 1500)
    assert await a.acquire_or_renew() and not await b.acquire_or_renew()
    clock.ms += 1000
    assert await a.acquire_or_renew()  # renewed: good for 1500 ms from now
    clock.ms += 1000
    assert not await b.acquire_or_renew()
    clock.ms += 500  # a stalled past its lease
    assert await b.acquire_or_renew()
    assert not await a.acquire_or_renew()  # an expired lease is never renewed
    await b.release()
    assert await a.acquire_or_renew()


async def test_hot_state_lease_on_redis(redis_url: str) -> None:
    one, two = RedisHotState(redis_url, "lease-test"), RedisHotState(redis_url, "lease-test")
    try:
        a, b = HotStateLease(one, 5000), HotStateLease(two, 5000)
        assert await a.acquire_or_renew() and not await b.acquire_or_renew()
        assert await one.client.pttl(one.key("leader:settlement-worker")) > 0
        await a.release()
        assert await b.acquire_or_renew() and not await a.acquire_or_renew()
        await b.release()
    finally:
        await one.close()
        await two.close()


async def test_file_lease_is_exclusive_and_released(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3.worker-leader.lock"
    a, b = FileLease(path), FileLease(path)
    assert await a.acquire_or_renew() and await a.acquire_or_renew()
    assert not await b.acquire_or_renew()
    await a.release()
    assert await b.acquire_or_renew() and not await a.acquire_or_renew()
    await b.release()


async def test_file_lease_is_freed_when_its_holder_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "leader.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(600)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        lease = FileLease(path)
        assert not await lease.acquire_or_renew()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        assert await lease.acquire_or_renew()
        await lease.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


@pytest.fixture
async def pg_engines(postgres_url: str) -> AsyncIterator[list]:
    engines = [create_async_engine(normalise_url(postgres_url), pool_size=2) for _ in range(2)]
    yield engines
    for engine in engines:
        await engine.dispose()


async def test_advisory_lease_on_postgres(pg_engines: list) -> None:
    first, second = pg_engines
    a, b = (
        AdvisoryLease(first, "pa:v1:leader:settlement-worker"),
        AdvisoryLease(second, "pa:v1:leader:settlement-worker"),
    )
    assert await a.acquire_or_renew() and await a.acquire_or_renew()
    assert not await b.acquire_or_renew()
    await a.release()
    assert await b.acquire_or_renew() and not await a.acquire_or_renew()
    # The holder's session ends (a crash): PostgreSQL frees the lock with it.
    await b.conn.invalidate()
    assert await a.acquire_or_renew()
    assert not await b.acquire_or_renew()
    await a.release()


async def test_each_deployment_gets_a_lease_all_its_workers_see(tmp_path: Path, redis_url: str) -> None:
    store = SqlStore(create_engines(f"sqlite+aiosqlite:///{tmp_path}/x.sqlite3"))
    memory_store = SimpleNamespace(engines=SimpleNamespace(kind="sqlite", url="sqlite+aiosqlite:///:memory:"))
    redis = RedisHotState(redis_url)
    try:
        file_lease = lease_for(MemoryHotState(), store, 15000)
        assert (
            isinstance(file_lease, FileLease) and file_lease.path == tmp_path / "x.sqlite3.worker-leader.lock"
        )
        assert isinstance(lease_for(redis, store, 15000), HotStateLease)
        assert isinstance(lease_for(MemoryHotState(), memory_store, 15000), HotStateLease)
    finally:
        await store.close()
        await redis.close()


async def test_postgres_without_redis_uses_the_advisory_lock(postgres_url: str) -> None:
    store = SqlStore(create_engines(postgres_url))
    try:
        assert isinstance(lease_for(MemoryHotState(), store, 15000), AdvisoryLease)
    finally:
        await store.close()
