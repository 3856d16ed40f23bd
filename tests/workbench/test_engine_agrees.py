"""The batch engine and the server's per-request ranking agree: eligibility, every score (1e-9), order.

Random markets and request streams (hypothesis); budgets and credits small
enough to run out, so the arrival-order spending is exercised too.
"""

from __future__ import annotations

import math

import msgspec
import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from server.domain.gates import GATES
from server.domain.models import ReputationRecord
from server.domain.ranking_config import RankingConfig
from workbench.engine.pipeline import run_scenario

from .helpers import campaign, partner, reference_run, request, scenario

CATEGORIES = ["crm_software", "hr_software", "analytics"]
TASKS = ["compare_and_shortlist", "vendor_discovery", "pricing_analysis"]
REGIONS = ["UK", "EU", "US", "CN"]
SCORES = ("relevance", "utility", "trust", "affective_fit", "governed_trust", "freshness")

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
mostly_true = st.sampled_from([True] * 7 + [False])
often = lambda common, *rare: st.sampled_from([common] * 4 + list(rare))  # noqa: E731
small_sets = lambda pool: st.lists(st.sampled_from(pool), max_size=3, unique=True)  # noqa: E731


@st.composite
def campaigns(draw, i):
    return campaign(
        f"cmp_{i}",
        workspaceId=draw(st.sampled_from(["ws_a", "ws_b"])),
        category=draw(often("crm_software", "hr_software", "analytics")),
        regions=draw(st.lists(often(*REGIONS), min_size=1, max_size=3, unique=True)),
        targetingPartnerIds=draw(often([], ["p_0"], ["p_1", "p_2"])),
        billingModel=draw(st.sampled_from(["CPQR", "CPA"])),
        payoutAmount=(payout := draw(st.sampled_from([1.0, 0.5, 50.0, 120.0, 333.33, 900.0]))),
        # a few billable events' worth (sometimes not even one), or plenty
        budget=payout * draw(st.sampled_from([0.9, 1.0, 2.0, 2.5, 3.0, 5.0, 1e6])),
        status=draw(often("active", "paused")),
        disclosureText=draw(often("Sponsored.", "", "  ")),
        policyPass=draw(mostly_true),
        minTrust=draw(often(0.5, 0.0, 0.65, 0.8, 0.95)),
        offer={
            "intendedFor": draw(st.lists(often(*TASKS), max_size=3, unique=True)),
            "narrativeVariants": {
                "rational": draw(st.sampled_from(["", "r"])),
                "premium": draw(st.sampled_from(["", " ", "p"])),
                "simple": draw(st.sampled_from(["", "s"])),
            },
        },
        proofBundle={
            "updatedAt": draw(
                st.sampled_from(
                    [
                        "2026-03-11T12:00:00Z",
                        "2026-02-09T12:00:00Z",
                        "2026-02-09T11:59:59Z",
                        "2025-12-11T12:00:00Z",
                        "2025-09-12T12:00:00Z",
                        "2025-01-01T00:00:00Z",
                        "2026-03-20T00:00:00Z",
                    ]
                )
            )
        },
    )


@st.composite
def partners(draw, j):
    return partner(
        f"p_{j}",
        status=draw(often("active", "suspended")),
        supportedCategories=draw(often(CATEGORIES, ["crm_software"], ["hr_software"], [])),
        acceptsSponsored=draw(mostly_true),
        supportsDisclosure=draw(mostly_true),
        supportsPresentationReceipt=draw(mostly_true),
        trustScore=draw(st.one_of(*[st.sampled_from([0.5, 0.7, 0.8, 0.9, 0.95, 1.0])] * 5, unit)),
    )


@st.composite
def markets(draw):
    n_c = draw(st.integers(1, 6))
    n_p = draw(st.integers(1, 4))
    cs = [draw(campaigns(i)) for i in range(n_c)]
    ps = [draw(partners(j)) for j in range(n_p)]
    records = [
        msgspec.convert(
            {
                "recordId": f"rep_{k}",
                "partnerId": f"p_{draw(st.integers(0, n_p - 1))}",
                "delta": draw(st.sampled_from([-3.0, -1.0, 2.0, 4.0])),
                "reasonType": "manual",
                "disputeStatus": draw(st.sampled_from(["none", "under_review", "resolved", "overturned"])),
                "occurredAt": "2026-03-01T00:00:00Z",
            },
            ReputationRecord,
        )
        for k in range(draw(often(0, 1, 2, 3)))
    ]
    return cs, ps, records


@st.composite
def requests(draw):
    n = draw(st.integers(1, 40))
    out = []
    for t in range(n):
        fields = {
            "category": draw(often("crm_software", "hr_software", "analytics")),
            "taskType": draw(often("compare_and_shortlist", "vendor_discovery", "pricing_analysis")),
            "constraints": {"geo": draw(often([], ["UK"], ["EU", "US"], ["CN"], ["UK", "CN"]))},
            "sponsoredSlots": draw(st.integers(1, 4)),
            "disclosureRequired": draw(st.booleans()),
        }
        if draw(st.booleans()):
            fields["relevanceFloor"] = draw(st.sampled_from([0.0, 0.5, 0.72, 0.9, 1.0]) | unit)
        if draw(st.booleans()):
            fields["utilityFloor"] = draw(st.sampled_from([0.0, 0.5, 0.68, 0.9, 1.0]) | unit)
        out.append(request(f"intent_{t}", **fields))
    return out


weights = st.builds(
    lambda r, u, t, a, b: RankingConfig().with_weights(
        relevance=r, utility=u, trust=t, affective_fit=a, bid=b
    ),
    unit,
    unit,
    unit,
    unit,
    unit,
)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=0.0, abs_tol=1e-9)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    market=markets(),
    floors=st.sampled_from([(0.72, 0.68), (0.5, 0.5), (0.0, 0.0)]),
    reqs=requests(),
    cfg=weights,
    billable_event=st.sampled_from(["offer.shortlisted", "offer.presented"]),
    credits=st.sampled_from([{}, {"ws_a": 7.0}, {"ws_a": 30.0, "ws_b": 2.0}]),
    spend=st.sampled_from([{}, {"cmp_0": 900.0}]),
    seed=st.integers(0, 2**16),
)
def test_batch_engine_agrees_with_per_request_ranking(
    market, floors, reqs, cfg, billable_event, credits, spend, seed
):
    cs, ps, records = market
    cfg = cfg.with_floors(relevance=floors[0], utility=floors[1])
    scen = scenario(
        cs,
        ps,
        reqs,
        records,
        cfg,
        seed=seed,
        cpqr_billable_event=billable_event,
        entities={
            "credits": credits,
            "committed_spend": spend,
            "disputed_settlements": {"p_0": seed % 4 // 2},
        },
        funnel={"presented": 0.8, "viewed": 0.7, "interacted": 0.6, "converted": 0.9, "position_decay": 0.9},
    )
    result = run_scenario(scen)
    event(f"epochs={min(len(result.batch.epochs), 3)}")
    event(f"slots>0={result.simulation.slots.height > 0}")
    event(
        f"gates closed={bool(result.batch.epochs[-1]['budget_closed'] or result.batch.epochs[-1]['credits_closed'])}"
    )
    long = result.long_frame().collect()
    steps = reference_run(result)
    assert len(steps) == result.traffic.size
    by_request = long.partition_by("idx", as_dict=True, maintain_order=True)
    shortlist_rows = result.simulation.slots
    for t, step in enumerate(steps):
        ranking = step.ranking
        rows = by_request.get((t,))
        rows = [] if rows is None else rows.sort("cand_order").to_dicts()
        # same candidates in the same enumeration order
        assert [(r["campaign_id"], r["partner_id"]) for r in rows] == [
            (c.campaign.campaign.campaign_id, c.partner.partner.partner_id) for c in ranking.candidates
        ]
        for row, cand in zip(rows, ranking.candidates, strict=True):
            assert row["failed_gates"] == cand.failed_gates
            assert row["eligible"] == cand.eligible
            for name in SCORES:
                assert close(row[name], getattr(cand.scores, name)), (
                    name,
                    row[name],
                    getattr(cand.scores, name),
                )
            if cand.eligible:
                assert close(row["bid_norm"], cand.scores.bid_norm)
                assert close(row["priority_score"], cand.scores.priority_score)
            else:
                assert row["rank"] is None and row["priority_score"] is None
        # same order of the eligible, same shortlist
        ordered = sorted((r for r in rows if r["eligible"]), key=lambda r: r["rank"])
        assert [(r["campaign_id"], r["partner_id"]) for r in ordered] == [
            (c.campaign.campaign.campaign_id, c.partner.partner.partner_id) for c in ranking.ordered
        ]
        assert [(r["campaign_id"], r["partner_id"]) for r in ordered if r["shortlisted"]] == [
            (c.campaign.campaign.campaign_id, c.partner.partner.partner_id) for c in ranking.shortlisted
        ]
    # the slot table is the shortlists, request by request
    expected = [
        (t, k + 1, c.campaign.campaign.campaign_id, c.partner.partner.partner_id)
        for t, step in enumerate(steps)
        for k, c in enumerate(step.ranking.shortlisted)
    ]
    cids = result.market.campaigns["campaign_id"].to_list()
    pids = result.market.partners["partner_id"].to_list()
    got = [
        (r["idx"], r["position"], cids[r["ci"]], pids[r["pi"]]) for r in shortlist_rows.iter_rows(named=True)
    ]
    assert got == expected


def test_gate_names_are_the_servers():
    from workbench.engine.candidates import failed_gates_expr

    assert "gate_budget" in str(failed_gates_expr()) and len(GATES) == 8


def test_ties_keep_enumeration_order_like_the_server():
    # Identical campaigns and partners: every priority ties; the order is campaign-major enumeration.
    cs = [campaign(f"cmp_{i}") for i in range(3)]
    ps = [partner(f"p_{j}") for j in range(2)]
    result = run_scenario(scenario(cs, ps, [request("i0", sponsoredSlots=5)]))
    ranked = result.long_frame().collect().filter(pl.col("eligible")).sort("rank")
    expected = [
        (c.campaign.campaign.campaign_id, c.partner.partner.partner_id)
        for c in reference_run(result)[0].ranking.ordered
    ]
    assert (
        list(zip(ranked["campaign_id"], ranked["partner_id"], strict=True))
        == expected
        == [
            ("cmp_0", "p_0"),
            ("cmp_0", "p_1"),
            ("cmp_1", "p_0"),
            ("cmp_1", "p_1"),
            ("cmp_2", "p_0"),
            ("cmp_2", "p_1"),
        ]
    )


def test_seed_example_of_the_spec():
    """spec §11: the seed at 2026-03-11T12:00Z ranks SignalStack then HubFlow, both with ProcurePilot."""
    from workbench.engine.scenario import load_scenario

    from .helpers import ROOT

    s = load_scenario(ROOT / "scenarios" / "baseline.toml", ["traffic.requests=1"])
    s = scenario(
        list(s.campaigns),
        list(s.partners),
        [request("seed", constraints={"geo": ["UK"]}, sponsoredSlots=4)],
        list(s.reputation_records),
    )
    long = run_scenario(s).long_frame().collect()
    assert long.height == 2  # GrowthDesk never passes the prefilter
    top = long.sort("rank").row(0, named=True)
    assert (top["campaign_id"], top["partner_id"]) == ("cmp_signalstack", "partner_procure_pilot")
    assert top["governed_trust"] == pytest.approx(0.92, abs=1e-12)
    assert top["priority_score"] == pytest.approx(0.994, abs=1e-12)
