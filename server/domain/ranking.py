"""Ranking: factors, scores and priority, candidates and the ranked shortlist (spec/exchange.md §5).

The formula has exactly one definition here, the gates one in ``gates``, the
configuration in ``ranking_config``. Every score is written once as a function
over an ``Ops`` value (``ops``: ``where`` and ``clamp``) and plain arithmetic, so
the same definition runs on Python floats (``PY``, one request at a time in the
API) and on polars expressions (the workbench's vectorised batch builds its own
``Ops`` with ``pl.when`` and ``clip``). Floating-point results agree because both
paths perform the same operations in the same order.

Everything is pure: the evaluation clock is an argument.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .gates import GATES, budget_gate, static_gates
from .models import (
    Campaign,
    CandidateScores,
    OpportunityRequest,
    OpportunityResponse,
    PartnerAgent,
    RejectedCandidate,
    ReputationRecord,
    ShortlistedOffer,
)
from .ops import PY, Ops
from .ranking_config import RankingConfig

# ---------------------------------------------------------------------------
# The formula: one definition (works on floats and on polars expressions)
# ---------------------------------------------------------------------------


def category_factor(cfg: RankingConfig, ops: Ops[Any], category_matches: Any) -> Any:
    return ops.where(category_matches, 1.0, cfg.factors.category_mismatch)


def task_factor(cfg: RankingConfig, ops: Ops[Any], task_matches: Any) -> Any:
    return ops.where(task_matches, 1.0, cfg.factors.task_mismatch)


def region_factor(cfg: RankingConfig, ops: Ops[Any], region_matches: Any) -> Any:
    """``region_matches`` is true when the request names no geo or shares a code with the campaign."""
    return ops.where(region_matches, 1.0, cfg.factors.region_mismatch)


def targeting_factor(cfg: RankingConfig, ops: Ops[Any], targeting_matches: Any) -> Any:
    return ops.where(targeting_matches, 1.0, cfg.factors.targeting_mismatch)


def freshness_factor(cfg: RankingConfig, ops: Ops[Any], age_days: Any) -> Any:
    result = cfg.factors.freshness_stale
    for max_age, value in reversed(cfg.factors.freshness_tiers):
        result = ops.where(age_days <= max_age, value, result)
    return result


def trust_score(cfg: RankingConfig, ops: Ops[Any], governed_trust: Any, freshness: Any) -> Any:
    return ops.clamp((governed_trust + freshness) / 2)


def relevance_score(
    cfg: RankingConfig, ops: Ops[Any], cat: Any, task: Any, region: Any, targeting: Any
) -> Any:
    a, b, c, d = cfg.factors.relevance_mix
    return ops.clamp(a * cat + b * task + c * region + d * targeting)


def utility_score(
    cfg: RankingConfig, ops: Ops[Any], relevance: Any, region: Any, freshness: Any, task: Any
) -> Any:
    a, b, c, d = cfg.factors.utility_mix
    return ops.clamp(a * relevance + b * region + c * freshness + d * task)


def affective_fit_score(cfg: RankingConfig, ops: Ops[Any], variant_count: Any, task: Any) -> Any:
    a, b = cfg.factors.affective_mix
    return ops.clamp(a * (variant_count / 3) + b * task)


def bid_norm(ops: Ops[Any], bid: Any, max_eligible_bid: Any) -> Any:
    """``max_eligible_bid`` is already ``max(1, max bid among the eligible of this request)``."""
    return ops.clamp(bid / max_eligible_bid)


def priority_score(
    cfg: RankingConfig,
    ops: Ops[Any],
    relevance: Any,
    utility: Any,
    trust: Any,
    affective_fit: Any,
    bid_n: Any,
) -> Any:
    w = cfg.weights
    return ops.clamp(
        w.relevance * relevance
        + w.utility * utility
        + w.trust * trust
        + w.affective_fit * affective_fit
        + w.bid * bid_n
    )


def reputation_adjustment(cfg: RankingConfig, delta: float, dispute_status: str) -> float:
    point = cfg.factors.reputation_point
    if delta >= 0:
        return delta * point
    if dispute_status == "under_review":
        return delta * point * cfg.factors.under_review_factor
    if dispute_status == "resolved":
        return delta * point * 0.0
    return delta * point


def governed_trust(
    cfg: RankingConfig,
    base_trust: float,
    records: Sequence[ReputationRecord],
    disputed_settlements: int,
) -> float:
    """clamp(trustScore + Σ adj(record) − penalty × disputed settlements)."""
    total = base_trust
    for record in records:
        total += reputation_adjustment(cfg, record.delta, record.dispute_status)
    total -= cfg.factors.dispute_penalty * disputed_settlements
    return PY.clamp(total)


def age_in_days(updated_at: datetime, clock: datetime) -> float:
    return (clock - updated_at).total_seconds() / 86400.0


def non_empty_variants(campaign: Campaign) -> int:
    v = campaign.offer.narrative_variants
    return sum(1 for text in (v.rational, v.premium, v.simple) if text and text.strip())


def partner_passes_prefilter(partner: PartnerAgent, category: str) -> bool:
    return (
        partner.status == "active"
        and partner.accepts_sponsored
        and partner.supports_disclosure
        and partner.supports_delivery_receipt
        and partner.supports_presentation_receipt
        and category in partner.supported_categories
    )


def round_half_up(value: float, places: int = 2) -> str:
    """Format with ``places`` decimals as the original's ``Number.toFixed`` did.

    The float's exact binary value is rounded and an exact tie goes up: 0.125 →
    "0.13" (0.125 is exact), but 0.145 → "0.14" because the float nearest 0.145
    is 0.14499999999999999. Rounding the shortest decimal text instead would
    print "0.15" and disagree with the original on such scores.
    """
    quantum = Decimal(1).scaleb(-places)
    number = float(value)
    if number == 0.0:
        number = 0.0  # no "-0.00"
    return str(Decimal(number).quantize(quantum, rounding=ROUND_HALF_UP))


def ranking_reason(
    relevance: float, utility: float, trust: float, affective: float, bid: float, priority: float
) -> str:
    f = round_half_up
    return (
        f"Passed gates and ranked by relevance={f(relevance)}, utility={f(utility)}, trust={f(trust)}, "
        f"affective_fit={f(affective)}, bid={f(bid)}, priority_score={f(priority)}."
    )


def bid_id(intent_id: str, campaign_id: str, partner_id: str) -> str:
    digest = hashlib.sha256(f"{intent_id}|{campaign_id}|{partner_id}".encode()).hexdigest()
    return "bid_" + digest[:12]


# ---------------------------------------------------------------------------
# The market a request is ranked against
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CampaignState:
    """A campaign with the live numbers its gates need."""

    campaign: Campaign
    committed_spend: float = 0.0
    credits_available: bool = True


@dataclass(frozen=True, slots=True)
class PartnerState:
    partner: PartnerAgent
    governed_trust: float


@dataclass(frozen=True, slots=True)
class Market:
    """Campaigns and partners in creation order; what one request is ranked against."""

    campaigns: tuple[CampaignState, ...]
    partners: tuple[PartnerState, ...]

    @property
    def active_partner_count(self) -> int:
        return sum(1 for p in self.partners if p.partner.status == "active")


@dataclass(slots=True)
class Candidate:
    campaign: CampaignState
    partner: PartnerState
    scores: CandidateScores
    failed_gates: list[str]

    @property
    def eligible(self) -> bool:
        return not self.failed_gates


def budget_ok(state: CampaignState) -> bool:
    c = state.campaign
    return budget_gate(state.committed_spend, c.payout_amount, c.budget)


def policy_pass(campaign: Campaign, partner: PartnerAgent) -> bool:
    return (
        campaign.status == "active"
        and campaign.policy_pass
        and partner.status == "active"
        and partner.supports_delivery_receipt
        and partner.supports_presentation_receipt
    )


def disclosure_ready(campaign: Campaign, partner: PartnerAgent) -> bool:
    """Whether the pair can serve a request that requires disclosure (``gates.disclosure_gate``)."""
    return bool(campaign.disclosure_text.strip()) and partner.supports_disclosure


def request_floors(cfg: RankingConfig, request: OpportunityRequest) -> tuple[float, float]:
    """The (relevance, utility) floors a request is ranked with: its own, else the config's defaults."""
    rel, util = request.relevance_floor, request.utility_floor
    return (cfg.floors.relevance if rel is None else rel, cfg.floors.utility if util is None else util)


def score_candidate(
    cfg: RankingConfig,
    request: OpportunityRequest,
    geo: Sequence[str],
    state: CampaignState,
    pstate: PartnerState,
    clock: datetime,
) -> Candidate:
    c, p = state.campaign, pstate.partner
    ops = PY
    cat = category_factor(cfg, ops, c.category == request.category)
    task = task_factor(cfg, ops, request.task_type in c.offer.intended_for)
    region = region_factor(cfg, ops, not geo or any(code in c.regions for code in geo))
    targeting = targeting_factor(
        cfg, ops, not c.targeting_partner_ids or p.partner_id in c.targeting_partner_ids
    )
    freshness = freshness_factor(cfg, ops, age_in_days(c.proof_bundle.updated_at, clock))
    gtrust = pstate.governed_trust
    trust = trust_score(cfg, ops, gtrust, freshness)
    relevance = relevance_score(cfg, ops, cat, task, region, targeting)
    utility = utility_score(cfg, ops, relevance, region, freshness, task)
    affective = affective_fit_score(cfg, ops, non_empty_variants(c), task)

    relevance_floor, utility_floor = request_floors(cfg, request)
    passed = static_gates(
        ops,
        policy=policy_pass(c, p),
        disclosure_required=request.disclosure_required,
        disclosure_ready=disclosure_ready(c, p),
        relevance=relevance,
        relevance_floor=relevance_floor,
        utility=utility,
        utility_floor=utility_floor,
        trust=trust,
        governed_trust=gtrust,
        min_trust=c.min_trust,
    )
    passed["budget"] = budget_ok(state)
    passed["credits"] = state.credits_available
    failed = [gate for gate in GATES if not passed[gate]]
    scores = CandidateScores(
        relevance=relevance,
        utility=utility,
        trust=trust,
        affective_fit=affective,
        governed_trust=gtrust,
        freshness=freshness,
    )
    return Candidate(campaign=state, partner=pstate, scores=scores, failed_gates=failed)


@dataclass(slots=True)
class Ranking:
    """The full result of ranking one request (before it is cut to a response)."""

    total_candidates: int
    candidates: list[Candidate]
    ordered: list[Candidate]  # eligible candidates, best first
    shortlisted: list[Candidate]


def rank(cfg: RankingConfig, request: OpportunityRequest, market: Market, clock: datetime) -> Ranking:
    """Score every (campaign, partner) pair, apply the gates, order the eligible by priority."""
    geo = request.geo()
    partners = [p for p in market.partners if partner_passes_prefilter(p.partner, request.category)]
    candidates = [
        score_candidate(cfg, request, geo, state, pstate, clock)
        for state in market.campaigns
        for pstate in partners
    ]
    eligible = [cand for cand in candidates if cand.eligible]
    max_bid = max([1.0] + [cand.campaign.campaign.payout_amount for cand in eligible])
    for cand in eligible:
        s = cand.scores
        s.bid_norm = bid_norm(PY, cand.campaign.campaign.payout_amount, max_bid)
        s.priority_score = priority_score(
            cfg, PY, s.relevance, s.utility, s.trust, s.affective_fit, s.bid_norm
        )
    # Python's sort is stable: ties keep enumeration order.
    ordered = sorted(eligible, key=lambda cand: -(cand.scores.priority_score or 0.0))
    total = len(market.campaigns) * market.active_partner_count
    return Ranking(
        total_candidates=total,
        candidates=candidates,
        ordered=ordered,
        shortlisted=ordered[: request.sponsored_slots],
    )


def shortlist_item(cand: Candidate, request: OpportunityRequest) -> ShortlistedOffer:
    c, p, s = cand.campaign.campaign, cand.partner.partner, cand.scores
    priority = s.priority_score or 0.0
    return ShortlistedOffer(
        bid_id=bid_id(request.intent_id, c.campaign_id, p.partner_id),
        offer_id=c.offer.offer_id,
        campaign_id=c.campaign_id,
        partner_id=p.partner_id,
        bid_value=c.payout_amount,
        expected_utility=s.utility,
        affective_fit=s.affective_fit,
        trust_score=s.trust,
        relevance=s.relevance,
        priority_score=priority,
        disclosure_text=c.disclosure_text,
        ranking_reason=ranking_reason(
            s.relevance, s.utility, s.trust, s.affective_fit, c.payout_amount, priority
        ),
        action_endpoints=list(c.offer.action_endpoints),
        proof_bundle_ref=c.proof_bundle.proof_bundle_id,
        audit_trace_id=request.intent_id,
    )


def evaluate(
    cfg: RankingConfig,
    request: OpportunityRequest,
    market: Market,
    clock: datetime,
    explain: bool | None = None,
) -> OpportunityResponse:
    """Rank one request and build the API response (``explain`` adds the rejected candidates)."""
    result = rank(cfg, request, market, clock)
    want_explain = request.explain if explain is None else explain
    rejected = None
    if want_explain:
        rejected = [
            RejectedCandidate(
                campaign_id=cand.campaign.campaign.campaign_id,
                partner_id=cand.partner.partner.partner_id,
                failed_gates=list(cand.failed_gates),
                scores=cand.scores,
            )
            for cand in result.candidates
            if not cand.eligible
        ]
    return OpportunityResponse(
        intent_id=request.intent_id,
        total_candidates=result.total_candidates,
        eligible_candidates=len(result.ordered),
        shortlisted=[shortlist_item(cand, request) for cand in result.shortlisted],
        rejected=rejected,
    )
