"""Opportunity evaluation: the market snapshot, the 12 s response cache, the audit of each decision."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import msgspec

from ..adapters.hot_state import OPPORTUNITY_CACHE_TTL_MS
from ..adapters.store.codec import epoch_ms
from ..adapters.store.repository import Tx
from ..domain.models import OpportunityRequest, OpportunityResponse
from ..domain.ranking import CampaignState, Market, PartnerState, RankingConfig, evaluate, governed_trust
from .context import Services

_encoder = msgspec.json.Encoder(order="sorted")


@dataclass
class _Snapshot:
    version: int
    market: Market  # spend is applied per request on top of this


class MarketCache:
    """The decoded market of one process, reloaded only when the database's market version moves.

    Campaign spend changes with every billable receipt, so it is read fresh (one small query)
    instead of invalidating the whole snapshot.
    """

    def __init__(self) -> None:
        self._snapshot: _Snapshot | None = None

    async def load(self, tx: Tx, cfg: RankingConfig) -> Market:
        version = await tx.market_version()
        snap = self._snapshot
        if snap is None or snap.version != version:
            snap = self._snapshot = _Snapshot(version, await _load_market(tx, cfg))
        spend = await tx.campaign_spend()
        return Market(
            campaigns=tuple(
                CampaignState(s.campaign, committed_spend=spend.get(s.campaign.campaign_id, 0.0))
                for s in snap.market.campaigns
            ),
            partners=snap.market.partners,
        )


async def _load_market(tx: Tx, cfg: RankingConfig) -> Market:
    campaigns = await tx.list_campaigns()
    partners = await tx.list_partners()
    records = await tx.list_reputation()
    by_partner: dict[str, list] = {}
    for record in records:
        by_partner.setdefault(record.partner_id, []).append(record)
    return Market(
        campaigns=tuple(CampaignState(c) for c in campaigns),
        partners=tuple(
            PartnerState(p, governed_trust(cfg, p.trust_score, by_partner.get(p.partner_id, []), disputes))
            for p, disputes in partners
        ),
    )


def cache_key(request: OpportunityRequest) -> str:
    canonical = _encoder.encode(request)
    return "cache:opportunity:" + hashlib.sha256(canonical).hexdigest()


async def evaluate_opportunity(svc: Services, request: OpportunityRequest) -> bytes:
    """Rank a request (or serve it from the cache) and return the JSON response body."""
    key = svc.hot.key(cache_key(request))
    trace_id = request.intent_id
    cached = await svc.hot.get(key)
    if cached is not None:
        event = svc.audit(
            trace_id=trace_id,
            entity_type="cache",
            entity_id=request.intent_id,
            action="opportunity.evaluate",
            status="cache_hit",
            actor_type="buyer_agent",
        )
        await svc.store.write(lambda tx: tx.insert_audit([event]))
        return cached

    cache: MarketCache = svc.state.setdefault("market_cache", MarketCache())
    market = await svc.store.read(lambda tx: cache.load(tx, svc.ranking))
    response: OpportunityResponse = evaluate(svc.ranking, request, market, svc.evaluation_now())
    body = msgspec.json.encode(response)

    events = [
        svc.audit(
            trace_id=trace_id,
            entity_type="cache",
            entity_id=request.intent_id,
            action="opportunity.evaluate",
            status="cache_miss",
            actor_type="buyer_agent",
        ),
        svc.audit(
            trace_id=trace_id,
            entity_type="opportunity",
            entity_id=request.intent_id,
            action="opportunity.evaluate",
            status="success",
            actor_type="buyer_agent",
            details={
                "category": request.category,
                "taskType": request.task_type,
                "totalCandidates": response.total_candidates,
                "eligibleCandidates": response.eligible_candidates,
                "shortlist": [
                    {"campaignId": s.campaign_id, "partnerId": s.partner_id, "priorityScore": s.priority_score}
                    for s in response.shortlisted
                ],
            },
        ),
    ]

    async def record(tx: Tx) -> None:
        await tx.insert_audit(events)
        # What receipt verification later checks a receipt against: the slots served for this intent.
        await tx.insert_served_slots(
            request.intent_id,
            [(s.offer_id, s.partner_id, s.campaign_id) for s in response.shortlisted],
            epoch_ms(svc.clock()),
        )
        if await tx.mark_intent(request.intent_id, "evaluated"):
            await tx.bump("intents:evaluated")

    await svc.store.write(record)
    await svc.hot.set(key, body, OPPORTUNITY_CACHE_TTL_MS)
    return body
