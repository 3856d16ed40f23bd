"""The demo lane: the demo seed and a deterministic bootstrap of activity (receipts, settlements, queue, DLQ).

Everything the bootstrap writes goes through the same services as the API (receipts
through ``receipts.record_receipt``, the queue through ``settlements.process_queue``,
the dispute through ``settlements.dispute``), with provenance ``demo_bootstrap``. Ids
come from a seeded generator and time from a fixed demo clock, so the same server
always boots to the same data: stakeholder demos are repeatable.

After the bootstrap the demo server keeps running on a clock that starts one hour
after the demo epoch and advances with the wall clock (``demo_clock``), so the seed's
proof bundles stay fresh and the demo ranks as on the day the seed describes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ..domain.billing import GatewayResult
from ..domain.models import (
    EventReceipt,
    EventType,
    OpportunityRequest,
    SettlementReceipt,
    SettlementRetryJob,
)
from . import exchange, receipts, settlements
from .context import Services, audit_provenance, seeded_ids
from .seed import load_seed, read_seed

DEMO_SEED_PATH = "data/demo-seed.json"
DEMO_EPOCH = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
DEMO_ID_SEED = 20260311

# (intent, campaign, offer, event type): CPQR bills shortlisted, CPA bills conversions.
_HUBFLOW = ("cmp_hubflow", "offer_hubflow")
_SIGNALSTACK = ("cmp_signalstack", "offer_signalstack")
BOOTSTRAP_RECEIPTS: tuple[tuple[str, tuple[str, str], EventType], ...] = (
    ("demo-intent-01", _HUBFLOW, "offer.shortlisted"),
    ("demo-intent-01", _HUBFLOW, "offer.presented"),
    ("demo-intent-01", _HUBFLOW, "owner.viewed"),
    ("demo-intent-01", _HUBFLOW, "owner.interacted"),
    ("demo-intent-02", _HUBFLOW, "offer.shortlisted"),
    ("demo-intent-02", _HUBFLOW, "offer.presented"),
    ("demo-intent-03", _HUBFLOW, "offer.shortlisted"),
    ("demo-intent-04", _HUBFLOW, "offer.shortlisted"),
    ("demo-intent-05", _SIGNALSTACK, "offer.presented"),
    ("demo-intent-05", _SIGNALSTACK, "owner.viewed"),
    ("demo-intent-05", _SIGNALSTACK, "owner.interacted"),
    ("demo-intent-05", _SIGNALSTACK, "conversion.attributed"),
    ("demo-intent-06", _SIGNALSTACK, "conversion.attributed"),
)
# What the bootstrap's billing provider answers, per intent (the rest settle).
_PROVIDER_ANSWERS = {"demo-intent-03": "retry", "demo-intent-06": "failed"}
_DISPUTED_INTENT = "demo-intent-04"
_PENDING_INTENT = "demo-intent-07"  # billed after the queue ran: stays pending


class _ManualClock:
    """The bootstrap's clock: the demo epoch, one second further at every step."""

    def __init__(self) -> None:
        self.now = DEMO_EPOCH

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: int = 1) -> None:
        self.now += timedelta(seconds=seconds)


class _BootstrapGateway:
    """A billing provider with fixed answers: settled, a retryable refusal, a final failure."""

    mode = "simulated"

    async def submit(self, settlement: SettlementReceipt, job: SettlementRetryJob) -> GatewayResult:
        answer = _PROVIDER_ANSWERS.get(settlement.intent_id, "settled")
        if answer == "retry":
            return GatewayResult(
                ok=False,
                retryable=True,
                provider_state="retry",
                code="TEMP_UNAVAILABLE",
                message="The provider asked for a later retry.",
            )
        if answer == "failed":
            return GatewayResult(
                ok=False,
                retryable=False,
                provider_state="failed",
                code="POLICY_BLOCKED",
                message="The provider refused the settlement.",
            )
        return GatewayResult(
            ok=True,
            retryable=False,
            provider_state="settled",
            provider_settlement_id="sim_" + settlement.settlement_id,
            provider_reference=settlement.intent_id,
            code="OK",
        )

    async def close(self) -> None:
        return None


def demo_clock(started: float | None = None) -> Callable[[], datetime]:
    """The demo server's clock: one hour after the demo epoch at start, then advancing with the wall clock."""
    origin = time.monotonic() if started is None else started
    base = DEMO_EPOCH + timedelta(hours=1)
    return lambda: base + timedelta(seconds=time.monotonic() - origin)


def _receipt(
    index: int, intent: str, target: tuple[str, str], event_type: EventType, at: datetime
) -> EventReceipt:
    campaign_id, offer_id = target
    return EventReceipt(
        receipt_id=f"demo-receipt-{index:02d}",
        data_provenance="demo_bootstrap",
        intent_id=intent,
        offer_id=offer_id,
        campaign_id=campaign_id,
        partner_id="partner_procure_pilot",
        event_type=event_type,
        occurred_at=at,
        signature=f"sig_demo_{index:02d}",
    )


async def _bootstrap(svc: Services, clock: _ManualClock) -> dict[str, int]:
    """Write the demo activity through the services; returns what it wrote."""
    intents = sorted({intent for intent, _, _ in BOOTSTRAP_RECEIPTS} | {_PENDING_INTENT})
    for intent in intents:  # the buyer agent evaluated each opportunity before reporting receipts
        await exchange.evaluate_opportunity(
            svc,
            OpportunityRequest(
                intent_id=intent,
                category="crm_software",
                task_type="compare_and_shortlist",
                placement="shortlist",
                constraints={"geo": ["UK"]},
                sponsored_slots=2,
            ),
        )
        clock.tick()
    for i, (intent, target, event_type) in enumerate(BOOTSTRAP_RECEIPTS, start=1):
        await receipts.record_receipt(svc, _receipt(i, intent, target, event_type, clock.now))
        clock.tick()
    disputed = await svc.store.read(
        lambda uow: uow.settlements.get_settlement_for(_DISPUTED_INTENT, "offer_hubflow", "offer.shortlisted")
    )
    assert disputed is not None
    await settlements.dispute(svc, disputed.settlement_id, "Demo: the buyer agent disputed the shortlist.")
    clock.tick()
    processed = await settlements.process_queue(svc, limit=50)
    clock.tick()
    last = len(BOOTSTRAP_RECEIPTS) + 1
    await receipts.record_receipt(
        svc, _receipt(last, _PENDING_INTENT, _HUBFLOW, "offer.shortlisted", clock.now)
    )
    return {"receipts": last, "processed": processed.processed_count}


async def load_demo(svc: Services, seed_path: str = DEMO_SEED_PATH) -> dict[str, int]:
    """The demo seed and the bootstrap activity, into an empty database, with seeded ids and a fixed clock."""
    clock = _ManualClock()
    wall_clock, gateway = svc.clock, svc.gateway
    svc.clock, svc.gateway = clock, _BootstrapGateway()
    token = seeded_ids.set(random.Random(DEMO_ID_SEED))
    provenance = audit_provenance.set("demo_bootstrap")
    try:
        counts = await load_seed(svc, read_seed(seed_path))
        clock.tick()
        counts.update(await _bootstrap(svc, clock))
    finally:
        seeded_ids.reset(token)
        audit_provenance.reset(provenance)
        svc.clock, svc.gateway = wall_clock, gateway
    return counts
