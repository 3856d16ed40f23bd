"""Where a run meets a limit: the priority cap's ties (#10, defect 4), checked against the per-request path."""

from __future__ import annotations

import math

import pytest

from server.domain.ranking_config import RankingConfig, weight_sum
from workbench.engine.limits import cap_ties, normalise
from workbench.engine.pipeline import run_scenario
from workbench.engine.scenario import load_scenario

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
    ties = cap_ties(
        run_scenario(load_scenario(CROWDED, ["traffic.requests=4000", "ranking.weights.bid=0.2"]))
    )
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


# Budgets and balances that ran out (#10, defect 6) ------------------------------------------------


def reference_exhaustion(result) -> dict[tuple[str, str], int]:
    """(kind, id) -> the first request (1-based) whose per-request ranking fails that gate."""
    first: dict[tuple[str, str], int] = {}
    for t, step in enumerate(reference_run(result), start=1):
        for cand in step.ranking.candidates:
            c = cand.campaign.campaign
            if "budget" in cand.failed_gates:
                first.setdefault(("budget", c.campaign_id), t)
            if "credits" in cand.failed_gates:
                first.setdefault(("credits", c.workspace_id), t)
    return first


def test_exhaustion_dates_each_budget_and_balance_like_the_per_request_path() -> None:
    from workbench.engine.limits import exhaustion

    camps = [
        campaign("cmp_big", payoutAmount=300.0, budget=1500.0),  # five slots, then out
        campaign("cmp_mid", payoutAmount=200.0, budget=1800.0, workspaceId="ws_metered"),
        campaign("cmp_low", payoutAmount=100.0, budget=50_000.0),  # never runs out
    ]
    reqs = [request(f"i{t}", sponsoredSlots=1 + t % 2) for t in range(60)]
    scen = scenario(camps, [partner("p_0"), partner("p_1")], reqs, entities={"credits": {"ws_metered": 5}})
    result = run_scenario(scen)
    table = exhaustion(result)
    got = {(r["kind"], r["id"]): r["request_no"] for r in table.iter_rows(named=True)}
    assert got == reference_exhaustion(result)
    assert {k for k, _ in got} == {"budget", "credits"} and ("budget", "cmp_low") not in got
    for r in table.iter_rows(named=True):
        arrival = result.traffic.requests["arrival_at"][r["request_no"] - 1]
        assert r["at"] == arrival and r["intent_id"] == f"i{r['request_no'] - 1}"
        assert r["after_seconds"] == (arrival - result.scenario.spec.as_of).total_seconds()
    assert table["request_no"].is_sorted()


def test_more_traffic_after_the_last_budget_ran_out_only_lowers_the_rates() -> None:
    from workbench.engine.exports import run_tables

    runs = {
        n: run_tables(run_scenario(load_scenario(CROWDED, [f"traffic.requests={n}"])))
        for n in (30_000, 60_000)
    }
    small, big = runs[30_000], runs[60_000]
    last = small["_kpis"]["last_exhausted_at_request"]
    assert last is not None and last < 30_000
    # the same budgets ran out at the same requests (the first 30,000 requests are the same requests,
    # arriving faster in the same day), so the totals are the same and only the rates fall
    same = ["kind", "id", "request_no", "intent_id"]
    assert small["exhaustion"].select(same).equals(big["exhaustion"].select(same))
    assert big["exhaustion"]["at"].max() < small["exhaustion"]["at"].max()
    for name in ("spend", "settlements", "campaigns_out_of_budget", "workspaces_out_of_credits"):
        assert big["_kpis"][name] == small["_kpis"][name], name
    assert big["_kpis"]["fill_rate"] < small["_kpis"]["fill_rate"]
    # doubling the budgets moves the dates later and spends more
    doubled_scenario = load_scenario(CROWDED, ["entities.budget_multiplier=2", "traffic.requests=30000"])
    doubled = run_tables(run_scenario(doubled_scenario))
    assert doubled["_kpis"]["spend"] > small["_kpis"]["spend"]
    assert doubled["_kpis"]["last_exhausted_at_request"] > last
    budgets = dict(
        zip(small["outcomes_campaign"]["campaign_id"], small["outcomes_campaign"]["budget"], strict=True)
    )
    for row in doubled["outcomes_campaign"].iter_rows(named=True):
        assert row["budget"] == 2 * budgets[row["campaign_id"]]
        assert row["budget_left"] >= 0
