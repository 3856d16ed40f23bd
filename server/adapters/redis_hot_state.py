"""Hot state on Redis (spec §9), shared by every server and worker process.

Keys are ``{namespace}:{version}:…`` like the in-memory implementation. Locks
are ``SET key token NX PX lease``; renew and release are Lua compare-and-set
scripts, so only the holder of the token can touch its lock, and an expired
lock (the key is gone) can never be renewed.

When Redis stops answering, every call fails fast (``SOCKET_TIMEOUT_S`` to
connect or for a reply, no retry with back-off) with ``HotStateUnavailable``,
which the API answers 503 with ``Retry-After``: a request that needs the hot
state is refused rather than hung or answered from a guess. A connection the
pool kept from before a Redis restart is reconnected once at once, so the first
requests after Redis returns do not fail on a dead socket.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from ..domain.errors import ServiceUnavailable
from ..redaction import redact_text, redact_url

# KEYS[1] = lock key, ARGV[1] = token, ARGV[2] = lease in ms.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# How long a connect or a reply may take before the hot state counts as unavailable.
SOCKET_TIMEOUT_S = 0.5


class HotStateUnavailable(ServiceUnavailable):
    """Redis could not be reached or used; the message names the URL (without its password)."""


class RedisHotState:
    kind = "redis"

    def __init__(self, url: str, namespace: str = "promotion-agent", version: str = "v1") -> None:
        self.url = url
        self.shown_url = redact_url(url)
        self.prefix = f"{namespace}:{version}:"
        self.client = redis.Redis.from_url(
            url,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            # One immediate reconnect for a connection that broke (a dead socket kept from before a
            # restart); a timeout is never retried, so an unresponsive Redis costs one timeout.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            retry_on_timeout=False,
            health_check_interval=30,
        )
        self._renew = self.client.register_script(_RENEW)
        self._release = self.client.register_script(_RELEASE)

    @contextlib.contextmanager
    def _available(self) -> Iterator[None]:
        try:
            yield
        except (TimeoutError, RedisError, OSError) as exc:
            reason = redact_text(str(exc)).strip().rstrip(".") or type(exc).__name__
            raise HotStateUnavailable(
                f"The hot state (Redis at {self.shown_url}) is unavailable: {reason}. "
                "Nothing was acknowledged; send the same request again in a moment."
            ) from None

    async def ping(self) -> None:
        """Fail fast at start-up with a clear message when Redis is not there."""
        try:
            await self.client.ping()
        except (RedisError, OSError) as exc:
            raise HotStateUnavailable(
                f"REDIS_URL {self.shown_url} cannot be reached: {redact_text(str(exc))}"
            ) from None

    def key(self, suffix: str) -> str:
        return self.prefix + suffix

    async def get(self, key: str) -> bytes | None:
        with self._available():
            return await self.client.get(key)  # pyright: ignore[reportReturnType] - redis-py types get() as bytes | str whatever decode_responses; off here, so bytes

    async def set(self, key: str, value: bytes, ttl_ms: int) -> None:
        with self._available():
            await self.client.set(key, value, px=ttl_ms)

    async def delete(self, key: str) -> None:
        with self._available():
            await self.client.delete(key)

    async def acquire_lock(self, key: str, lease_ms: int) -> str | None:
        token = secrets.token_hex(16)
        with self._available():
            acquired = await self.client.set(key, token, nx=True, px=lease_ms)
        return token if acquired else None

    async def renew_lock(self, key: str, token: str, lease_ms: int) -> bool:
        with self._available():
            return bool(await self._renew(keys=[key], args=[token, lease_ms]))

    async def release_lock(self, key: str, token: str) -> bool:
        with self._available():
            return bool(await self._release(keys=[key], args=[token]))

    async def close(self) -> None:
        await self.client.aclose()
