"""Several server processes sharing one database (and Redis): receipts stay exactly-once.

Not parametrised by the suite's backend: each test names the deployment it checks.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.backends import PostgresServer
from tests.support import ServerProcess, receipt, start_server


def _pair(tmp_path: Path, env: dict[str, str]) -> list[ServerProcess]:
    servers: list[ServerProcess] = []
    try:
        for i in range(2):
            servers.append(start_server(tmp_path / f"s{i}", env))
    except Exception:
        for s in servers:
            s.stop()
        raise
    return servers


async def _race(servers: list[ServerProcess], count: int) -> tuple[list[tuple[int, ...]], set[str]]:
    outcomes: list[tuple[int, ...]] = []
    settlement_ids: set[str] = set()
    async with httpx.AsyncClient(timeout=20) as client:
        for _ in range(count):
            body = receipt()
            responses = await asyncio.gather(
                *(client.post(f"{s.base_url}/events/receipts", json=body) for s in servers)
            )
            outcomes.append(tuple(sorted(r.status_code for r in responses)))
            ids = {r.json()["settlement"]["settlementId"] for r in responses}
            assert len(ids) == 1, f"the twins were answered with different settlements: {ids}"
            settlement_ids |= ids
    return outcomes, settlement_ids


def _check(
    servers: list[ServerProcess], outcomes: list[tuple[int, ...]], settlement_ids: set[str], count: int
):
    assert outcomes == [(200, 201)] * count
    for server in servers:
        stored = httpx.get(f"{server.base_url}/settlements", params={"campaignId": "cmp_hubflow"}).json()
        assert {s["settlementId"] for s in stored} == settlement_ids
        jobs = httpx.get(f"{server.base_url}/settlements/retry-jobs", params={"limit": 100}).json()
        assert sorted(j["settlementId"] for j in jobs) == sorted(settlement_ids)


def test_two_servers_on_postgres_and_redis_store_each_receipt_once(
    tmp_path: Path, postgres: PostgresServer, redis_url: str
) -> None:
    env = {
        "DATABASE_URL": postgres.url(postgres.create_database()),
        "REDIS_URL": redis_url,
        "HOT_STATE_NAMESPACE": "shared-" + tmp_path.name,
    }
    servers = _pair(tmp_path, env)
    try:
        for server in servers:
            profile = httpx.get(f"{server.base_url}/system/runtime-profile").json()
            assert (profile["persistence"], profile["hotState"]) == ("postgres", "redis")
        outcomes, ids = asyncio.run(_race(servers, 25))
        _check(servers, outcomes, ids, 25)
    finally:
        for s in servers:
            s.stop()


@pytest.mark.parametrize("hot_state", ["memory", "redis"])
def test_two_servers_on_one_sqlite_file_store_each_receipt_once(
    tmp_path: Path, redis_url: str, hot_state: str
):
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/shared.sqlite3"}
    if hot_state == "redis":
        env |= {"REDIS_URL": redis_url, "HOT_STATE_NAMESPACE": "shared-" + tmp_path.name}
    servers = _pair(tmp_path, env)
    try:
        outcomes, ids = asyncio.run(_race(servers, 25))
        _check(servers, outcomes, ids, 25)
    finally:
        for s in servers:
            s.stop()
