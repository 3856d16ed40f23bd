"""Opportunity evaluation: the market snapshot, the 12 s response cache, the audit of each decision.

The response cache and the gates that change between two requests. Budget and credit
gates are read fresh for every ranking (``MarketCache.load``); a cached response is tagged
with the cache *generation* read before the market was, and is served only while the
generation is unchanged. Whatever opens or closes a gate at once for many requests (a
workspace running out of credits, or credited again) moves the generation after its
commit (``invalidate_responses``), so the next evaluation ranks afresh. The generation lives in
the hot state: with Redis every server process sees the move; with the in-memory hot state
each process has its own cache and generation (several processes without Redis may each serve
a response cached before the move for the rest of its 12 s).

``evaluate_opportunity`` is long on purpose: cache lookup, ranking, recording the served slots and
the audit are one request's path, in the order it runs.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import msgspec

from ..adapters.hot_state import OPPORTUNITY_CACHE_TTL_MS
from ..adapters.store.codec import epoch_ms
from ..adapters.store.ports import UnitOfWork
from ..domain.models import AuditEvent, OpportunityRequest, OpportunityResponse, ReputationRecord
from ..domain.ranking import CampaignState, Market, PartnerState, evaluate, governed_trust
from ..domain.ranking_config import RankingConfig
from ..domain.wallet import credits_ok
from .context import Services

_encoder = msgspec.json.Encoder(order="sorted")

GENERATION_KEY = "cache:opportunity-generation"
# The generation outlives any response tagged with it by far; when it expires, a new one is
# drawn and the responses cached under the old one are simply not served again.
GENERATION_TTL_MS = 24 * 3_600_000
_TAG_END = b"\n"  # a cached value is ``{generation}\n{response JSON}``


@dataclass
class _Snapshot:
    version: int
    market: Market  # spend is applied per request on top of this


class MarketCache:
    """The decoded market of one process, reloaded only when the database's market version moves.

    Campaign spend changes with every billable receipt and credits with most receipts, so both
    are read fresh (one small query) instead of invalidating the whole snapshot.
    """

    def __init__(self) -> None:
        self._snapshot: _Snapshot | None = None

    async def load(self, uow: UnitOfWork, cfg: RankingConfig) -> Market:
        version = await uow.market.market_version()
        snap = self._snapshot
        if snap is None or snap.version != version:
            snap = self._snapshot = _Snapshot(version, await _load_market(uow, cfg))
        gates = await uow.wallets.campaign_gates()
        states: list[CampaignState] = []
        for state in snap.market.campaigns:
            spend, available = gates.get(state.campaign.campaign_id, (0.0, None))
            states.append(
                CampaignState(state.campaign, committed_spend=spend, credits_available=credits_ok(available))
            )
        return Market(
            campaigns=tuple(states),
            partners=snap.market.partners,
        )


async def _load_market(uow: UnitOfWork, cfg: RankingConfig) -> Market:
    campaigns = await uow.market.list_campaigns()
    partners = await uow.market.list_partners()
    records = await uow.market.list_reputation()
    by_partner: dict[str, list[ReputationRecord]] = {}
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


async def _generation(svc: Services) -> bytes:
    key = svc.hot.key(GENERATION_KEY)
    generation = await svc.hot.get(key)
    if generation is None:
        # Two processes drawing one at once only cost each other's cached responses one miss.
        generation = secrets.token_hex(8).encode()
        await svc.hot.set(key, generation, GENERATION_TTL_MS)
    return generation


async def invalidate_responses(svc: Services) -> None:
    """Stop serving every cached response (a gate changed for many requests at once)."""
    await svc.hot.set(svc.hot.key(GENERATION_KEY), secrets.token_hex(8).encode(), GENERATION_TTL_MS)


def _untag(value: bytes, generation: bytes) -> bytes | None:
    tag, sep, body = value.partition(_TAG_END)
    return body if sep and tag == generation else None


async def evaluate_opportunity(svc: Services, request: OpportunityRequest) -> bytes:
    """Rank a request (or serve it from the cache) and return the JSON response body."""
    key = svc.hot.key(cache_key(request))
    trace_id = request.intent_id
    # The generation is read before the market: a gate that changes after this read moves it.
    generation = await _generation(svc)
    value = await svc.hot.get(key)
    cached = _untag(value, generation) if value is not None else None
    if cached is not None:
        event = svc.audit(
            trace_id=trace_id,
            entity_type="cache",
            entity_id=request.intent_id,
            action="opportunity.evaluate",
            status="cache_hit",
            actor_type="buyer_agent",
        )
        await svc.store.append_audit([event])
        return cached

    cache: MarketCache = svc.state.setdefault("market_cache", MarketCache())

    async def rank_and_record(uow: UnitOfWork) -> bytes:
        # Ranked inside the write that records it: the gates are read on the writer's connection, in the
        # transaction that stores the served slots (no read transaction of its own per request), and no
        # receipt can commit spend between the read and the record.
        market = await cache.load(uow, svc.ranking)
        response: OpportunityResponse = evaluate(svc.ranking, request, market, svc.evaluation_now())
        await uow.audit.insert_audit(_evaluation_events(svc, request, response))
        # What receipt verification later checks a receipt against: the slots served for this intent.
        await uow.receipts.insert_served_slots(
            request.intent_id,
            [(s.offer_id, s.partner_id, s.campaign_id) for s in response.shortlisted],
            epoch_ms(svc.clock()),
        )
        if await uow.counters.mark_intent(request.intent_id, "evaluated"):
            await uow.counters.bump("intents:evaluated")
        return msgspec.json.encode(response)

    body = await svc.store.write(rank_and_record)
    await svc.hot.set(key, generation + _TAG_END + body, OPPORTUNITY_CACHE_TTL_MS)
    return body


def _evaluation_events(
    svc: Services, request: OpportunityRequest, response: OpportunityResponse
) -> list[AuditEvent]:
    """The audit of a ranked request: the cache miss, and the decision with its shortlist."""
    trace_id = request.intent_id
    return [
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
                    {
                        "campaignId": s.campaign_id,
                        "partnerId": s.partner_id,
                        "priorityScore": s.priority_score,
                    }
                    for s in response.shortlisted
                ],
            },
        ),
    ]
