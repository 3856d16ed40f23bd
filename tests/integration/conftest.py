"""Services over a real store (SQLite in a temporary folder) with a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.app import build_services
from server.services.context import Services
from server.settings import Settings


class MovableClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime(2026, 3, 11, 12, 0, 0, tzinfo=UTC))


@pytest.fixture(params=["sqlite", "postgres", "postgres+redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The same suite runs on embedded SQLite, on a real PostgreSQL, and on PostgreSQL with Redis."""
    if request.param == "sqlite":
        return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/store.sqlite3")
    database_url = request.getfixturevalue("postgres_url")
    if request.param == "postgres":
        return Settings(database_url=database_url)
    namespace = "test-" + Path(tmp_path).name  # a private key space per test on the shared server
    return Settings(
        database_url=database_url,
        redis_url=request.getfixturevalue("redis_url"),
        hot_state_namespace=namespace,
    )


@pytest.fixture
async def services(backend: Settings, clock: MovableClock) -> AsyncIterator[Services]:
    svc = await build_services(backend)
    svc.clock = clock
    try:
        yield svc
    finally:
        await svc.close()
