"""The three modes as a user starts them: ``python -m server serve`` with APP_MODE or ``--mode``.

real_test's refusals with SQLite only (the backends' own tests are in test_real_test.py);
the demo lane's bootstrap seen through the API, and the same at every start.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.support import ServerProcess, expect, spawn_server, wait_until_healthy
from tests.support.cli import run_cli
from workbench.app.client import ApiClient
from workbench.app.server_mode import check_replay_target, header_label

UNREACHABLE = {
    "DATABASE_URL": "postgresql://nobody:secret@127.0.0.1:1/none",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "BILLING_ADAPTER_URL": "http://127.0.0.1:1/settlements",
}


def test_real_test_without_backends_refuses_in_one_line_and_touches_nothing(tmp_path: Path) -> None:
    database = tmp_path / "never.sqlite3"
    done = run_cli(["serve"], {"APP_MODE": "real_test", "DATABASE_URL": f"sqlite:///{database}", "PORT": "0"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "promotion-agent: real_test mode refuses to start: REDIS_URL, BILLING_ADAPTER_URL are not set "
        "(it needs DATABASE_URL, REDIS_URL and BILLING_ADAPTER_URL)"
    ]
    assert not database.exists()


def test_mode_flag_wins_and_names_every_missing_variable() -> None:
    done = run_cli(["serve", "--mode", "real_test"], {"APP_MODE": "default", "PORT": "0"})
    assert done.returncode == 2
    assert "DATABASE_URL, REDIS_URL, BILLING_ADAPTER_URL are not set" in done.stderr


def test_app_mode_and_alias_disagreeing_stop_the_start() -> None:
    done = run_cli(["serve"], {"APP_MODE": "demo", "PROMOTION_AGENT_MODE": "default", "PORT": "0"})
    assert done.returncode == 2
    assert "APP_MODE='demo' and PROMOTION_AGENT_MODE='default' disagree" in done.stderr


@pytest.fixture(scope="module")
def demo_servers(tmp_path_factory: pytest.TempPathFactory) -> list[ServerProcess]:
    """Two demo servers (APP_MODE=demo) given backends that do not exist: demo must ignore them."""
    # Started together (the second with --mode demo is not possible through spawn_server: both use APP_MODE).
    servers = [
        spawn_server(tmp_path_factory.mktemp(f"demo{i}"), {"APP_MODE": "demo", **UNREACHABLE}) for i in (0, 1)
    ]
    for server in servers:
        wait_until_healthy(server)
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def demo(demo_servers: list[ServerProcess]) -> httpx.Client:
    with httpx.Client(base_url=demo_servers[0].base_url, timeout=10) as client:
        yield client


def test_demo_ignores_the_backends_and_says_so(demo: httpx.Client, demo_servers: list[ServerProcess]) -> None:
    profile = expect(demo.get("/system/runtime-profile"), 200)
    assert (profile["mode"], profile["persistence"], profile["hotState"], profile["billingMode"]) == (
        "demo",
        "sqlite",
        "memory",
        "simulated",
    )
    assert "in-memory SQLite" in profile["implies"]
    log = demo_servers[0].output()
    assert "demo mode ignores DATABASE_URL, REDIS_URL, BILLING_ADAPTER_URL" in log
    assert "secret" not in log
    assert not demo_servers[0].database_path.exists()  # nothing written to disk


def test_demo_bootstrap_is_on_the_dashboard(demo: httpx.Client) -> None:
    board = expect(demo.get("/dashboard"), 200)
    assert board["mode"] == "demo"
    assert board["settlementsByStatus"] == {
        "pending": 1,
        "processing": 0,
        "retry_scheduled": 1,
        "settled": 3,
        "disputed": 1,
        "failed": 1,
    }
    assert (board["dlqOpen"], board["retryJobsOpen"]) == (1, 2)
    assert board["countsByProvenance"]["receipts"] == {"demo_bootstrap": 14}
    assert board["eventCounts"]["conversion.attributed"] == 2
    assert board["qualifiedRecommendationRate"] == pytest.approx(3 / 7)  # 7 evaluated intents, 3 presented


def test_demo_seed_covers_every_lifecycle_state(demo: httpx.Client) -> None:
    campaigns = expect(demo.get("/campaigns"), 200)
    assert {c["status"] for c in campaigns} == {"draft", "reviewing", "active", "paused", "rejected"}
    assert {c["dataProvenance"] for c in campaigns} == {"demo_seed"}
    leads = expect(demo.get("/agents/leads"), 200)
    assert {lead["verificationStatus"] for lead in leads} == {
        "new",
        "reviewing",
        "verified",
        "active",
        "suspended",
    }


def test_demo_settlements_dlq_and_audit(demo: httpx.Client) -> None:
    disputed = expect(demo.get("/settlements", params={"status": "disputed"}), 200)
    assert [s["intentId"] for s in disputed] == ["demo-intent-04"] and disputed[0]["disputeFlag"] is True
    dlq = expect(demo.get("/settlements/dlq", params={"status": "open"}), 200)
    assert dlq["total"] == 1 and dlq["items"][0]["traceId"] == "demo-intent-06"
    audit = expect(demo.get("/audit-trail", params={"pageSize": 100}), 200)
    assert audit["total"] == 41
    assert {event["dataProvenance"] for event in audit["items"]} == {"demo_bootstrap"}
    assert {"opportunity", "receipt", "settlement"} <= {event["entityType"] for event in audit["items"]}


def test_demo_boots_to_the_same_data_every_time(demo_servers: list[ServerProcess]) -> None:
    def snapshot(server: ServerProcess) -> tuple:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            settlements = expect(client.get("/settlements"), 200)
            audit = expect(client.get("/audit-trail", params={"pageSize": 100}), 200)
        return (
            [(s["settlementId"], s["status"], s["generatedAt"]) for s in settlements],
            [(e["auditEventId"], e["occurredAt"]) for e in audit["items"]],
        )

    first, second = snapshot(demo_servers[0]), snapshot(demo_servers[1])
    assert first == second and len(first[0]) == 7


def test_the_workbench_may_replay_into_a_demo_server(demo_servers: list[ServerProcess]) -> None:
    async def check() -> dict:
        async with ApiClient(demo_servers[0].base_url) as client:
            return await check_replay_target(client)

    profile = asyncio.run(check())
    assert header_label(profile) == "mode demo"
    assert header_label({"mode": "real_test", "realDataOnly": True}) == "mode real_test (real data only)"


def test_the_mock_billing_adapter_is_not_bound_by_real_test_rules() -> None:
    done = run_cli(["mock", "billing", "--help"], {"APP_MODE": "real_test"})
    assert done.returncode == 0, done.stderr
