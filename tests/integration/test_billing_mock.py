"""The shipped mock billing adapter as a process, and retries / DLQ / replay through it (spec §7, §8).

``promotion-agent mock billing`` is started here as a user starts it; the
gateway under test talks to it over loopback. The second half drives the
settlement service the worker uses with a clock the test moves, so the backoff
schedule is checked to the second without waiting for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from server.adapters.billing import HttpGateway
from server.app import build_services
from server.domain.models import EventReceipt, SettlementReceipt, SettlementRetryJob
from server.services import receipts, settlements
from server.services.context import Services
from server.settings import Settings
from tests.support import REPO_ROOT
from tests.support.worker_fixtures import MockBilling, Processes

from .conftest import MovableClock
from .test_billing_http import SECRET, a_job, a_settlement, expect, gateway


@pytest.fixture(scope="module")
def mock_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    group = Processes(tmp_path_factory.mktemp("billing-mocks"))
    yield group
    group.stop_all()


@pytest.fixture(scope="module")
def plain_mock(mock_processes: Processes) -> MockBilling:
    return mock_processes.mock_billing()


@pytest.fixture(scope="module")
def signing_mock(mock_processes: Processes) -> MockBilling:
    return mock_processes.mock_billing(
        BILLING_ADAPTER_HMAC_SECRET=SECRET, BILLING_ADAPTER_API_KEY="key_live_1"
    )


@pytest.fixture
def mock(plain_mock: MockBilling) -> MockBilling:
    plain_mock.reset()
    return plain_mock


# ---------------------------------------------------------------------------
# The shipped mock adapter
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "mode", "state", "code"),
    [
        ("generic_v1", "settled", "settled", "SETTLED"),
        ("ledger_api_v2", "settled", "settled", "SETTLED"),
        ("generic_v1", "fail", "failed", "FAILED"),
        ("ledger_api_v2", "fail", "failed", "FAILED"),
        ("generic_v1", "retry", "retry", "RETRY"),
        ("ledger_api_v2", "retry", "retry", "TEMP_UNAVAILABLE"),
    ],
)
async def test_mock_modes_for_both_profiles(
    mock: MockBilling, profile: str, mode: str, state: str, code: str
) -> None:
    mock.set_mode(mode)
    gw = gateway(mock.settlements_url, profile=profile)
    result = await gw.submit(a_settlement(), a_job())
    await gw.close()
    expect(result, state, code)
    [event] = mock.events()["events"]
    assert event["profile"] == profile and event["settlementId"] == "set_1a2b3c4d"
    assert event["ids"]["intent_id"] == "int_http_1" and event["ids"]["campaign_id"] == "cmp_hubflow"
    if mode == "settled":
        assert (result.provider_settlement_id, result.provider_reference) == (
            "mock_set_1a2b3c4d",
            "int_http_1",
        )


@pytest.mark.parametrize(
    ("profile", "repeat_code"), [("generic_v1", "SETTLED"), ("ledger_api_v2", "DUPLICATE_SETTLED")]
)
async def test_mock_settles_an_idempotency_key_once(
    mock: MockBilling, profile: str, repeat_code: str
) -> None:
    gw = gateway(mock.settlements_url, profile=profile)
    first = await gw.submit(a_settlement(), a_job())
    again = await gw.submit(a_settlement(), a_job())
    await gw.close()
    expect(again, "settled", repeat_code)
    assert again.provider_settlement_id == first.provider_settlement_id
    events = mock.events()
    assert events["submissionsByKey"] == {"set_1a2b3c4d": 2}
    assert events["settledByKey"] == {"set_1a2b3c4d": 1}


@pytest.mark.parametrize("profile", ["generic_v1", "ledger_api_v2"])
async def test_mock_verifies_the_hmac_and_the_bearer_key(signing_mock: MockBilling, profile: str) -> None:
    signing_mock.reset()
    good = gateway(signing_mock.settlements_url, profile=profile, hmac_secret=SECRET, api_key="key_live_1")
    wrong = gateway(
        signing_mock.settlements_url, profile=profile, hmac_secret="not-the-secret", api_key="key_live_1"
    )
    unsigned = gateway(signing_mock.settlements_url, profile=profile, api_key="key_live_1")
    no_key = gateway(signing_mock.settlements_url, profile=profile, hmac_secret=SECRET)
    try:
        bad = await wrong.submit(a_settlement(settlement_id="set_bad00001"), a_job("set_bad00001"))
        missing = await unsigned.submit(a_settlement(settlement_id="set_bad00002"), a_job("set_bad00002"))
        refused = await no_key.submit(a_settlement(settlement_id="set_bad00003"), a_job("set_bad00003"))
        ok = await good.submit(a_settlement(), a_job())
    finally:
        for gw in (good, wrong, unsigned, no_key):
            await gw.close()
    expect(bad, "failed", "INVALID_SIGNATURE")
    expect(missing, "failed", "INVALID_SIGNATURE")
    expect(refused, "failed", "UNAUTHORIZED")
    expect(ok, "settled", "SETTLED")
    verdicts = [(e["settlementId"], e["signature"]) for e in signing_mock.events()["events"]]
    assert verdicts == [
        ("set_bad00001", "invalid"),
        ("set_bad00002", "missing"),
        ("set_bad00003", "valid"),
        ("set_1a2b3c4d", "valid"),
    ]


def test_mock_refuses_a_bad_mode_setting() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "server", "mock", "billing", "--port", "0"],
        cwd=REPO_ROOT,
        env={**os.environ, "BILLING_ADAPTER_MODE": "maybe"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "BILLING_ADAPTER_MODE must be one of settled, fail, retry" in done.stderr


# ---------------------------------------------------------------------------
# Retries, the dead-letter queue and replay, through the service the worker uses
# ---------------------------------------------------------------------------


@pytest.fixture
async def svc(tmp_path: Path, clock: MovableClock) -> AsyncIterator[Services]:
    services = await build_services(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/billing.sqlite3"))
    services.clock = clock
    try:
        yield services
    finally:
        await services.close()


async def queued_settlement(svc: Services, intent: str) -> SettlementReceipt:
    receipt = EventReceipt(
        receipt_id=f"rcpt_{intent}",
        data_provenance="real_event",
        intent_id=intent,
        offer_id="offer_hubflow",
        campaign_id="cmp_hubflow",
        partner_id="partner_procure_pilot",
        event_type="shortlisted",
        occurred_at=svc.clock(),
        signature="sig",
    )
    result = await receipts.record_receipt(svc, receipt)
    assert result.settlement is not None
    return result.settlement


async def job_of(svc: Services, settlement_id: str) -> SettlementRetryJob:
    job = await svc.store.read(lambda uow: uow.retry_jobs.get_retry_job_for(settlement_id))
    assert job is not None
    return job


async def test_retries_follow_the_backoff_then_the_dlq_then_replay_settles(
    svc: Services, clock: MovableClock, mock: MockBilling
) -> None:
    mock.set_mode("retry")
    svc.gateway = HttpGateway(mock.settlements_url, profile="ledger_api_v2")
    settlement = await queued_settlement(svc, "int_backoff")
    start = clock.now

    first = await settlements.process_queue(svc, 10)
    assert (first.processed_count, first.rescheduled_count) == (1, 1)
    job = await job_of(svc, settlement.settlement_id)
    assert (job.status, job.attempts, job.next_run_at) == (
        "retry_scheduled",
        1,
        start + timedelta(seconds=15),
    )

    clock.advance(seconds=14)  # not due yet
    assert (await settlements.process_queue(svc, 10)).processed_count == 0
    clock.advance(seconds=1)
    second = await settlements.process_queue(svc, 10)
    assert second.rescheduled_count == 1
    job = await job_of(svc, settlement.settlement_id)
    assert (job.attempts, job.next_run_at) == (2, clock.now + timedelta(seconds=30))

    clock.advance(seconds=29)
    assert (await settlements.process_queue(svc, 10)).processed_count == 0
    clock.advance(seconds=1)
    third = await settlements.process_queue(svc, 10)
    assert third.failed_count == 1 and third.items[0].provider_response_code == "TEMP_UNAVAILABLE"
    job = await job_of(svc, settlement.settlement_id)
    stored = await svc.store.read(lambda uow: uow.settlements.get_settlement(settlement.settlement_id))
    assert (job.status, job.attempts, stored.status) == ("failed", 3, "failed")
    entry = await svc.store.read(lambda uow: uow.dead_letters.get_dead_letter_for(settlement.settlement_id))
    assert entry is not None and (entry.status, entry.reason) == ("open", "worker_failed_max_attempts")
    assert mock.events()["submissionsByKey"] == {settlement.settlement_id: 3}

    clock.advance(hours=1)  # failed for good: nothing more happens on its own
    assert (await settlements.process_queue(svc, 10)).processed_count == 0

    mock.set_mode("settled")
    replayed = await settlements.replay_dead_letter(svc, entry.dlq_entry_id, "Provider back.")
    assert replayed.dlq_entry.status == "replayed"
    after = await settlements.process_queue(svc, 10)
    assert after.settled_count == 1
    stored = await svc.store.read(lambda uow: uow.settlements.get_settlement(settlement.settlement_id))
    assert (stored.status, stored.provider_settlement_id) == ("settled", f"mock_{settlement.settlement_id}")
    entry = await svc.store.read(lambda uow: uow.dead_letters.get_dead_letter_for(settlement.settlement_id))
    assert entry is not None and entry.status == "resolved" and entry.resolved_at is not None
    assert mock.events()["settledByKey"] == {settlement.settlement_id: 1}


async def test_a_refusal_fails_at_once_without_retrying(svc: Services, mock: MockBilling) -> None:
    mock.set_mode("fail")
    svc.gateway = HttpGateway(mock.settlements_url, profile="generic_v1")
    settlement = await queued_settlement(svc, "int_refused")
    result = await settlements.process_queue(svc, 10)
    assert (result.failed_count, result.items[0].attempts) == (1, 1)
    entry = await svc.store.read(lambda uow: uow.dead_letters.get_dead_letter_for(settlement.settlement_id))
    assert entry is not None and entry.status == "open"
