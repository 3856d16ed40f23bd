"""Hot state (spec §9): namespaced keys with TTLs, and token locks.

The interface is what the services use; ``MemoryHotState`` is the default
implementation for one process. Keys are always
``{namespace}:{version}:{key}``. A lock is taken with a random token and a
lease; only the holder of the token may renew or release it, and an expired
lock can never be renewed (whoever takes it next owns it).

Memory use is bounded: expired entries are swept incrementally on writes, and
the live entries are capped in number and in bytes (oldest evicted first), so a
long run under load levels off within seconds rather than growing for as long as
the longest TTL (a receipt's cached answer lives 15 minutes: at 1,700 receipts a
second an entry cap alone let the process grow by 400 MB before it held). An
evicted value is only a slower answer: the database stays the last word on every
repeat (the receipt's unique id), and a lock is never evicted.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol


class HotState(Protocol):
    kind: str

    def key(self, suffix: str) -> str: ...

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_ms: int) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def acquire_lock(self, key: str, lease_ms: int) -> str | None: ...

    async def renew_lock(self, key: str, token: str, lease_ms: int) -> bool: ...

    async def release_lock(self, key: str, token: str) -> bool: ...

    async def close(self) -> None: ...


# TTLs and leases of spec §9, in milliseconds.
OPPORTUNITY_CACHE_TTL_MS = 12_000
# (The receipt lock and result times are the receipt rules' own: ``domain.receipts``; the settlement and
# worker leases the settlement rules': ``domain.settlement``.)
ALERT_SUPPRESSION_MS = 300_000
# What an entry costs beyond its key's and value's lengths on CPython 3.11: 146 bytes for the ordered
# dict's slot, the tuple and the float (tracemalloc, 20,000 entries), ~80 for the str and bytes headers.
ENTRY_OVERHEAD = 230


class MemoryHotState:
    """In-process hot state. ``now`` returns monotonic milliseconds (injectable for tests)."""

    kind = "memory"

    def __init__(
        self,
        namespace: str = "promotion-agent",
        version: str = "v1",
        max_entries: int = 200_000,
        now: Callable[[], float] | None = None,
        max_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.prefix = f"{namespace}:{version}:"
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._bytes = 0  # keys and values held, plus ENTRY_OVERHEAD each
        self._now = now or (lambda: time.monotonic() * 1000.0)
        # key -> (expires_at_ms, value); insertion order ~ expiry order for equal TTLs.
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._locks: dict[str, tuple[float, str]] = {}

    def key(self, suffix: str) -> str:
        return self.prefix + suffix

    def _live(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        expires_at, value = item
        if expires_at <= self._now():
            self._drop(key)
            return None
        return value

    def _drop(self, key: str) -> None:
        item = self._data.pop(key, None)
        if item is not None:
            self._bytes -= len(key) + len(item[1]) + ENTRY_OVERHEAD

    def _put(self, key: str, value: bytes, ttl_ms: int) -> None:
        now = self._now()
        self._drop(key)
        self._data[key] = (now + ttl_ms, value)
        self._bytes += len(key) + len(value) + ENTRY_OVERHEAD
        self._sweep(now)

    def _sweep(self, now: float) -> None:
        # Drop a few expired entries from the old end on every write, and cap the size.
        for _ in range(4):
            if not self._data:
                break
            oldest_key, (expires_at, _) = next(iter(self._data.items()))
            if expires_at <= now:
                self._drop(oldest_key)
            else:
                break
        while self._data and (len(self._data) > self.max_entries or self._bytes > self.max_bytes):
            self._drop(next(iter(self._data)))

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def set(self, key: str, value: bytes, ttl_ms: int) -> None:
        self._put(key, value, ttl_ms)

    async def delete(self, key: str) -> None:
        self._drop(key)

    # Locks live apart from cached values so the size cap can never evict a held lock;
    # their number is bounded by the work in flight, and expired ones are swept.
    def _lock_holder(self, key: str) -> str | None:
        item = self._locks.get(key)
        if item is None:
            return None
        expires_at, token = item
        if expires_at <= self._now():
            del self._locks[key]
            return None
        return token

    async def acquire_lock(self, key: str, lease_ms: int) -> str | None:
        if self._lock_holder(key) is not None:
            return None
        now = self._now()
        if len(self._locks) > 10_000:
            for stale in [k for k, (exp, _) in self._locks.items() if exp <= now]:
                del self._locks[stale]
        token = secrets.token_hex(16)
        self._locks[key] = (now + lease_ms, token)
        return token

    async def renew_lock(self, key: str, token: str, lease_ms: int) -> bool:
        if self._lock_holder(key) != token:
            return False
        self._locks[key] = (self._now() + lease_ms, token)
        return True

    async def release_lock(self, key: str, token: str) -> bool:
        if self._lock_holder(key) != token:
            return False
        del self._locks[key]
        return True

    async def close(self) -> None:
        self._data.clear()
        self._bytes = 0
        self._locks.clear()
