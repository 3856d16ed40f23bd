"""Where a run meets a limit: the priority cap's ties (#10, defect 4), checked against the per-request path."""

from __future__ import annotations

import math

import pytest

from server.domain.ranking import RankingConfig, weight_sum
from workbench.limits import cap_ties, normalise
from workbench.pipeline import run_scenario
from workbench.scenario import load_scenario

from .helpers import ROOT, campaign, partner, reference_run, request, scenario

CROWDED = ROOT / "scenarios" / "crowded-market.toml"


def reference_ties(result) -> tuple[int, int, int]:
    """(shortlisted, at the cap, tied at the cap) from ``server.domain.ranking.rank``, one request at a time."""
    shortlisted = at_cap = tied = 0
    for step in reference_run(result):
        capped = [c for c in step.ranking.ordered if c.scores.priority_score >= 1.0]
        for cand in step.ranking.shortlisted:
            shortlisted += 1
            if cand.scores.priority_score >= 1.0:
                at_cap += 1
                tied += len(capped) >= 2
    return shortlisted, at_cap, tied


@pytest.mark.parametrize("bid", [0.1, 0.2, 0.4])
def test_cap_ties_agree_with_the_per_request_ranking(bid: float) -> None:
    # Three strong campaigns, two partners: with weights over 1 several candidates reach the cap.
    camps = [campaign(f"cmp_{i}", payoutAmount=100.0 + 10 * i, budget=1e9) for i in range(3)]
    parts = [partner("p_0", trustScore=0.95), partner("p_1", trustScore=0.9)]
    reqs = [request(f"i{t}", sponsoredSlots=1 + t % 3) for t in range(30)]
    cfg = RankingConfig().with_weights(bid=bid)
    result = run_scenario(scenario(camps, parts, reqs, cfg=cfg))
    ties = cap_ties(result)
    assert (ties.slots, ties.at_cap, ties.tied) == reference_ties(result)
    assert ties.weight_sum == pytest.approx(0.9 + bid)
    if bid > 0.1:
        assert ties.tied > 0 and ties.sums_to_one is False
    else:
        assert ties.tied == 0 and ties.sums_to_one


def test_the_crowded_market_at_bid_0_2_ties_a_third_of_its_slots() -> None:
    base = cap_ties(run_scenario(load_scenario(CROWDED, ["traffic.requests=4000"])))
    assert base.weight_sum == pytest.approx(1.0) and base.tied == 0
    ties = cap_ties(run_scenario(load_scenario(CROWDED, ["traffic.requests=4000", "ranking.weights.bid=0.2"])))
    assert ties.weight_sum == pytest.approx(1.1)
    assert 0.2 < ties.tied_share < 0.5 and ties.tied <= ties.at_cap <= ties.slots


def test_normalise_scales_the_weights_to_one_and_keeps_their_proportions() -> None:
    cfg = RankingConfig().with_weights(bid=0.2)
    out = normalise(cfg)
    assert math.isclose(weight_sum(out.weights), 1.0, abs_tol=1e-9)
    assert out.weights.relevance == pytest.approx(0.35 / 1.1, abs=1e-6)
    assert out.weights.bid == pytest.approx(0.2 / 1.1, abs=1e-6)
    assert out.floors == cfg.floors
    assert normalise(RankingConfig()) == RankingConfig()
    with pytest.raises(ValueError, match="all 0"):
        normalise(RankingConfig().with_weights(relevance=0, utility=0, trust=0, affective_fit=0, bid=0))
