"""The settlement worker's loop in process, over a real SQLite store: leadership, stopping, alerts, settings.

The worker as a separate process (signals, metrics over HTTP, several workers)
is covered in ``tests/e2e/test_worker.py``; here the gateway is a fake that the
test holds and lets go, so that "in the middle of a job" is exact, not timed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.adapters.alerts import Alert, Alerter
from server.adapters.billing import SimulatedGateway
from server.adapters.hot_state import MemoryHotState
from server.adapters.leader_lease import HotStateLease
from server.app import build_services
from server.domain.billing import GatewayResult
from server.domain.models import EventReceipt, SettlementReceipt, SettlementRetryJob
from server.services import receipts, settlements
from server.services.context import Services
from server.settings import Settings, SettingsError
from server.worker import SettlementWorker, WorkerSettings
from server.worker_http import WorkerMetrics

from .conftest import MovableClock


class HeldGateway(SimulatedGateway):
    """Settles, but each submission waits until the test lets it go."""

    def __init__(self, outcome: GatewayResult | None = None) -> None:
        self.entered = asyncio.Event()
        self.go = asyncio.Event()
        self.calls: list[str] = []
        self.outcome = outcome

    async def submit(self, settlement: SettlementReceipt, job: SettlementRetryJob) -> GatewayResult:
        self.calls.append(settlement.settlement_id)
        self.entered.set()
        await self.go.wait()
        return self.outcome or await super().submit(settlement, job)


class ListSink:
    name = "list"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def send(self, client: object, alert: Alert) -> None:
        self.alerts.append(alert)


@pytest.fixture
async def svc(tmp_path: Path, clock: MovableClock) -> AsyncIterator[Services]:
    services = await build_services(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/worker.sqlite3"))
    services.clock = clock
    try:
        yield services
    finally:
        await services.close()


async def queue(svc: Services, n: int, prefix: str = "loop") -> list[str]:
    ids = []
    for i in range(n):
        receipt = EventReceipt(
            receipt_id=f"rcpt_{prefix}_{i}",
            data_provenance="real_event",
            intent_id=f"int_{prefix}_{i}",
            offer_id="offer_hubflow",
            campaign_id="cmp_hubflow",
            partner_id="partner_procure_pilot",
            event_type="shortlisted",
            occurred_at=svc.clock(),
            signature="sig",
        )
        result = await receipts.record_receipt(svc, receipt)
        assert result.settlement is not None
        ids.append(result.settlement.settlement_id)
    return ids


def make_worker(
    svc: Services, hot: MemoryHotState, sink: ListSink | None = None, **config: int
) -> SettlementWorker:
    settings = WorkerSettings(
        **{"interval_ms": 50, "leader_lease_ms": 1000, "shutdown_grace_ms": 60_000, **config}
    )
    alerter = Alerter(svc.hot, [sink] if sink else [], suppression_seconds=300)
    return SettlementWorker(
        svc, settings, HotStateLease(hot, settings.leader_lease_ms), alerter, WorkerMetrics()
    )


def value(worker: SettlementWorker, name: str) -> float:
    sample = worker.metrics.registry.get_sample_value(f"promotion_agent_worker_{name}")
    assert sample is not None, name
    return sample


async def statuses(svc: Services) -> dict[str, str]:
    return {
        s.settlement_id: s.status
        for s in await svc.store.read(lambda uow: uow.settlements.list_settlements())
    }


async def test_the_leader_works_the_batch_and_a_standby_does_nothing(svc: Services) -> None:
    ids = await queue(svc, 5)
    shared = MemoryHotState()  # the hot state both workers see
    leader, standby = make_worker(svc, shared, batch_size=3), make_worker(svc, shared)
    await leader.tick()
    await standby.tick()
    assert (value(leader, "is_leader"), value(standby, "is_leader")) == (1, 0)
    assert (value(leader, "jobs_processed_total"), value(leader, "jobs_settled_total")) == (3, 3)
    assert value(standby, "jobs_processed_total") == 0 and value(standby, "leadership_skipped_total") == 1
    assert value(leader, "retry_jobs_open") == 2 == value(standby, "retry_jobs_open")
    await leader.tick()
    assert value(leader, "jobs_settled_total") == 5 and value(leader, "runs_total") == 2
    assert value(leader, "leadership_acquired_total") == 1
    assert set((await statuses(svc)).values()) == {"settled"} and len(ids) == 5
    assert leader.health()[1]["role"] == "leader" and standby.health()[1]["role"] == "standby"


async def test_a_stop_lets_the_job_in_hand_finish_and_releases_the_lease(svc: Services) -> None:
    ids = await queue(svc, 3)
    svc.gateway = gateway = HeldGateway()
    shared = MemoryHotState()
    worker = make_worker(svc, shared)
    serving = asyncio.create_task(worker.serve())
    await gateway.entered.wait()
    worker.request_stop("SIGTERM")
    assert worker.health()[0] == 503 and worker.health()[1]["status"] == "stopping"
    gateway.go.set()
    await asyncio.wait_for(serving, 30)
    assert gateway.calls == ids[:1]  # finished that one, started no other
    assert await statuses(svc) == {ids[0]: "settled", ids[1]: "pending", ids[2]: "pending"}
    assert await HotStateLease(shared, 1000).acquire_or_renew()  # the lease was given back
    assert value(worker, "is_leader") == 0


async def test_a_second_stop_abandons_the_job_which_is_taken_again_after_its_claim(
    svc: Services, clock: MovableClock
) -> None:
    [sid] = await queue(svc, 1)
    svc.gateway = gateway = HeldGateway()
    worker = make_worker(svc, MemoryHotState())
    serving = asyncio.create_task(worker.serve())
    await gateway.entered.wait()
    worker.request_stop("SIGTERM")
    worker.request_stop("SIGINT")
    await asyncio.wait_for(serving, 30)
    assert await statuses(svc) == {sid: "processing"}  # abandoned mid-submission, still claimed

    svc.gateway = SimulatedGateway()
    assert (await settlements.process_queue(svc, 10)).processed_count == 0  # its claim still holds
    clock.advance(seconds=11)  # past the 10 s claim
    assert (await settlements.process_queue(svc, 10)).settled_count == 1
    assert await statuses(svc) == {sid: "settled"}


async def test_the_grace_period_ends_a_job_that_never_returns(svc: Services) -> None:
    [sid] = await queue(svc, 1)
    svc.gateway = gateway = HeldGateway()
    worker = make_worker(svc, MemoryHotState(), shutdown_grace_ms=0)
    serving = asyncio.create_task(worker.serve())
    await gateway.entered.wait()
    worker.request_stop("SIGTERM")
    await asyncio.wait_for(serving, 30)
    assert await statuses(svc) == {sid: "processing"}


async def test_a_run_with_failures_alerts_once_per_window(svc: Services) -> None:
    await queue(svc, 2)
    failed = GatewayResult(
        ok=False, retryable=False, provider_state="failed", code="POLICY_BLOCKED", message="no"
    )
    svc.gateway = HeldGateway(failed)
    svc.gateway.go.set()
    sink = ListSink()
    worker = make_worker(svc, MemoryHotState(), sink)
    await worker.tick()
    [alert] = sink.alerts
    assert (alert.severity, alert.title, alert.message) == (
        "critical",
        "Settlement worker failure",
        "Failed settlements: 2",
    )
    assert alert.details["responseCodes"] == ["POLICY_BLOCKED"] and len(alert.settlement_ids) == 2
    assert (value(worker, "jobs_failed_total"), value(worker, "dlq_open_total")) == (2, 2)
    assert value(worker, "alerts_sent_total") == 1

    await queue(svc, 1, prefix="later")
    await worker.tick()
    assert len(sink.alerts) == 1 and value(worker, "alerts_suppressed_total") == 1


async def test_failures_before_an_error_in_the_batch_are_still_alerted(svc: Services) -> None:
    await queue(svc, 2)

    class FailsThenBreaks(SimulatedGateway):
        calls = 0

        async def submit(self, settlement: SettlementReceipt, job: SettlementRetryJob) -> GatewayResult:
            self.calls += 1
            if self.calls > 1:
                raise RuntimeError("gateway bug")
            return GatewayResult(ok=False, retryable=False, provider_state="failed", code="FAILED")

    svc.gateway = FailsThenBreaks()
    sink = ListSink()
    worker = make_worker(svc, MemoryHotState(), sink)
    await worker.tick()
    assert [a.message for a in sink.alerts] == ["Failed settlements: 1"]
    status, body = worker.health()
    assert status == 503 and "gateway bug" in body["lastError"]
    assert value(worker, "runs_total") == 1 and value(worker, "jobs_failed_total") == 1


async def test_a_lease_store_that_fails_means_not_leading(svc: Services) -> None:
    await queue(svc, 1)

    class Broken(MemoryHotState):
        async def acquire_lock(self, key: str, lease_ms: int) -> str | None:
            raise ConnectionError("hot state down")

    worker = make_worker(svc, Broken())
    await worker.tick()
    assert value(worker, "is_leader") == 0 and value(worker, "jobs_processed_total") == 0
    status, body = worker.health()
    assert status == 503 and "hot state down" in body["lastError"]


class CountingGateway(SimulatedGateway):
    """Settles after a short wait, counting how many submissions are in flight at once."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.calls: list[str] = []

    async def submit(self, settlement: SettlementReceipt, job: SettlementRetryJob) -> GatewayResult:
        self.calls.append(settlement.settlement_id)
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        await asyncio.sleep(0.02)
        self.in_flight -= 1
        return await super().submit(settlement, job)


async def test_a_concurrent_batch_overlaps_submissions_and_settles_each_once(svc: Services) -> None:
    ids = await queue(svc, 10)
    svc.gateway = gateway = CountingGateway()
    worker = make_worker(svc, MemoryHotState(), batch_size=10, concurrency=4)
    assert await worker.hold_lease()
    await worker.run_batch()
    assert gateway.most == 4  # never more than the bound, and the bound is used
    assert sorted(gateway.calls) == sorted(ids)  # each claimed and submitted once
    assert await statuses(svc) == dict.fromkeys(ids, "settled")
    assert worker.last_run == {"settled": 10, "rescheduled": 0, "failed": 0, "skipped": 0}


async def test_two_concurrent_runs_over_one_queue_submit_each_job_once(svc: Services) -> None:
    """Two batches racing for the same due jobs (as two leaders would after a lost lease): the database
    claim decides, so every settlement reaches the provider once."""
    ids = await queue(svc, 12)
    svc.gateway = gateway = CountingGateway()
    first, second = await asyncio.gather(
        settlements.process_queue(svc, 12, concurrency=6), settlements.process_queue(svc, 12, concurrency=6)
    )
    assert sorted(gateway.calls) == sorted(ids)
    settled = [i.settlement_id for r in (first, second) for i in r.items if i.outcome == "settled"]
    assert sorted(settled) == sorted(ids)
    assert await statuses(svc) == dict.fromkeys(ids, "settled")


async def test_a_stop_during_a_concurrent_batch_finishes_those_in_flight_and_starts_no_more(
    svc: Services,
) -> None:
    ids = await queue(svc, 6)
    svc.gateway = gateway = HeldGateway()
    worker = make_worker(svc, MemoryHotState(), batch_size=6, concurrency=2)
    serving = asyncio.create_task(worker.serve())
    await gateway.entered.wait()
    await asyncio.sleep(0.05)  # both of the first pair are inside the provider call
    worker.request_stop("SIGTERM")
    gateway.go.set()
    await asyncio.wait_for(serving, 30)
    assert sorted(gateway.calls) == sorted(ids[:2])
    assert await statuses(svc) == {**dict.fromkeys(ids[:2], "settled"), **dict.fromkeys(ids[2:], "pending")}


def test_worker_settings_defaults_and_errors_name_the_variable() -> None:
    assert WorkerSettings.from_env({}) == WorkerSettings(
        interval_ms=5000,
        leader_lease_ms=15000,
        batch_size=20,
        metrics_port=9464,
        alert_suppression_seconds=300,
    )
    assert WorkerSettings.from_env({"SETTLEMENT_WORKER_CONCURRENCY": "32"}).concurrency == 32
    bad = [
        ({"SETTLEMENT_WORKER_INTERVAL_MS": "soon"}, "SETTLEMENT_WORKER_INTERVAL_MS must be a whole number"),
        ({"SETTLEMENT_WORKER_BATCH_SIZE": "0"}, "SETTLEMENT_WORKER_BATCH_SIZE must be between 1 and 1000"),
        ({"SETTLEMENT_WORKER_CONCURRENCY": "0"}, "SETTLEMENT_WORKER_CONCURRENCY must be between 1 and 256"),
        (
            {"SETTLEMENT_WORKER_METRICS_PORT": "70000"},
            "SETTLEMENT_WORKER_METRICS_PORT must be between 0 and 65535",
        ),
        (
            {"SETTLEMENT_WORKER_LEADER_LEASE_MS": "4000"},
            "SETTLEMENT_WORKER_LEADER_LEASE_MS (4000) must be longer",
        ),
        ({"ALERT_SUPPRESSION_SECONDS": "-1"}, "ALERT_SUPPRESSION_SECONDS must be at least 0"),
        ({"ALERT_WEBHOOK_URL": "ops-channel"}, "ALERT_WEBHOOK_URL must be an http(s) URL"),
        ({"SLACK_WEBHOOK_URL": "ftp://x"}, "SLACK_WEBHOOK_URL must be an http(s) URL"),
    ]
    for env, message in bad:
        with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
            WorkerSettings.from_env(env)
