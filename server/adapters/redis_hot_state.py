"""Hot state on Redis (spec §9), shared by every server and worker process.

Keys are ``{namespace}:{version}:…`` like the in-memory implementation. Locks
are ``SET key token NX PX lease``; renew and release are Lua compare-and-set
scripts, so only the holder of the token can touch its lock, and an expired
lock (the key is gone) can never be renewed.
"""

from __future__ import annotations

import secrets

import redis.asyncio as redis
from redis.exceptions import RedisError

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


class HotStateUnavailable(RuntimeError):
    """Redis could not be reached or used; the message names the URL."""


class RedisHotState:
    kind = "redis"

    def __init__(self, url: str, namespace: str = "promotion-agent", version: str = "v1") -> None:
        self.url = url
        self.prefix = f"{namespace}:{version}:"
        self.client = redis.Redis.from_url(url, socket_connect_timeout=3, health_check_interval=30)
        self._renew = self.client.register_script(_RENEW)
        self._release = self.client.register_script(_RELEASE)

    async def ping(self) -> None:
        """Fail fast at start-up with a clear message when Redis is not there."""
        try:
            await self.client.ping()
        except (RedisError, OSError) as exc:
            raise HotStateUnavailable(f"REDIS_URL {redact_url(self.url)} cannot be reached: {redact_text(str(exc))}") from None

    def key(self, suffix: str) -> str:
        return self.prefix + suffix

    async def get(self, key: str) -> bytes | None:
        return await self.client.get(key)

    async def set(self, key: str, value: bytes, ttl_ms: int) -> None:
        await self.client.set(key, value, px=ttl_ms)

    async def delete(self, key: str) -> None:
        await self.client.delete(key)

    async def acquire_lock(self, key: str, lease_ms: int) -> str | None:
        token = secrets.token_hex(16)
        acquired = await self.client.set(key, token, nx=True, px=lease_ms)
        return token if acquired else None

    async def renew_lock(self, key: str, token: str, lease_ms: int) -> bool:
        return bool(await self._renew(keys=[key], args=[token, lease_ms]))

    async def release_lock(self, key: str, token: str) -> bool:
        return bool(await self._release(keys=[key], args=[token]))

    async def close(self) -> None:
        await self.client.aclose()
