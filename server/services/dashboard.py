"""The dashboard's numbers and the audit trail (spec/api.md "Dashboard and audit").

Every number comes from counters maintained in the same transactions as the
records they count, so the dashboard costs a handful of indexed reads however
many receipts are stored.
"""

from __future__ import annotations

from ..adapters.store.ports import Page, UnitOfWork
from ..domain.models import CANONICAL_EVENT_TYPES, AuditEvent, Base
from ..domain.settlement import OPEN_JOB_STATUSES, SETTLEMENT_STATUSES
from ..domain.wallet import from_milli
from .context import Services
from .pages import numbered_page


class Dashboard(Base, kw_only=True):
    mode: str
    active_partners: int
    active_campaigns: int
    event_counts: dict[str, int]
    settlement_count: int
    settlements_by_status: dict[str, int]
    retry_jobs_open: int
    dlq_open: int
    qualified_recommendation_rate: float
    detail_view_rate: float
    handoff_rate: float
    action_conversion_rate: float
    disclosure_shown_rate: float
    counts_by_provenance: dict[str, dict[str, int]]
    recent_audit: list[AuditEvent]
    # Receipts kept but not counted: failed verification; and billable-looking receipts that
    # created no settlement, by reason (verification_failed, campaign_not_active, budget_exhausted).
    unverified_receipts: int = 0
    receipts_not_billed: dict[str, int] = {}
    # Workspace credits: consumed by receipts over all wallets, and the workspaces whose campaigns
    # fail the ranking's credits gate (available credits 0 or less).
    credits_consumed: float = 0.0
    workspaces_out_of_credits: int = 0


def rate(numerator: float, denominator: float) -> float:
    """A KPI ratio in [0, 1]; a zero denominator gives 0."""
    if denominator <= 0:
        return 0.0
    return max(0.0, min(1.0, numerator / denominator))


async def dashboard(svc: Services) -> Dashboard:
    async def work(uow: UnitOfWork) -> Dashboard:
        receipts = await uow.counters.counters_with_prefix("receipts:")
        settlements = await uow.counters.counters_with_prefix("settlements:")
        jobs = await uow.counters.counters_with_prefix("retry_jobs:")
        dlq = await uow.counters.counters_with_prefix("dlq:")
        intents = await uow.counters.counters_with_prefix("intents:")
        provenance = await uow.counters.counters_with_prefix("provenance:")
        campaigns = await uow.market.list_campaigns()
        partners = await uow.market.list_partners()
        recent = await uow.audit.recent_audit(10)
        wallets = await uow.wallets.wallet_totals()

        counts = {t: int(receipts.get(t, 0)) for t in CANONICAL_EVENT_TYPES}
        by_status = {st: int(settlements.get(st, 0)) for st in SETTLEMENT_STATUSES}
        by_provenance: dict[str, dict[str, int]] = {}
        for key, value in provenance.items():
            entity, _, prov = key.partition(":")
            by_provenance.setdefault(entity, {})[prov] = int(value)
        for c in campaigns:
            bucket = by_provenance.setdefault("campaigns", {})
            bucket[c.data_provenance] = bucket.get(c.data_provenance, 0) + 1
        for p, _ in partners:
            bucket = by_provenance.setdefault("partners", {})
            bucket[p.data_provenance] = bucket.get(p.data_provenance, 0) + 1
        presented = counts["offer.presented"]
        viewed = counts["owner.viewed"]
        interacted = counts["owner.interacted"]
        return Dashboard(
            mode=svc.settings.mode,
            active_partners=sum(1 for p, _ in partners if p.status == "active"),
            active_campaigns=sum(1 for c in campaigns if c.status == "active"),
            event_counts=counts,
            settlement_count=sum(by_status.values()),
            settlements_by_status=by_status,
            retry_jobs_open=int(sum(jobs.get(st, 0) for st in OPEN_JOB_STATUSES)),
            dlq_open=int(dlq.get("open", 0)),
            unverified_receipts=int(receipts.get("unverified", 0)),
            receipts_not_billed={
                key.split(":", 1)[1]: int(v) for key, v in receipts.items() if key.startswith("not_billable:")
            },
            qualified_recommendation_rate=rate(intents.get("presented", 0), intents.get("evaluated", 0)),
            detail_view_rate=rate(viewed, presented),
            handoff_rate=rate(interacted, viewed),
            action_conversion_rate=rate(counts["conversion.attributed"], interacted),
            disclosure_shown_rate=rate(receipts.get("presented_with_disclosure", 0), presented),
            counts_by_provenance=by_provenance,
            recent_audit=recent,
            credits_consumed=from_milli(wallets.consumed),
            workspaces_out_of_credits=wallets.out_of_credits,
        )

    return await svc.store.read(work)


class AuditPage(Base, kw_only=True):
    """One page of audit events by number (``GET /audit-trail``)."""

    items: list[AuditEvent]
    total: int
    page: int
    page_size: int
    has_next_page: bool
    has_previous_page: bool


async def audit_trail(
    svc: Services,
    trace_id: str | None,
    entity_id: str | None,
    entity_type: str | None,
    provenances: list[str],
    page: int,
    page_size: int,
) -> AuditPage:
    found: Page = await svc.store.read(
        lambda uow: uow.audit.page_audit(trace_id, entity_id, entity_type, provenances, page, page_size)
    )
    return numbered_page(AuditPage, found)
