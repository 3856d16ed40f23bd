"""Use cases over a real SQLite store: exactly-once receipts, crash recovery of claims, budgets."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from server.adapters.billing import SimulatedGateway
from server.domain.models import EventReceipt, OpportunityRequest, SettlementReceipt, SettlementRetryJob
from server.services import exchange, receipts, settlements
from server.services.context import Services

from .conftest import MovableClock


def shortlisted(receipt_id: str, intent: str, campaign: str = "cmp_hubflow", offer: str = "offer_hubflow"):
    return EventReceipt(
        receipt_id=receipt_id,
        data_provenance="real_event",
        intent_id=intent,
        offer_id=offer,
        campaign_id=campaign,
        partner_id="partner_procure_pilot",
        event_type="shortlisted",
        occurred_at=msgspec.convert("2026-03-11T12:00:00Z", type=__import__("datetime").datetime),
        signature="sig",
    )


class CountingGateway(SimulatedGateway):
    """The simulated gateway, counting submissions per idempotency key (the settlement id)."""

    def __init__(self) -> None:
        self.submissions: dict[str, int] = {}

    async def submit(self, settlement: SettlementReceipt, job: SettlementRetryJob):
        self.submissions[settlement.settlement_id] = self.submissions.get(settlement.settlement_id, 0) + 1
        return await super().submit(settlement, job)


async def test_concurrent_twins_make_one_receipt_and_one_settlement(services: Services) -> None:
    results = await asyncio.gather(
        *(receipts.record_receipt(services, shortlisted("r_twin", "int_t")) for _ in range(8))
    )
    assert sorted(r.deduplicated for r in results) == [False] + [True] * 7
    settlement_ids = {r.settlement.settlement_id for r in results if r.settlement}
    assert len(settlement_ids) == 1
    stored = await services.store.read(lambda uow: uow.settlements.list_settlements())
    assert [s.settlement_id for s in stored] == list(settlement_ids)
    jobs = await services.store.read(lambda uow: uow.retry_jobs.list_retry_jobs())
    assert [j.settlement_id for j in jobs] == list(settlement_ids)


async def test_a_claim_abandoned_by_a_crash_is_taken_again_after_its_lease(
    services: Services, clock: MovableClock
) -> None:
    gateway = CountingGateway()
    services.gateway = gateway
    result = await receipts.record_receipt(services, shortlisted("r_crash", "int_crash"))
    assert result.settlement is not None
    job = (await services.store.read(lambda uow: uow.retry_jobs.list_retry_jobs()))[0]
    # A worker claims the job in the database and dies before submitting.
    claimed = await services.store.write(lambda uow: settlements._claim(services, uow, job))
    assert not isinstance(claimed, str) and claimed[0].status == "processing"

    clock.advance(seconds=5)
    early = await settlements.process_queue(services, 10)
    assert early.processed_count == 0 and gateway.submissions == {}

    clock.advance(seconds=6)  # past the 10 s lease
    late = await settlements.process_queue(services, 10)
    assert (late.processed_count, late.settled_count) == (1, 1)
    assert gateway.submissions == {result.settlement.settlement_id: 1}
    final = await services.store.read(
        lambda uow: uow.settlements.get_settlement(result.settlement.settlement_id)
    )
    assert final is not None and final.status == "settled"


class SlowRecordingGateway(SimulatedGateway):
    """Takes ``delay`` seconds per submission and records the most submissions in flight per key."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.submissions: dict[str, int] = {}

    async def submit(self, settlement: SettlementReceipt, job: SettlementRetryJob):
        key = settlement.settlement_id
        self.in_flight[key] = self.in_flight.get(key, 0) + 1
        self.max_in_flight[key] = max(self.max_in_flight.get(key, 0), self.in_flight[key])
        self.submissions[key] = self.submissions.get(key, 0) + 1
        try:
            await asyncio.sleep(self.delay)
            return await super().submit(settlement, job)
        finally:
            self.in_flight[key] -= 1


async def test_without_a_shared_hot_state_a_job_is_still_submitted_by_one_claim_at_a_time(
    services: Services, backend, clock: MovableClock
) -> None:
    # Two "processes": the same database, each its own in-memory hot state (no Redis to share locks).
    from server.adapters.hot_state import MemoryHotState

    gateway = SlowRecordingGateway(0.2)
    services.gateway = gateway
    other = Services(
        store=services.store,
        hot=MemoryHotState("other", "v1"),
        gateway=gateway,
        settings=services.settings,
        clock=clock,
    )
    for i in range(6):
        await receipts.record_receipt(services, shortlisted(f"r_one_{i}", f"int_one_{i}"))
    runs = await asyncio.gather(
        *(settlements.process_queue(svc, 10) for svc in (services, other, services, other))
    )
    assert sum(r.settled_count for r in runs) == 6
    assert sum(r.processed_count for r in runs) == 6
    assert set(gateway.max_in_flight.values()) == {1}
    assert set(gateway.submissions.values()) == {1} and len(gateway.submissions) == 6


async def test_a_late_answer_for_a_lost_claim_is_audited_not_applied(
    services: Services, clock: MovableClock
) -> None:
    from server.domain.billing import GatewayResult

    result = await receipts.record_receipt(services, shortlisted("r_lost", "int_lost"))
    assert result.settlement is not None
    job = (await services.store.read(lambda uow: uow.retry_jobs.list_retry_jobs()))[0]
    first = await services.store.write(lambda uow: settlements._claim(services, uow, job))
    assert not isinstance(first, str)
    clock.advance(seconds=11)  # the first claim's lease runs out while its provider call hangs
    second = await services.store.write(lambda uow: settlements._claim(services, uow, job))
    assert not isinstance(second, str) and second[2] != first[2] and second[0].attempts == 2
    retry = GatewayResult(ok=False, retryable=True, provider_state="retry", code="RETRY", message="later")
    settled = GatewayResult(
        ok=True, retryable=False, provider_state="settled", code="SETTLED", provider_settlement_id="ps_second"
    )
    # The second claim's answer lands first, then the first claim's late one.
    item2 = await services.store.write(
        lambda uow: settlements._record_outcome(services, uow, second[0], second[2], settled)
    )
    item1 = await services.store.write(
        lambda uow: settlements._record_outcome(services, uow, first[0], first[2], retry)
    )
    assert item2.outcome == "settled" and item1.outcome == "skipped"
    final = await services.store.read(
        lambda uow: uow.settlements.get_settlement(result.settlement.settlement_id)
    )
    assert final is not None and final.status == "settled" and final.provider_settlement_id == "ps_second"
    stored_job = await services.store.read(lambda uow: uow.retry_jobs.get_retry_job(job.retry_job_id))
    assert stored_job is not None and stored_job.status == "completed" and stored_job.attempts == 2
    trail = await services.store.read(
        lambda uow: uow.audit.page_audit(None, result.settlement.settlement_id, "settlement", [], 1, 50)
    )
    discarded = [e for e in trail.items if e.action == "settlement.result_discarded"]
    assert len(discarded) == 1
    assert discarded[0].status == "blocked" and discarded[0].details["code"] == "RETRY"
    assert discarded[0].details["attempts"] == 1


async def test_parallel_queue_runs_submit_each_settlement_once(services: Services) -> None:
    gateway = CountingGateway()
    services.gateway = gateway
    for i in range(12):
        await receipts.record_receipt(services, shortlisted(f"r_par_{i}", f"int_par_{i}"))
    runs = await asyncio.gather(*(settlements.process_queue(services, 20) for _ in range(3)))
    assert sum(r.settled_count for r in runs) == 12
    assert len(gateway.submissions) == 12 and set(gateway.submissions.values()) == {1}


async def test_budget_gate_closes_when_committed_spend_reaches_the_budget(services: Services) -> None:
    # cmp_hubflow: payout 120, budget 12000 -> after 100 settlements nothing more fits.
    for i in range(99):
        await receipts.record_receipt(services, shortlisted(f"r_b{i}", f"int_b{i}"))
    request = OpportunityRequest(
        intent_id="int_budget",
        category="crm_software",
        task_type="compare_and_shortlist",
        constraints={"geo": ["UK"]},
        sponsored_slots=4,
        explain=True,
    )
    body = msgspec.json.decode(await exchange.evaluate_opportunity(services, request))
    assert "cmp_hubflow" in [s["campaignId"] for s in body["shortlisted"]]
    await receipts.record_receipt(services, shortlisted("r_b99", "int_b99"))
    body = msgspec.json.decode(
        await exchange.evaluate_opportunity(
            services, msgspec.structs.replace(request, intent_id="int_budget_2")
        )
    )
    assert "cmp_hubflow" not in [s["campaignId"] for s in body["shortlisted"]]
    rejected = {(r["campaignId"], r["partnerId"]): r["failedGates"] for r in body["rejected"]}
    assert rejected[("cmp_hubflow", "partner_procure_pilot")] == ["budget"]

    # A dispute takes the amount out of committed spend: the campaign fits again.
    first = (
        await services.store.read(lambda uow: uow.settlements.list_settlements(campaign_id="cmp_hubflow"))
    )[-1]
    await settlements.dispute(services, first.settlement_id)
    body = msgspec.json.decode(
        await exchange.evaluate_opportunity(
            services, msgspec.structs.replace(request, intent_id="int_budget_3")
        )
    )
    assert "cmp_hubflow" in [s["campaignId"] for s in body["shortlisted"]]


async def test_concurrent_receipts_stop_exactly_at_the_budget(services: Services) -> None:
    campaign = await services.store.read(lambda uow: uow.market.get_campaign("cmp_hubflow"))
    assert campaign is not None and campaign.payout_amount == 120
    await services.store.write(
        lambda uow: uow.market.update_campaign(msgspec.structs.replace(campaign, budget=360))
    )
    results = await asyncio.gather(
        *(receipts.record_receipt(services, shortlisted(f"r_cap_{i}", f"int_cap_{i}")) for i in range(40))
    )
    billed = [r for r in results if r.settlement is not None]
    assert len(billed) == 3
    assert {r.billing_reason for r in results if r.settlement is None} == {"budget_exhausted"}
    stored = await services.store.read(
        lambda uow: uow.settlements.list_settlements(campaign_id="cmp_hubflow")
    )
    assert len(stored) == 3 and sum(s.amount for s in stored) == 360
    spend = await services.store.read(lambda uow: uow.market.campaign_spend())
    assert spend["cmp_hubflow"] == 360
    jobs = await services.store.read(lambda uow: uow.retry_jobs.list_retry_jobs())
    assert sorted(j.settlement_id for j in jobs) == sorted(s.settlement_id for s in stored)


async def test_a_replay_that_no_longer_fits_the_budget_is_refused(services: Services) -> None:
    from server.domain.billing import GatewayResult
    from server.domain.errors import Conflict

    campaign = await services.store.read(lambda uow: uow.market.get_campaign("cmp_hubflow"))
    await services.store.write(
        lambda uow: uow.market.update_campaign(msgspec.structs.replace(campaign, budget=120))
    )
    first = await receipts.record_receipt(services, shortlisted("r_rep_1", "int_rep_1"))
    assert first.settlement is not None

    class Refusing(SimulatedGateway):
        async def submit(self, settlement, job):
            return GatewayResult(
                ok=False, retryable=False, provider_state="failed", code="FAILED", message="no"
            )

    services.gateway = Refusing()
    await settlements.process_queue(services, 10)  # failed: its amount no longer counts
    second = await receipts.record_receipt(services, shortlisted("r_rep_2", "int_rep_2"))
    assert second.settlement is not None  # the freed budget is used again
    page = await settlements.page_dead_letters(services, "open", None, None, 1, 20)
    assert len(page.items) == 1
    with pytest.raises(Conflict, match="past its budget"):
        await settlements.replay_dead_letter(services, page.items[0].dlq_entry_id, "retry it")
    spend = await services.store.read(lambda uow: uow.market.campaign_spend())
    assert spend["cmp_hubflow"] == 120
    entry = await services.store.read(
        lambda uow: uow.dead_letters.get_dead_letter(page.items[0].dlq_entry_id)
    )
    assert entry is not None and entry.status == "open"  # nothing changed
