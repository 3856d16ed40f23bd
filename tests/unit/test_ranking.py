"""Ranking (spec §5 and the seed example of §11): every factor, score, gate and the ordering."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.domain.gates import GATES
from server.domain.models import OpportunityRequest, ReputationRecord
from server.domain.ops import PY
from server.domain.ranking import (
    CampaignState,
    Market,
    PartnerState,
    affective_fit_score,
    age_in_days,
    bid_norm,
    category_factor,
    evaluate,
    freshness_factor,
    governed_trust,
    priority_score,
    rank,
    ranking_reason,
    region_factor,
    relevance_score,
    reputation_adjustment,
    round_half_up,
    targeting_factor,
    task_factor,
    trust_score,
    utility_score,
)
from server.domain.ranking_config import DEFAULT_RANKING

from .factories import (
    SEED_CLOCK,
    hubflow,
    replace,
    seed_campaigns,
    seed_partners,
    seed_reputation,
    signalstack,
    utc,
    with_offer,
    with_proof,
)

CFG = DEFAULT_RANKING


def seed_request(**overrides) -> OpportunityRequest:
    fields = {
        "intent_id": "intent_seed",
        "category": "crm_software",
        "task_type": "compare_and_shortlist",
        "constraints": {"geo": ["UK"]},
        "sponsored_slots": 4,
    }
    fields.update(overrides)
    return OpportunityRequest(**fields)


def partner_state(partner, records=(), disputes=0) -> PartnerState:
    mine = [r for r in records if r.partner_id == partner.partner_id]
    return PartnerState(
        partner=partner, governed_trust=governed_trust(CFG, partner.trust_score, mine, disputes)
    )


def seed_market(campaigns=None, partners=None) -> Market:
    campaigns = seed_campaigns() if campaigns is None else campaigns
    partners = seed_partners() if partners is None else partners
    records = seed_reputation()
    return Market(
        campaigns=tuple(c if isinstance(c, CampaignState) else CampaignState(campaign=c) for c in campaigns),
        partners=tuple(p if isinstance(p, PartnerState) else partner_state(p, records) for p in partners),
    )


def procure_pilot():
    return seed_partners()[0]


# ---------------------------------------------------------------------------
# The seed example (§11)
# ---------------------------------------------------------------------------


def test_seed_example_ranks_exactly_two_candidates_in_priority_order():
    response = evaluate(CFG, seed_request(), seed_market(), SEED_CLOCK, explain=True)
    # 2 campaigns x 2 active partners, counted before the prefilter.
    assert response.total_candidates == 4
    assert response.eligible_candidates == 2
    assert [(s.campaign_id, s.partner_id) for s in response.shortlisted] == [
        ("cmp_signalstack", "partner_procure_pilot"),
        ("cmp_hubflow", "partner_procure_pilot"),
    ]
    # GrowthDesk has no presentation receipts: the prefilter drops it, so it is not even a rejected candidate.
    assert response.rejected == []

    signal, hub = response.shortlisted
    # Both: cat=task=region=targeting=1 -> relevance 1.0; proof ages 24.5 and 10.5 days -> freshness 1.0;
    # utility = .45 + .2 + .2 + .15 = 1.0; three variants -> affective = .6 + .4 = 1.0;
    # trust = (0.92 + 1.0) / 2 = 0.96.
    for item in (signal, hub):
        assert item.relevance == pytest.approx(1.0, abs=1e-12)
        assert item.expected_utility == pytest.approx(1.0, abs=1e-12)
        assert item.affective_fit == pytest.approx(1.0, abs=1e-12)
        assert item.trust_score == pytest.approx(0.96, abs=1e-12)
    # max eligible bid = max(1, 120, 900) = 900.
    # SignalStack: .35 + .25 + .15 * .96 + .15 + .10 * (900/900) = 0.994
    assert signal.priority_score == pytest.approx(0.994, abs=1e-12)
    # HubFlow:     .35 + .25 + .15 * .96 + .15 + .10 * (120/900) = 0.907333...
    assert hub.priority_score == pytest.approx(0.35 + 0.25 + 0.144 + 0.15 + 0.1 * 120 / 900, abs=1e-12)
    assert hub.priority_score == pytest.approx(0.9073333333333333, abs=1e-12)
    assert signal.ranking_reason == (
        "Passed gates and ranked by relevance=1.00, utility=1.00, trust=0.96, "
        "affective_fit=1.00, bid=900.00, priority_score=0.99."
    )
    assert hub.ranking_reason == (
        "Passed gates and ranked by relevance=1.00, utility=1.00, trust=0.96, "
        "affective_fit=1.00, bid=120.00, priority_score=0.91."
    )
    assert signal.bid_value == 900 and hub.bid_value == 120
    assert signal.disclosure_text.startswith("Sponsored recommendation from SignalStack")
    assert signal.action_endpoints == ["https://api.signalstack.ai/trial"]
    assert signal.proof_bundle_ref == "proof_signalstack"
    assert signal.offer_id == "offer_signalstack"
    assert signal.audit_trace_id == "intent_seed"
    assert signal.sponsored_flag is True and signal.ttl_seconds == 300
    assert signal.bid_id.startswith("bid_") and signal.bid_id != hub.bid_id


def test_seed_governed_trust_of_procure_pilot_is_0_92():
    records = seed_reputation()
    # 0.84 + 4 x 0.02
    assert governed_trust(CFG, 0.84, records, 0) == pytest.approx(0.92, abs=1e-12)
    market = seed_market()
    assert market.partners[0].governed_trust == pytest.approx(0.92, abs=1e-12)
    # GrowthDesk has no reputation records: its base trust.
    assert market.partners[1].governed_trust == pytest.approx(0.8, abs=1e-12)


def test_growthdesk_is_never_a_candidate_whatever_the_request():
    for slots in (1, 4, 100):
        for geo in ([], ["UK"], ["CN"], ["SG"]):
            request = seed_request(sponsored_slots=slots, constraints={"geo": geo})
            result = rank(CFG, request, seed_market(), SEED_CLOCK)
            assert all(c.partner.partner.partner_id != "partner_growthdesk" for c in result.candidates)


def test_sponsored_slots_cut_the_shortlist():
    response = evaluate(CFG, seed_request(sponsored_slots=1), seed_market(), SEED_CLOCK)
    assert [s.campaign_id for s in response.shortlisted] == ["cmp_signalstack"]
    assert response.eligible_candidates == 2
    assert response.rejected is None  # no explain, no rejected list


def test_total_candidates_counts_active_partners_only():
    suspended = replace(procure_pilot(), partner_id="partner_suspended", status="suspended")
    market = seed_market(partners=[*seed_partners(), suspended])
    assert rank(CFG, seed_request(), market, SEED_CLOCK).total_candidates == 4


# ---------------------------------------------------------------------------
# Factors: both branches
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factor", "mismatch"),
    [(category_factor, 0.42), (task_factor, 0.7), (region_factor, 0.35), (targeting_factor, 0.5)],
)
def test_factor_is_one_on_a_match_and_its_constant_otherwise(factor, mismatch):
    assert factor(CFG, PY, True) == 1.0
    assert factor(CFG, PY, False) == mismatch


@pytest.mark.parametrize(
    ("age_days", "expected"),
    [
        (0.0, 1.0),
        (30.0, 1.0),
        (30.0001, 0.85),
        (90.0, 0.85),
        (90.0001, 0.7),
        (180.0, 0.7),
        (180.0001, 0.55),
        (1000.0, 0.55),
    ],
)
def test_freshness_tiers_and_their_boundaries(age_days, expected):
    assert freshness_factor(CFG, PY, age_days) == expected


def test_freshness_boundaries_from_timestamps():
    clock = SEED_CLOCK
    assert freshness_factor(CFG, PY, age_in_days(clock - timedelta(days=30), clock)) == 1.0
    # 30.0001 days = 30 days + 8.64 s
    assert freshness_factor(CFG, PY, age_in_days(clock - timedelta(days=30, seconds=8.64), clock)) == 0.85
    assert freshness_factor(CFG, PY, age_in_days(clock - timedelta(days=30, seconds=1), clock)) == 0.85
    assert freshness_factor(CFG, PY, age_in_days(clock - timedelta(days=90), clock)) == 0.85
    assert freshness_factor(CFG, PY, age_in_days(clock - timedelta(days=90, seconds=1), clock)) == 0.7
    assert freshness_factor(CFG, PY, age_in_days(clock - timedelta(days=180), clock)) == 0.7
    assert freshness_factor(CFG, PY, age_in_days(clock - timedelta(days=180, seconds=1), clock)) == 0.55
    assert age_in_days(utc(2026, 3, 1), SEED_CLOCK) == 10.5


def test_candidate_factors_from_campaign_and_request():
    """Each factor's mismatch branch, seen through a whole candidate's scores."""
    c = replace(hubflow(), targeting_partner_ids=["partner_someone_else"], regions=["US"])
    c = with_offer(c, intended_for=["vendor_discovery"])
    c = with_proof(c, updated_at=SEED_CLOCK - timedelta(days=200))
    market = seed_market(campaigns=[c])
    request = seed_request(relevance_floor=0.0, utility_floor=0.0)
    (cand,) = rank(CFG, request, market, SEED_CLOCK).candidates
    s = cand.scores
    # cat 1, task .7, region .35, targeting .5: .55 + .14 + .0525 + .05 = 0.7925
    assert s.relevance == pytest.approx(0.7925, abs=1e-12)
    assert s.freshness == 0.55
    # .45 * .7925 + .2 * .35 + .2 * .55 + .15 * .7 = 0.356625 + 0.285 = 0.641625
    assert s.utility == pytest.approx(0.641625, abs=1e-12)
    assert s.trust == pytest.approx((0.92 + 0.55) / 2, abs=1e-12)
    assert s.affective_fit == pytest.approx(0.6 + 0.4 * 0.7, abs=1e-12)


def test_region_matches_when_request_names_no_geo_or_shares_a_code():
    c = replace(hubflow(), regions=["EU"])
    for geo, expected in (([], 1.0), (["EU"], 1.0), (["US", "EU"], 1.0), (["US"], 0.35)):
        request = seed_request(constraints={"geo": geo}, relevance_floor=0, utility_floor=0)
        (cand,) = rank(
            CFG, request, seed_market(campaigns=[c], partners=[procure_pilot()]), SEED_CLOCK
        ).candidates
        assert cand.scores.relevance == pytest.approx(0.55 + 0.2 + 0.15 * expected + 0.1, abs=1e-12)


def test_category_mismatch_lowers_relevance_to_0_681():
    c = replace(hubflow(), category="hr_software")
    request = seed_request(relevance_floor=0, utility_floor=0)
    (cand,) = rank(
        CFG, request, seed_market(campaigns=[c], partners=[procure_pilot()]), SEED_CLOCK
    ).candidates
    assert cand.scores.relevance == pytest.approx(0.55 * 0.42 + 0.2 + 0.15 + 0.1, abs=1e-12)  # 0.681


# ---------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------


def test_score_formulas_with_all_mismatches():
    relevance = relevance_score(CFG, PY, 0.42, 0.7, 0.35, 0.5)
    assert relevance == pytest.approx(0.231 + 0.14 + 0.0525 + 0.05, abs=1e-12)  # 0.4735
    utility = utility_score(CFG, PY, relevance, 0.35, 0.55, 0.7)
    assert utility == pytest.approx(0.45 * 0.4735 + 0.07 + 0.11 + 0.105, abs=1e-12)  # 0.498075
    assert trust_score(CFG, PY, 0.7, 0.85) == pytest.approx(0.775, abs=1e-12)
    assert affective_fit_score(CFG, PY, 2, 0.7) == pytest.approx(0.6 * 2 / 3 + 0.28, abs=1e-12)  # 0.68
    assert affective_fit_score(CFG, PY, 0, 1.0) == pytest.approx(0.4, abs=1e-12)
    # .35*.8 + .25*.7 + .15*.9 + .15*.6 + .10*.5 = 0.73
    assert priority_score(CFG, PY, 0.8, 0.7, 0.9, 0.6, 0.5) == pytest.approx(0.73, abs=1e-12)


def test_scores_are_clamped_to_the_unit_interval():
    assert PY.clamp(-0.1) == 0.0 and PY.clamp(1.2) == 1.0 and PY.clamp(0.5) == 0.5
    assert trust_score(CFG, PY, 1.0, 1.0) == 1.0
    assert priority_score(CFG.with_weights(relevance=2.0), PY, 1, 1, 1, 1, 1) == 1.0
    assert bid_norm(PY, 2000, 900) == 1.0


def test_empty_narrative_variants_lower_affective_fit():
    c = with_offer(
        hubflow(), narrative_variants=replace(hubflow().offer.narrative_variants, premium="", simple="  ")
    )
    request = seed_request(relevance_floor=0, utility_floor=0)
    (cand,) = rank(
        CFG, request, seed_market(campaigns=[c], partners=[procure_pilot()]), SEED_CLOCK
    ).candidates
    assert cand.scores.affective_fit == pytest.approx(0.6 / 3 + 0.4, abs=1e-12)


def test_bid_norm_divides_by_at_least_one():
    cheap = replace(hubflow(), payout_amount=0.5)
    response = evaluate(
        CFG, seed_request(), seed_market(campaigns=[cheap], partners=[procure_pilot()]), SEED_CLOCK
    )
    (item,) = response.shortlisted
    # max(1, 0.5) = 1 -> bid_norm 0.5 (not 0.5 / 0.5 = 1)
    assert item.priority_score == pytest.approx(0.35 + 0.25 + 0.15 * 0.96 + 0.15 + 0.1 * 0.5, abs=1e-12)


def test_bid_norm_uses_the_max_bid_among_the_eligible_only():
    ineligible_rich = replace(signalstack(), status="paused", payout_amount=10_000)
    market = seed_market(campaigns=[hubflow(), ineligible_rich], partners=[procure_pilot()])
    (item,) = evaluate(CFG, seed_request(), market, SEED_CLOCK).shortlisted
    assert item.campaign_id == "cmp_hubflow"
    # HubFlow is the only eligible bid: 120 / max(1, 120) = 1.0
    assert item.priority_score == pytest.approx(0.35 + 0.25 + 0.144 + 0.15 + 0.1, abs=1e-12)


# ---------------------------------------------------------------------------
# Governed trust
# ---------------------------------------------------------------------------


def record(delta, status="none", partner="p1"):
    return ReputationRecord(
        record_id=f"rep_{delta}_{status}",
        partner_id=partner,
        delta=delta,
        reason_type="test",
        dispute_status=status,
        occurred_at=SEED_CLOCK,
    )


@pytest.mark.parametrize(
    ("delta", "status", "adjustment"),
    [
        (4, "none", 0.08),
        (4, "under_review", 0.08),  # positive deltas always count in full
        (0, "none", 0.0),
        (-5, "none", -0.1),
        (-5, "under_review", -0.05),
        (-5, "resolved", 0.0),
        (-5, "overturned", -0.1),
    ],
)
def test_reputation_adjustment(delta, status, adjustment):
    assert reputation_adjustment(CFG, delta, status) == pytest.approx(adjustment, abs=1e-12)


def test_governed_trust_sums_records_and_subtracts_disputes():
    records = [record(4), record(-5, "under_review"), record(-5, "resolved"), record(-5, "overturned")]
    # 0.8 + 0.08 - 0.05 + 0 - 0.1 = 0.73; two disputed settlements: - 0.1 -> 0.63
    assert governed_trust(CFG, 0.8, records, 0) == pytest.approx(0.73, abs=1e-12)
    assert governed_trust(CFG, 0.8, records, 2) == pytest.approx(0.63, abs=1e-12)
    assert governed_trust(CFG, 0.8, [], 1) == pytest.approx(0.75, abs=1e-12)


def test_governed_trust_is_clamped():
    assert governed_trust(CFG, 0.95, [record(10)], 0) == 1.0
    assert governed_trust(CFG, 0.1, [record(-10)], 0) == 0.0
    assert governed_trust(CFG, 0.1, [], 5) == 0.0


# ---------------------------------------------------------------------------
# Gates: each one failing alone
# ---------------------------------------------------------------------------


def only_candidate(campaign, request=None, partner_state_=None, **state):
    market = Market(
        campaigns=(CampaignState(campaign=campaign, **state),),
        partners=(partner_state_ or partner_state(procure_pilot(), seed_reputation()),),
    )
    response = evaluate(CFG, request or seed_request(), market, SEED_CLOCK, explain=True)
    return response


def failed_gates(response):
    assert response.eligible_candidates == 0 and response.shortlisted == []
    (rejected,) = response.rejected
    return rejected.failed_gates


def test_the_base_candidate_passes_every_gate():
    response = only_candidate(hubflow())
    assert response.eligible_candidates == 1 and response.rejected == []


@pytest.mark.parametrize(
    ("campaign_changes", "gate"),
    [
        ({"status": "paused"}, "policy"),
        ({"status": "reviewing"}, "policy"),
        ({"policy_pass": False}, "policy"),
        ({"disclosure_text": ""}, "disclosure"),
        ({"disclosure_text": "   "}, "disclosure"),
    ],
)
def test_policy_and_disclosure_gates(campaign_changes, gate):
    assert failed_gates(only_candidate(replace(hubflow(), **campaign_changes))) == [gate]


def test_disclosure_gate_is_open_when_the_request_does_not_require_it():
    response = only_candidate(replace(hubflow(), disclosure_text=""), seed_request(disclosure_required=False))
    assert response.eligible_candidates == 1


def test_relevance_gate():
    # targeting mismatch: relevance = .55 + .2 + .15 + .05 = 0.95; utility = .45*.95 + .55 = 0.9775
    c = replace(hubflow(), targeting_partner_ids=["partner_other"])
    assert failed_gates(only_candidate(c, seed_request(relevance_floor=0.96))) == ["relevance"]
    assert only_candidate(c, seed_request(relevance_floor=0.95)).eligible_candidates == 1


def test_utility_gate():
    c = replace(hubflow(), targeting_partner_ids=["partner_other"])
    assert failed_gates(only_candidate(c, seed_request(utility_floor=0.98))) == ["utility"]
    assert only_candidate(c, seed_request(utility_floor=0.97)).eligible_candidates == 1


def test_default_floors_reject_a_category_mismatch():
    # relevance = .55*.42 + .45 = 0.681 < 0.72; utility = .45*.681 + .55 = 0.85645 >= 0.68
    assert failed_gates(only_candidate(replace(hubflow(), category="hr_software"))) == ["relevance"]


def test_trust_gate_alone():
    # stale proof: freshness .55 -> trust (.92 + .55)/2 = 0.735 < 0.8 <= governed 0.92
    c = with_proof(replace(hubflow(), min_trust=0.8), updated_at=utc(2025, 1, 1))
    assert failed_gates(only_candidate(c)) == ["trust"]


def test_governed_trust_gate_alone():
    # governed 0.6, freshness 1 -> trust 0.8 >= 0.7 > governed 0.6
    c = replace(hubflow(), min_trust=0.7)
    ps = PartnerState(partner=procure_pilot(), governed_trust=0.6)
    assert failed_gates(only_candidate(c, partner_state_=ps)) == ["governed_trust"]


def test_budget_gate_and_its_boundary():
    # committed + payout <= budget: 11880 + 120 = 12000 passes, 11881 + 120 fails
    assert only_candidate(hubflow(), committed_spend=11880).eligible_candidates == 1
    assert failed_gates(only_candidate(hubflow(), committed_spend=11881)) == ["budget"]


def test_credits_gate():
    assert failed_gates(only_candidate(hubflow(), credits_available=False)) == ["credits"]


def test_every_gate_failing_at_once_lists_them_in_spec_order():
    c = replace(hubflow(), status="paused", disclosure_text="", category="hr_software", min_trust=0.99)
    ps = PartnerState(partner=procure_pilot(), governed_trust=0.5)
    response = only_candidate(
        c, seed_request(utility_floor=0.99), partner_state_=ps, committed_spend=1e9, credits_available=False
    )
    assert failed_gates(response) == list(GATES)
    assert GATES == (
        "policy",
        "disclosure",
        "relevance",
        "utility",
        "trust",
        "governed_trust",
        "budget",
        "credits",
    )


def test_rejected_candidates_carry_their_scores():
    response = only_candidate(hubflow(), credits_available=False)
    (rejected,) = response.rejected
    assert rejected.campaign_id == "cmp_hubflow" and rejected.partner_id == "partner_procure_pilot"
    assert rejected.scores.trust == pytest.approx(0.96, abs=1e-12)
    assert rejected.scores.governed_trust == pytest.approx(0.92, abs=1e-12)
    assert rejected.scores.priority_score is None


def test_partner_prefilter_conditions():
    base = procure_pilot()
    for changes in (
        {"status": "suspended"},
        {"accepts_sponsored": False},
        {"supports_disclosure": False},
        {"supports_delivery_receipt": False},
        {"supports_presentation_receipt": False},
        {"supported_categories": ["hr_software"]},
    ):
        market = seed_market(campaigns=[hubflow()], partners=[replace(base, **changes)])
        assert rank(CFG, seed_request(), market, SEED_CLOCK).candidates == [], changes


# ---------------------------------------------------------------------------
# Ordering
# ---------------------------------------------------------------------------


def test_ties_keep_enumeration_order():
    a = replace(hubflow(), campaign_id="cmp_a")
    b = replace(hubflow(), campaign_id="cmp_b")
    for order in ([a, b], [b, a]):
        response = evaluate(
            CFG, seed_request(), seed_market(campaigns=order, partners=[procure_pilot()]), SEED_CLOCK
        )
        assert [s.campaign_id for s in response.shortlisted] == [c.campaign_id for c in order]
        assert response.shortlisted[0].priority_score == response.shortlisted[1].priority_score


def test_enumeration_is_campaign_major():
    second_partner = replace(procure_pilot(), partner_id="partner_b")
    market = seed_market(campaigns=[hubflow(), signalstack()], partners=[procure_pilot(), second_partner])
    result = rank(CFG, seed_request(), market, SEED_CLOCK)
    assert [(c.campaign.campaign.campaign_id, c.partner.partner.partner_id) for c in result.candidates] == [
        ("cmp_hubflow", "partner_procure_pilot"),
        ("cmp_hubflow", "partner_b"),
        ("cmp_signalstack", "partner_procure_pilot"),
        ("cmp_signalstack", "partner_b"),
    ]


# ---------------------------------------------------------------------------
# Ranking reason: two decimals, an exact half rounded up (as JavaScript's toFixed)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.125, "0.13"),  # an exact binary half: up
        (0.375, "0.38"),
        (0.994, "0.99"),
        (0.995, "0.99"),  # the float is 0.99499999999999999556 (toFixed gives "0.99")
        (0.145, "0.14"),  # the float is 0.14499999999999999 (toFixed gives "0.14")
        (1.005, "1.00"),
        (0.885, "0.89"),  # the float is 0.88500000000000000888
        (8.345, "8.35"),
        (0.0, "0.00"),
        (-0.0, "0.00"),
        (1.0, "1.00"),
        (900, "900.00"),
        (0.9073333333333333, "0.91"),
    ],
)
def test_round_half_up_matches_the_originals_to_fixed(value, text):
    assert round_half_up(value) == text


def test_ranking_reason_text():
    assert ranking_reason(0.125, 0.994, 0.885, 1.0, 120, 0.9073333) == (
        "Passed gates and ranked by relevance=0.13, utility=0.99, trust=0.89, "
        "affective_fit=1.00, bid=120.00, priority_score=0.91."
    )
