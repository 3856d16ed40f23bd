"""The real_test lane on a real PostgreSQL, Redis and the mock billing adapter (``promotion-agent mock billing``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.support import REPO_ROOT, error_body, expect, opportunity, receipt, start_server, uid
from tests.support.cli import import_file, run_cli, write_jsonl
from tests.support.worker_fixtures import Processes
from workbench.app.client import ApiClient
from workbench.app.server_mode import ReplayRefused, check_replay_target
from workbench.cli import main as workbench_main

EXAMPLES = REPO_ROOT / "data" / "examples"


def table_counts(url: str) -> dict[str, int]:
    """Rows per table (and the schema revision), read with asyncpg: the server's own code is not used."""

    async def read() -> dict[str, int]:
        conn = await asyncpg.connect(url)
        try:
            names = [
                r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ]
            counts = {name: await conn.fetchval(f'SELECT count(*) FROM "{name}"') for name in names}
            counts["revision:" + str(await conn.fetchval("SELECT version_num FROM alembic_version"))] = 1
            return counts
        finally:
            await conn.close()

    return asyncio.run(read())


def test_demo_records_stop_real_test_before_anything_changes(postgres_url: str, redis_url: str) -> None:
    prepared = run_cli(["db", "init", "--mode", "demo"], {"DATABASE_URL": postgres_url})
    assert prepared.returncode == 0, prepared.stderr
    before = table_counts(postgres_url)
    assert before["receipts"] == 14

    done = run_cli(
        ["serve"],
        {
            "APP_MODE": "real_test",
            "DATABASE_URL": postgres_url,
            "REDIS_URL": redis_url,
            "BILLING_ADAPTER_URL": "http://127.0.0.1:1/settlements",
            "PORT": "0",
        },
    )
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(
        "promotion-agent: real_test mode refuses to start: the database holds demo records"
    )
    for named in ("agent_leads: 6", "partners: 3", "campaigns: 6", "settlements: 7", "receipts: 14"):
        assert named in line
    assert table_counts(postgres_url) == before


def test_the_real_test_lane_end_to_end(
    postgres_url: str,
    redis_url: str,
    processes: Processes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mock = processes.mock_billing()
    env = {"APP_MODE": "real_test", "DATABASE_URL": postgres_url}
    prepared = run_cli(["db", "init", "--mode", "real_test"], env)
    assert prepared.returncode == 0, prepared.stderr
    assert "seed records added: discoverySources=2" in prepared.stdout

    assert import_file("partners", EXAMPLES / "lumio-partner.json", env)[1]["importedCount"] == 1
    code, summary, err = import_file("campaigns", EXAMPLES / "lumio-campaign.json", env)
    assert (code, summary["importedCount"], summary.get("activatedCount")) == (0, 1, 1), err

    server = start_server(
        tmp_path / "server",
        {
            **env,
            "REDIS_URL": redis_url,
            "BILLING_ADAPTER_URL": mock.settlements_url,
        },
    )
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as api:
            profile = expect(api.get("/system/runtime-profile"), 200)
            assert (profile["mode"], profile["persistence"], profile["hotState"], profile["billingMode"]) == (
                "real_test",
                "postgres",
                "redis",
                "http",
            )
            assert profile["realDataOnly"] is True
            assert {p["dataProvenance"] for p in expect(api.get("/partners"), 200)} == {"real_partner"}

            intent = uid("rt_intent")
            body = expect(
                api.post("/opportunities/evaluate", json=opportunity(intent, constraints={"geo": ["US"]})),
                200,
            )
            served = {(s["campaignId"], s["partnerId"]) for s in body["shortlisted"]}
            assert ("cmp_lumio_real_001", "partner_lumio_real_001") in served
            lumio = {
                "intentId": intent,
                "campaignId": "cmp_lumio_real_001",
                "offerId": "offer_lumio_real_001",
                "partnerId": "partner_lumio_real_001",
            }

            refused = api.post("/events/receipts", json=receipt(**lumio, dataProvenance="demo_bootstrap"))
            assert refused.status_code == 422
            assert error_body(refused)["field"] == "dataProvenance"

            created = expect(api.post("/events/receipts", json=receipt(**lumio)), 201)
            settlement = created["settlement"]
            assert settlement["dataProvenance"] == "sandbox_settlement"
            processed = expect(api.post("/settlements/retry-queue/process", json={"limit": 10}), 200)
            assert processed["settledCount"] == 1
            assert settlement["settlementId"] in str(mock.events())

            # An imported receipt that says demo_seed is stored as real_event in real_test.
            feed = write_jsonl(
                tmp_path / "receipts.jsonl",
                [
                    receipt(**lumio, eventType="presented", dataProvenance="demo_seed"),
                ],
            )
            code, summary, err = import_file("receipts", feed, env | {"REDIS_URL": redis_url})
            assert (code, summary["importedCount"]) == (0, 1), err
            board = expect(api.get("/dashboard"), 200)
            assert board["countsByProvenance"]["receipts"] == {"real_event": 2}

        # The workbench refuses to replay scenario traffic into this server.
        async def replay_check() -> str:
            async with ApiClient(server.base_url) as client:
                with pytest.raises(ReplayRefused) as refused:
                    await check_replay_target(client)
                return str(refused.value)

        assert "runs in real_test mode (real data only)" in asyncio.run(replay_check())
        # and so do the command line and the replay itself, before anything is sent
        before = expect(httpx.get(f"{server.base_url}/dashboard", timeout=10), 200)["eventCounts"]
        assert (
            workbench_main(
                [
                    "replay",
                    str(REPO_ROOT / "scenarios" / "baseline.toml"),
                    "--api",
                    server.base_url,
                    "--limit",
                    "3",
                ]
            )
            == 1
        )
        assert "runs in real_test mode (real data only)" in capsys.readouterr().err
        assert expect(httpx.get(f"{server.base_url}/dashboard", timeout=10), 200)["eventCounts"] == before
    finally:
        server.stop()
