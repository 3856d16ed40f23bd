"""The settlement worker's leader lease: at most one worker process at a time runs the queue.

The lease must be visible to every worker process, so where it lives follows the deployment:
- Shared hot state (Redis): a token lock ``leader:settlement-worker`` with a lease; the leader
  renews it every tick, and if it dies the lease runs out and a standby takes it.
- No shared hot state, PostgreSQL: a session advisory lock held on one dedicated connection;
  PostgreSQL drops it when the leader's connection dies.
- No shared hot state, SQLite (one machine by nature): an exclusive ``flock`` on a file next to
  the database file; the kernel drops it when the leader process dies (even under SIGKILL).
- In-memory SQLite: one process only, so an in-process lock is enough.

Exclusivity of each job never depends on the lease: every job is still claimed with a
compare-and-set on its database row (``services.settlements``). The lease keeps the
standbys idle, so the queue is worked in order by one process.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from .hot_state import HotState
from .store.dialect import ADVISORY_LOCK_HELD, ADVISORY_UNLOCK, TRY_ADVISORY_LOCK

log = logging.getLogger("promotion_agent.worker")

LEADER_KEY = "leader:settlement-worker"


class LeaderLease(Protocol):
    kind: str

    async def acquire_or_renew(self) -> bool:
        """True while this process holds the lease (taking it when free, renewing it when held)."""
        ...

    async def release(self) -> None:
        """Give the lease up now (on shutdown), so a standby need not wait for it to run out."""


class HotStateLease:
    kind = "hot-state"

    def __init__(self, hot: HotState, lease_ms: int) -> None:
        self.hot = hot
        self.lease_ms = lease_ms
        self.key = hot.key(LEADER_KEY)
        self.token: str | None = None

    async def acquire_or_renew(self) -> bool:
        if self.token is not None:
            if await self.hot.renew_lock(self.key, self.token, self.lease_ms):
                return True
            self.token = None  # it ran out (a long stall): someone else may lead now
        self.token = await self.hot.acquire_lock(self.key, self.lease_ms)
        return self.token is not None

    async def release(self) -> None:
        token, self.token = self.token, None
        if token is not None:
            await self.hot.release_lock(self.key, token)


class FileLease:
    kind = "file"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.fd: int | None = None

    async def acquire_or_renew(self) -> bool:
        if self.fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return True

    async def release(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock`` from the namespaced lease name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class AdvisoryLease:
    kind = "postgres-advisory"

    def __init__(self, engine: Any, name: str) -> None:
        self.engine = engine
        self.lock_id = advisory_key(name)
        unsigned = self.lock_id & 0xFFFFFFFFFFFFFFFF  # pg_locks shows a bigint key as two 32-bit oids
        self._hi, self._lo = unsigned >> 32, unsigned & 0xFFFFFFFF
        self.conn: Any = None

    async def acquire_or_renew(self) -> bool:
        if self.conn is not None:
            # Ask PostgreSQL whether this session still holds the lock: a connection that was lost
            # may have been replaced by a fresh session (SQLAlchemy reconnects) that holds nothing.
            try:
                held = await self.conn.scalar(ADVISORY_LOCK_HELD, {"hi": self._hi, "lo": self._lo})
                await self.conn.commit()
                if held:
                    return True
                log.warning("the leader session no longer holds its advisory lock")
            except Exception as exc:
                log.warning("leader connection lost (%s); the advisory lock went with it", exc)
            await self._drop(invalidate=True)
        conn = await self.engine.connect()
        try:
            got = await conn.scalar(TRY_ADVISORY_LOCK, {"k": self.lock_id})
            await conn.commit()
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self.conn = conn
        return True

    async def _drop(self, invalidate: bool = False) -> None:
        """Let go of the leader connection; ``invalidate`` discards it so that the pool can never
        hand out a session that might still hold the lock."""
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                if invalidate:
                    await conn.invalidate()
                await conn.close()
            except Exception:
                pass

    async def release(self) -> None:
        if self.conn is not None:
            try:
                await self.conn.execute(ADVISORY_UNLOCK, {"k": self.lock_id})
                await self.conn.commit()
            except Exception:
                await self._drop(invalidate=True)
            else:
                await self._drop()


def lease_for(hot: HotState, store: Any, lease_ms: int) -> LeaderLease:
    """The lease every worker of this deployment can see (see the module docstring)."""
    if hot.kind != "memory":
        return HotStateLease(hot, lease_ms)
    engines = store.engines
    if engines.kind == "postgres":
        return AdvisoryLease(engines.write, hot.key(LEADER_KEY))
    database = make_url(engines.url).database
    if database and database != ":memory:":
        return FileLease(Path(database).resolve().with_name(Path(database).name + ".worker-leader.lock"))
    return HotStateLease(hot, lease_ms)
