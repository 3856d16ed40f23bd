"""The store's guarantees on a real database: unique constraints, atomic transactions, counters, claims."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from server.adapters.store.codec import epoch_ms
from server.adapters.store.migrate import upgrade
from server.adapters.store.ports import UnitOfWork
from server.domain.models import AuditEvent, EventReceipt, SettlementReceipt, SettlementRetryJob
from server.services.access import Caller, current_caller
from server.services.context import Services

T0 = datetime(2026, 3, 11, 12, 0, 0, tzinfo=UTC)


def receipt(receipt_id: str = "r1", intent: str = "int1") -> EventReceipt:
    return EventReceipt(
        receipt_id=receipt_id,
        data_provenance="real_event",
        intent_id=intent,
        offer_id="offer_hubflow",
        campaign_id="cmp_hubflow",
        partner_id="partner_procure_pilot",
        event_type="offer.shortlisted",
        occurred_at=T0,
        signature="sig",
    )


def settlement(settlement_id: str = "set_00000001", intent: str = "int1") -> SettlementReceipt:
    return SettlementReceipt(
        settlement_id=settlement_id,
        data_provenance="real_event",
        campaign_id="cmp_hubflow",
        offer_id="offer_hubflow",
        partner_id="partner_procure_pilot",
        intent_id=intent,
        billing_model="CPQR",
        event_type="offer.shortlisted",
        amount=120.0,
        currency="USD",
        attribution_window="session",
        status="pending",
        generated_at=T0,
        updated_at=T0,
    )


def job(
    job_id: str, settlement_id: str, status: str = "queued", next_run: datetime = T0
) -> SettlementRetryJob:
    return SettlementRetryJob(
        retry_job_id=job_id,
        settlement_id=settlement_id,
        trace_id="int1",
        status=status,  # type: ignore[arg-type]
        next_run_at=next_run,
        created_at=T0,
        updated_at=T0,
    )


async def test_migrating_twice_is_a_no_op(services: Services) -> None:
    await upgrade(services.store.engines)
    campaigns = await services.store.read(lambda uow: uow.market.list_campaigns())
    assert [c.campaign_id for c in campaigns] == ["cmp_hubflow", "cmp_signalstack"]


async def test_receipt_id_is_unique(services: Services) -> None:
    first = await services.store.write(lambda uow: uow.receipts.insert_receipt(receipt(), None))
    again = await services.store.write(lambda uow: uow.receipts.insert_receipt(receipt(intent="other"), None))
    assert (first, again) == (True, False)
    stored = await services.store.read(lambda uow: uow.receipts.get_receipt("r1"))
    assert stored is not None and stored[0].intent_id == "int1"


async def test_one_settlement_per_intent_offer_event(services: Services) -> None:
    assert await services.store.write(
        lambda uow: uow.settlements.insert_settlement(settlement("set_aaaaaaaa"))
    )
    assert not await services.store.write(
        lambda uow: uow.settlements.insert_settlement(settlement("set_bbbbbbbb"))
    )
    assert await services.store.write(
        lambda uow: uow.settlements.insert_settlement(settlement("set_cccccccc", intent="int2"))
    )
    rows = await services.store.read(lambda uow: uow.settlements.list_settlements())
    assert sorted(s.settlement_id for s in rows) == ["set_aaaaaaaa", "set_cccccccc"]


async def test_one_retry_job_per_settlement(services: Services) -> None:
    await services.store.write(lambda uow: uow.retry_jobs.insert_retry_job(job("retry_1", "set_x")))
    with pytest.raises(IntegrityError):
        await services.store.write(
            lambda uow: uow.retry_jobs.insert_retry_job(job("retry_2", "set_x")), retries=1
        )


async def test_a_failing_transaction_leaves_nothing_behind(services: Services) -> None:
    async def half_done(uow: UnitOfWork) -> None:
        await uow.receipts.insert_receipt(receipt("r_half"), "set_half")
        await uow.settlements.insert_settlement(settlement("set_half", intent="int_half"))
        raise RuntimeError("crash in the middle")

    with pytest.raises(RuntimeError):
        await services.store.write(half_done)
    assert await services.store.read(lambda uow: uow.receipts.get_receipt("r_half")) is None
    assert await services.store.read(lambda uow: uow.settlements.get_settlement("set_half")) is None


async def test_counters_sum_their_increments(services: Services) -> None:
    for delta in (1, 1, 5, -2):
        await services.store.write(lambda uow, delta=delta: uow.counters.bump("things", delta))
    assert await services.store.read(lambda uow: uow.counters.counter("things")) == 5
    assert await services.store.read(lambda uow: uow.counters.counters_with_prefix("thi")) == {"ngs": 5}


async def test_due_jobs_oldest_first_and_abandoned_claims_after_their_lease(services: Services) -> None:
    later = datetime(2026, 3, 11, 12, 5, tzinfo=UTC)

    async def setup(uow: UnitOfWork) -> None:
        await uow.retry_jobs.insert_retry_job(job("retry_late", "set_1", next_run=later))
        await uow.retry_jobs.insert_retry_job(job("retry_now", "set_2"))
        await uow.retry_jobs.insert_retry_job(job("retry_crashed", "set_3"))
        seen = await uow.retry_jobs.retry_job_row("retry_crashed")
        assert await uow.retry_jobs.claim_retry_job(
            seen,
            job("retry_crashed", "set_3", status="processing"),
            epoch_ms(T0),
            "tok",
            epoch_ms(T0) + 10_000,
        )

    await services.store.write(setup)
    due_now = await services.store.read(lambda uow: uow.retry_jobs.due_retry_jobs(epoch_ms(T0), 10))
    assert [j.retry_job_id for j in due_now] == ["retry_now"]
    due_later = await services.store.read(lambda uow: uow.retry_jobs.due_retry_jobs(epoch_ms(later), 10))
    assert [j.retry_job_id for j in due_later] == ["retry_now", "retry_crashed", "retry_late"]


async def test_a_job_can_be_claimed_only_once(services: Services) -> None:
    queued = job("retry_c", "set_c")
    await services.store.write(lambda uow: uow.retry_jobs.insert_retry_job(queued))
    seen = await services.store.read(lambda uow: uow.retry_jobs.retry_job_row("retry_c"))
    assert seen is not None and seen.claim_token is None and seen.job.status == "queued"
    processing = job("retry_c", "set_c", status="processing")
    now = epoch_ms(T0)
    wins = [
        await services.store.write(
            lambda uow, i=i: uow.retry_jobs.claim_retry_job(seen, processing, now, f"tok{i}", now + 10_000)
        )
        for i in range(3)
    ]
    assert wins == [True, False, False]
    held = await services.store.read(lambda uow: uow.retry_jobs.retry_job_row("retry_c"))
    assert held is not None and held.claim_token == "tok0" and held.lease_until_ms == now + 10_000


async def test_a_claim_in_processing_is_taken_again_only_after_its_lease(services: Services) -> None:
    await services.store.write(lambda uow: uow.retry_jobs.insert_retry_job(job("retry_l", "set_l")))
    now = epoch_ms(T0)
    queued = await services.store.read(lambda uow: uow.retry_jobs.retry_job_row("retry_l"))
    processing = job("retry_l", "set_l", status="processing")
    assert await services.store.write(
        lambda uow: uow.retry_jobs.claim_retry_job(queued, processing, now, "first", now + 10_000)
    )
    held = await services.store.read(lambda uow: uow.retry_jobs.retry_job_row("retry_l"))
    # Seen exactly as it is, but its claim is still live: nobody may take it.
    for at in (now, now + 9_999):
        assert not await services.store.write(
            lambda uow, at=at: uow.retry_jobs.claim_retry_job(held, processing, at, "second", at + 10_000)
        )
    # A stale view (the queued row from before the first claim) never matches.
    assert not await services.store.write(
        lambda uow: uow.retry_jobs.claim_retry_job(queued, processing, now + 20_000, "stale", now + 30_000)
    )
    # Once the lease has run out, exactly one new claim takes it over.
    assert await services.store.write(
        lambda uow: uow.retry_jobs.claim_retry_job(held, processing, now + 10_000, "second", now + 20_000)
    )
    done = job("retry_l", "set_l", status="completed")
    # The first claimant's late answer cannot be recorded; the second's can, once.
    assert not await services.store.write(lambda uow: uow.retry_jobs.finish_claimed_job(done, "first"))
    assert await services.store.write(lambda uow: uow.retry_jobs.finish_claimed_job(done, "second"))
    assert not await services.store.write(lambda uow: uow.retry_jobs.finish_claimed_job(done, "second"))
    final = await services.store.read(lambda uow: uow.retry_jobs.retry_job_row("retry_l"))
    assert final is not None and final.job.status == "completed" and final.claim_token is None


async def test_audit_pages_newest_first_with_totals(services: Services) -> None:
    events = [
        AuditEvent(
            audit_event_id=f"aud_{i:03d}",
            trace_id="t1" if i % 2 else "t2",
            entity_type="cache",
            entity_id=f"e{i}",
            action="a",
            status="success",
            occurred_at=T0,
        )
        for i in range(25)
    ]
    await services.store.write(lambda uow: uow.audit.insert_audit(events))
    page1 = await services.store.read(lambda uow: uow.audit.page_audit(None, None, None, [], 1, 10))
    page3 = await services.store.read(lambda uow: uow.audit.page_audit(None, None, None, [], 3, 10))
    assert page1.total == 25 and page1.has_next_page and not page1.has_previous_page
    assert [e.audit_event_id for e in page1.items][:2] == ["aud_024", "aud_023"]
    assert [e.audit_event_id for e in page3.items] == [f"aud_{i:03d}" for i in range(4, -1, -1)]
    assert not page3.has_next_page and page3.has_previous_page
    traced = await services.store.read(lambda uow: uow.audit.page_audit("t1", None, None, [], 1, 100))
    assert traced.total == 12 and all(e.trace_id == "t1" for e in traced.items)


async def test_market_version_moves_with_campaign_changes_only(services: Services) -> None:
    before = await services.store.read(lambda uow: uow.market.market_version())
    await services.store.write(lambda uow: uow.market.add_campaign_spend("cmp_hubflow", 120.0))
    assert await services.store.read(lambda uow: uow.market.market_version()) == before
    campaign = await services.store.read(lambda uow: uow.market.get_campaign("cmp_hubflow"))
    assert campaign is not None
    await services.store.write(lambda uow: uow.market.update_campaign(campaign))
    assert await services.store.read(lambda uow: uow.market.market_version()) == before + 1
    assert (await services.store.read(lambda uow: uow.market.campaign_spend()))["cmp_hubflow"] == 120.0


async def test_each_write_keeps_its_callers_identity_even_when_another_request_commits_it(
    services: Services,
) -> None:
    """SQLite's group commit runs every queued write in the leader's task: the authenticated
    caller (a context variable) must still be the one of the request that queued the write."""
    seen_tasks: set[asyncio.Task] = set()

    async def audited_write(caller: Caller | None, trace: str) -> None:
        current_caller.set(caller)  # as the API's key guard does for each request

        async def work(uow: UnitOfWork) -> None:
            seen_tasks.add(asyncio.current_task())  # type: ignore[arg-type]
            await uow.audit.insert_audit(
                [
                    services.audit(
                        trace_id=trace,
                        entity_type="campaign",
                        entity_id=trace,
                        action="test.caller",
                        status="success",
                    )
                ]
            )

        await services.store.write(work)

    callers = {
        "t_ops": Caller("ops-alice", "operator"),
        "t_bot": Caller("buyer-bot", "agent"),
        "t_anon": None,
    }
    await asyncio.gather(*(asyncio.create_task(audited_write(c, t)) for t, c in callers.items()))
    if services.store.kind == "sqlite":
        assert len(seen_tasks) == 1, "the three writes were expected to share one group commit"
    actors = {}
    for trace in callers:
        page = await services.store.read(
            lambda uow, trace=trace: uow.audit.page_audit(trace, None, None, [], 1, 10)
        )
        actors[trace] = [e.actor_id for e in page.items]
    assert actors == {"t_ops": ["ops-alice"], "t_bot": ["buyer-bot"], "t_anon": ["promotion-agent"]}
    assert current_caller.get() is None  # nothing leaked into this task


def audit_event(i: int, prefix: str = "aud_app") -> AuditEvent:
    return AuditEvent(
        audit_event_id=f"{prefix}_{i:03d}",
        trace_id="t_append",
        entity_type="cache",
        entity_id=f"e{i}",
        action="opportunity.evaluate",
        status="cache_hit",
        occurred_at=T0,
    )


async def test_audit_appends_and_writes_racing_each_commit_once(services: Services) -> None:
    """Appends queued beside ordinary writes (one write group on SQLite) are all stored, each once, with the
    audit counter moved by exactly their number; and every caller returns only after its commit."""
    before = await services.store.read(lambda uow: uow.counters.counter("audit_events"))

    async def write_one(i: int) -> None:
        await services.store.write(lambda uow: uow.audit.insert_audit([audit_event(i, "aud_w")]))

    await asyncio.gather(
        *(services.store.append_audit([audit_event(i)]) for i in range(30)),
        *(write_one(i) for i in range(10)),
        services.store.append_audit([audit_event(100), audit_event(101)]),
    )
    page = await services.store.read(lambda uow: uow.audit.page_audit("t_append", None, None, [], 1, 100))
    ids = sorted(e.audit_event_id for e in page.items)
    assert ids == sorted(
        [f"aud_app_{i:03d}" for i in [*range(30), 100, 101]] + [f"aud_w_{i:03d}" for i in range(10)]
    )
    after = await services.store.read(lambda uow: uow.counters.counter("audit_events"))
    assert after - before == 42


async def test_a_failing_append_fails_alone_and_the_group_commits(services: Services) -> None:
    await services.store.append_audit([audit_event(7, "aud_dup")])

    async def settle_write() -> None:
        await services.store.write(lambda uow: uow.receipts.insert_receipt(receipt("r_group"), None, None))

    results = await asyncio.gather(
        services.store.append_audit([audit_event(7, "aud_dup")]),  # the same id again: refused
        settle_write(),
        return_exceptions=True,
    )
    assert isinstance(results[0], IntegrityError)
    assert results[1] is None
    stored = await services.store.read(lambda uow: uow.receipts.get_receipt("r_group"))
    assert stored is not None
    page = await services.store.read(lambda uow: uow.audit.page_audit(None, "e7", None, [], 1, 10))
    assert [e.audit_event_id for e in page.items] == ["aud_dup_007"]
