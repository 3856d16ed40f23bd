"""Budgets spent in arrival order, the settlement paths, and every KPI on a small hand-computed case."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.engine.batch import run_batch
from workbench.engine.market import market_for
from workbench.engine.pipeline import RunResult, run_scenario
from workbench.engine.ranking_report import ranking_report
from workbench.engine.reports import (
    Facts,
    campaign_outcomes,
    overall_kpis,
)
from workbench.engine.segments import category_outcomes, region_outcomes
from workbench.engine.simulate import rngs, settlement_paths, simulate
from workbench.engine.traffic import build_traffic

from .helpers import campaign, partner, reference_run, request, scenario


def run_with_stages(scen, stages: list[list[int]]) -> RunResult:
    """A run whose funnel outcomes are given (requests × positions) instead of drawn."""
    cfg = scen.ranking
    gens = rngs(scen.spec.seed)
    market = market_for(scen, cfg)
    traffic = build_traffic(scen, cfg, gens["traffic"])
    st = np.array(stages, dtype=np.int8)
    batch = run_batch(cfg, market, traffic, st)
    sim = simulate(batch, traffic, market, st, scen.spec.billing, gens["billing"])
    return RunResult(scen, cfg, market, traffic, batch, sim, st)


def shortlists(result: RunResult) -> list[list[str]]:
    ids = result.market.campaigns["campaign_id"].to_list()
    out: list[list[str]] = [[] for _ in range(result.traffic.size)]
    for idx, ci in result.simulation.slots.select("idx", "ci").iter_rows():
        out[idx].append(ids[ci])
    return out


# Budgets ----------------------------------------------------------------------


def test_budget_runs_out_in_arrival_order_then_the_next_campaign_takes_over():
    # A outbids B; A can pay for exactly two shortlist slots (CPQR, billed on offer.shortlisted).
    a = campaign("cmp_a", payoutAmount=100.0, budget=250.0)
    b = campaign("cmp_b", payoutAmount=50.0, budget=10_000.0)
    reqs = [request(f"i{t}") for t in range(5)]
    result = run_with_stages(scenario([a, b], [partner("p_0")], reqs), [[0]] * 5)
    assert shortlists(result) == [["cmp_a"], ["cmp_a"], ["cmp_b"], ["cmp_b"], ["cmp_b"]]
    # the third request is the first to see A's budget gate closed
    assert [e["start"] for e in result.batch.epochs] == [0, 2]
    outcomes = campaign_outcomes(Facts(result)).row(0, named=True)
    assert outcomes["spend"] == 200.0 and outcomes["budget_left"] == 50.0
    assert outcomes["budget_exhausted_at_intent"] == "i2"
    assert [s.ranking.shortlisted[0].campaign.campaign.campaign_id for s in reference_run(result)] == [
        "cmp_a",
        "cmp_a",
        "cmp_b",
        "cmp_b",
        "cmp_b",
    ]


def test_cpa_spends_on_conversions_only():
    a = campaign("cmp_a", billingModel="CPA", payoutAmount=100.0, budget=150.0)
    b = campaign("cmp_b", payoutAmount=50.0, budget=10_000.0)
    reqs = [request(f"i{t}") for t in range(5)]
    # request 1 converts; requests 0 and 2 do not: A pays once and then cannot afford a second conversion
    result = run_with_stages(scenario([a, b], [partner("p_0")], reqs), [[3], [4], [1], [0], [0]])
    assert shortlists(result) == [["cmp_a"], ["cmp_a"], ["cmp_b"], ["cmp_b"], ["cmp_b"]]
    assert result.simulation.settlements["amount"].to_list() == [100.0, 50.0, 50.0, 50.0]


def test_presented_billable_event_spends_only_presented_slots():
    a = campaign("cmp_a", payoutAmount=100.0, budget=100.0)
    b = campaign("cmp_b", payoutAmount=50.0, budget=10_000.0)
    reqs = [request(f"i{t}") for t in range(4)]
    scen = scenario([a, b], [partner("p_0")], reqs, cpqr_billable_event="offer.presented")
    result = run_with_stages(scen, [[0], [0], [2], [0]])
    assert shortlists(result) == [["cmp_a"], ["cmp_a"], ["cmp_a"], ["cmp_b"]]


def test_a_campaign_winning_two_slots_in_one_request_is_billed_once():
    # Two partners: A takes both slots of the first request (the gate is checked once per request). The
    # server keeps one settlement per (intent, offer, event): the second slot's receipt shares the first's
    # settlement, so A pays once; then one more payout no longer fits its budget and B takes over.
    a = campaign("cmp_a", payoutAmount=100.0, budget=150.0)
    b = campaign("cmp_b", payoutAmount=50.0, budget=10_000.0)
    reqs = [request("i0", sponsoredSlots=2), request("i1", sponsoredSlots=2)]
    result = run_with_stages(scenario([a, b], [partner("p_0"), partner("p_1")], reqs), [[0, 0], [0, 0]])
    assert shortlists(result) == [["cmp_a", "cmp_a"], ["cmp_b", "cmp_b"]]
    row = campaign_outcomes(Facts(result)).row(0, named=True)
    figures = (row["spend"], row["budget_left"], row["billing_refused"], row["settlements"])
    assert figures == (100.0, 50.0, 0, 1)
    slots = result.simulation.slots
    assert slots["billable"].to_list() == [True, False, True, False]
    assert slots["shares_settlement"].to_list() == [False, True, False, True]
    assert slots["budget_refused"].to_list() == [False, False, False, False]
    assert result.batch.committed_spend.tolist() == [100.0, 50.0]
    report = ranking_report(result)
    assert report["settlement_status"].to_list() == ["settled", None, "settled", None]
    assert overall_kpis(Facts(result))["billing_refused"] == 0


def test_spend_never_passes_a_budget_in_the_crowded_market():
    from workbench.engine.scenario import load_scenario

    from .helpers import ROOT

    result = run_scenario(load_scenario(ROOT / "scenarios" / "crowded-market.toml"))
    camp = campaign_outcomes(Facts(result))
    assert camp["budget_left"].min() >= 0.0
    over = camp.filter(camp["spend_before"] + camp["spend"] > camp["budget"])
    assert over.height == 0, over.select("campaign_id", "budget", "spend_before", "spend")
    # The gate admits a campaign only while one more payout fits, and a request bills a campaign at most
    # once (one settlement per intent, offer and event): arriving one after another, no bill is refused.
    assert camp["billing_refused"].sum() == 0
    # each settlement fitted when it was made: committed + payout <= budget, in creation order
    sets = result.simulation.settlements
    m = result.market
    for ci in range(m.campaigns.height):
        amounts = sets.filter(sets["ci"] == ci)["amount"].to_numpy()
        committed = m.spend0[ci]
        for amount in amounts:
            assert committed + amount <= m.budget[ci]
            committed += amount


def test_workspace_credits_close_the_credits_gate():
    a = campaign("cmp_a", payoutAmount=100.0, workspaceId="ws_small")
    b = campaign("cmp_b", payoutAmount=50.0, workspaceId="ws_big")
    reqs = [request(f"i{t}") for t in range(4)]
    # presented (2) + viewed (3) = 5 credits per slot at stage 2; ws_small has 6
    scen = scenario([a, b], [partner("p_0")], reqs, entities={"credits": {"ws_small": 6}})
    result = run_with_stages(scen, [[2], [2], [2], [2]])
    assert shortlists(result) == [["cmp_a"], ["cmp_a"], ["cmp_b"], ["cmp_b"]]
    assert result.batch.epochs[-1]["credits_closed"] == [0]


def test_committed_spend_counts_from_the_start():
    a = campaign("cmp_a", payoutAmount=100.0, budget=1000.0)
    b = campaign("cmp_b", payoutAmount=50.0)
    scen = scenario([a, b], [partner("p_0")], [request("i0")], entities={"committed_spend": {"cmp_a": 950.0}})
    assert shortlists(run_with_stages(scen, [[0]])) == [["cmp_b"]]


# Settlements through the server's state machine -------------------------------------------------


def test_settlement_paths_follow_the_retry_rules():
    ok, retry, fail = 0, 1, 2
    paths = settlement_paths()
    code = lambda *outcomes: sum(o * 3**i for i, o in enumerate(outcomes))  # noqa: E731
    assert paths[code(ok, ok, ok)].status == "settled" and paths[code(ok, ok, ok)].attempts == 1
    p = paths[code(retry, ok, fail)]
    assert (p.status, p.attempts, p.seconds, p.dead_letter) == ("settled", 2, 15.0, False)
    p = paths[code(retry, retry, ok)]
    assert (p.status, p.attempts, p.seconds) == ("settled", 3, 45.0)
    p = paths[code(retry, retry, retry)]
    assert (p.status, p.attempts, p.seconds, p.dead_letter, p.code) == (
        "failed",
        3,
        45.0,
        True,
        "RETRYABLE_ERROR",
    )
    p = paths[code(fail, ok, ok)]
    assert (p.status, p.attempts, p.dead_letter) == ("failed", 1, True)


def test_billing_failure_rates_drive_outcomes():
    reqs = [request(f"i{t}") for t in range(300)]
    scen = scenario(
        [campaign("cmp_a", budget=1e9)], [partner("p_0")], reqs, billing={"terminal_failure_rate": 1.0}
    )
    result = run_scenario(scen)
    assert set(result.simulation.settlements["status"].to_list()) == {"failed"}
    k = overall_kpis(Facts(result))
    assert k["dead_letters"] == k["settlements"] == 300 and k["settled_amount"] == 0.0


# KPIs on a hand-computed case -------------------------------------------------------------------


@pytest.fixture()
def small_case() -> RunResult:
    # A (payout 100, with disclosure) always outranks B (payout 50, no disclosure text, stale proof);
    # the requests do not require disclosure, so B is eligible too.
    a = campaign("cmp_a", payoutAmount=100.0, budget=1e6, regions=["UK", "EU"])
    b = campaign(
        "cmp_b",
        payoutAmount=50.0,
        budget=1e6,
        regions=["UK", "EU"],
        disclosureText="",
        proofBundle={"updatedAt": "2025-12-01T12:00:00Z"},
    )  # 100 days: freshness 0.7
    reqs = [
        request("i0", sponsoredSlots=3, disclosureRequired=False, constraints={"geo": ["UK"]}),
        request("i1", sponsoredSlots=2, disclosureRequired=False, constraints={"geo": ["UK", "EU"]}),
        request("i2", sponsoredSlots=2, disclosureRequired=False),
    ]
    # stages: i0: A converted, B presented; i1: A viewed, B shortlisted only; i2: nothing presented
    return run_with_stages(
        scenario([a, b], [partner("p_0", trustScore=0.9)], reqs), [[4, 1, 0], [2, 0, 0], [0, 0, 0]]
    )


def test_every_kpi_on_a_small_case(small_case):
    k = overall_kpis(Facts(small_case))
    assert shortlists(small_case) == [["cmp_a", "cmp_b"]] * 3
    assert (k["shortlisted"], k["presented"], k["viewed"], k["interacted"], k["conversions"]) == (
        6,
        3,
        2,
        1,
        1,
    )
    assert k["qualified_recommendation_rate"] == pytest.approx(2 / 3)  # i0 and i1 had a presented offer
    assert k["detail_view_rate"] == pytest.approx(2 / 3)  # viewed 2 / presented 3
    assert k["handoff_rate"] == pytest.approx(1 / 2)  # interacted 1 / viewed 2
    assert k["action_conversion_rate"] == pytest.approx(1.0)  # conversions 1 / interacted 1
    assert k["disclosure_shown_rate"] == pytest.approx(2 / 3)  # A twice, B (no disclosure) once
    assert k["fill_rate"] == pytest.approx(6 / 7)  # slots requested 3 + 2 + 2
    # shown: A (utility 1.0) twice, B once: utility .45 + .2 + .2 × 0.7 + .15 = 0.94
    assert k["mean_utility_shown"] == pytest.approx((1.0 + 0.94 + 1.0) / 3, abs=1e-12)
    assert k["mean_relevance_shown"] == pytest.approx(1.0, abs=1e-12)
    assert k["spend"] == 3 * 100.0 + 3 * 50.0 and k["settled"] == 6


def test_kpis_per_campaign_category_and_region(small_case):
    f = Facts(small_case)
    camp = {r["campaign_id"]: r for r in campaign_outcomes(f).iter_rows(named=True)}
    assert camp["cmp_a"]["opportunities"] == 3 and camp["cmp_a"]["slots_won"] == 3
    assert camp["cmp_a"]["qualified_recommendation_rate"] == pytest.approx(2 / 3)
    assert camp["cmp_a"]["disclosure_shown_rate"] == 1.0 and camp["cmp_b"]["disclosure_shown_rate"] == 0.0
    assert camp["cmp_b"]["qualified_recommendation_rate"] == pytest.approx(1 / 3)
    assert camp["cmp_a"]["fill_rate"] == pytest.approx(3 / 7)
    assert camp["cmp_b"]["budget_left"] == 1e6 - 150.0
    cat = category_outcomes(f).row(0, named=True)
    assert (cat["category"], cat["opportunities"], cat["slots_requested"], cat["slots_won"]) == (
        "crm_software",
        3,
        7,
        6,
    )
    regions = {r["region"]: r for r in region_outcomes(f).iter_rows(named=True)}
    assert sorted(regions) == ["(any)", "EU", "UK"]
    assert regions["UK"]["opportunities"] == 2 and regions["UK"]["qualified_recommendation_rate"] == 1.0
    assert regions["EU"]["presented"] == 1 and regions["EU"]["fill_rate"] == 1.0
    assert regions["(any)"]["qualified_recommendation_rate"] == 0.0
    assert regions["(any)"]["detail_view_rate"] == 0.0  # zero denominator gives 0


def test_repeated_intents_count_once(small_case):
    a = campaign("cmp_a")
    reqs = [request("same"), request("same"), request("other")]
    result = run_with_stages(scenario([a], [partner("p_0")], reqs), [[1], [1], [0]])
    k = overall_kpis(Facts(result))
    assert k["distinct_intents"] == 2 and k["qualified_recommendation_rate"] == pytest.approx(1 / 2)


def test_receipts_match_the_funnel_and_the_settlements(small_case):
    from workbench.engine.exports import receipts_table

    table = receipts_table(small_case)
    counts = dict(table.group_by("event_type").len().iter_rows())
    assert counts == {
        "offer.shortlisted": 6,
        "offer.presented": 3,
        "owner.viewed": 2,
        "owner.interacted": 1,
        "conversion.attributed": 1,
    }
    assert table["billable"].sum() == small_case.simulation.settlements.height == 6
    assert table.filter(table["intent_id"] == "i0")["credits"].sum() == 2 + 3 + 5 + 10 + 2
