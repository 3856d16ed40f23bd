"""KPIs by segment (category, region, partner, task type): the totals add up to the run's, ``compare --by``
and ``sweep --by`` write what the engine computes, and the rule that names the segment that moved most."""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl
import pytest

from workbench.cli import main
from workbench.engine.compare import compare_runs
from workbench.engine.pipeline import RunResult, run_scenario
from workbench.engine.reports import Facts, overall_kpis
from workbench.engine.scenario import load_scenario
from workbench.engine.segment_compare import NOTHING_MOVED, compare_segments, most_moved, moved_line
from workbench.engine.segments import BYS, REQUEST_ADDITIVE, SLOT_ADDITIVE, parse_by, segment_breakdown

from .helpers import ROOT, campaign, partner, request, scenario

CROWDED = str(ROOT / "scenarios" / "crowded-market.toml")
REPLAY = str(ROOT / "scenarios" / "replay.toml")
# budgets at 5 %: campaigns run out mid-run, so spend, refusals and the rates all move
SMALL = ["traffic.requests=3000", "entities.budget_multiplier=0.05"]


def totals(result: RunResult) -> dict[str, float]:
    """The run's totals counted from its slots, settlements and requests (not through the reports)."""
    slots, sets = result.simulation.slots, result.simulation.settlements
    stage = slots["stage"]
    codes = result.traffic.requests["intent_code"]
    disclosure = result.market.campaigns["has_disclosure"].gather(slots["ci"])
    k = overall_kpis(Facts(result))
    return {
        "opportunities": result.traffic.size,
        "intents": codes.n_unique(),
        "eligible": k["requests_with_eligible"],
        "slots_requested": k["slots_requested"],
        "presented_intents": codes.gather(slots.filter(stage >= 1)["idx"]).n_unique(),
        "slots_won": slots.height,
        "presented": int((stage >= 1).sum()),
        "viewed": int((stage >= 2).sum()),
        "interacted": int((stage >= 3).sum()),
        "conversions": int((stage >= 4).sum()),
        "presented_with_disclosure": int(((stage >= 1) & disclosure).sum()),
        "billable_events": int(slots["billable"].sum()),
        "billing_refused": int(slots["budget_refused"].sum()),
        "spend": float(sets["amount"].sum()),
        "settled_amount": float(sets.filter(pl.col("status") == "settled")["amount"].sum()),
        "failed_amount": float(sets.filter(pl.col("status") == "failed")["amount"].sum()),
        "settlements": sets.height,
        "settled": int((sets["status"] == "settled").sum()),
        "failed": int((sets["status"] == "failed").sum()),
        "retries": int(sets["retries"].sum()),
        "dead_letters": int(sets["dead_letter"].sum()),
    }


def _recomputed(frame: pl.DataFrame) -> dict[str, float]:
    """The KPIs of the summed segments, from the summed counts."""
    s = {c: float(frame[c].sum()) for c in frame.columns if c != "segment"}
    shown = {
        m: float((frame[m] * frame["presented"]).sum())
        for m in ("mean_relevance_shown", "mean_utility_shown")
    }
    return {
        "qualified_recommendation_rate": s["presented_intents"] / s["intents"],
        "detail_view_rate": s["viewed"] / s["presented"],
        "handoff_rate": s["interacted"] / s["viewed"],
        "action_conversion_rate": s["conversions"] / s["interacted"],
        "disclosure_shown_rate": s["presented_with_disclosure"] / s["presented"],
        "fill_rate": s["slots_won"] / s["slots_requested"],
        "mean_relevance_shown": shown["mean_relevance_shown"] / s["presented"],
        "mean_utility_shown": shown["mean_utility_shown"] / s["presented"],
    }


def _label(by: str, sig: dict) -> str:
    if by == "region":
        return "+".join(sorted(set(sig["geo"]))) or "(any)"
    return sig["r_category" if by == "category" else "task_type"]


def intents_by_segment(result: RunResult, by: str) -> tuple[int, int]:
    """Distinct (intent, segment) pairs over the requests and over the presented slots: an intent that a
    replayed log repeats in two segments counts in each."""
    sigs = result.traffic.signatures.to_dicts()
    codes = result.traffic.requests["intent_code"].to_list()
    label = [_label(by, sigs[s]) for s in result.traffic.sig_of_request.tolist()]
    presented = result.simulation.slots.filter(pl.col("stage") >= 1)["idx"].to_list()
    return len(set(zip(codes, label, strict=True))), len({(codes[i], label[i]) for i in presented})


@pytest.mark.parametrize(("path", "sets"), [(CROWDED, SMALL), (REPLAY, [])])
def test_segment_totals_add_up_to_the_overall_kpis(path: str, sets: list[str]) -> None:
    result = run_scenario(load_scenario(path, sets))
    facts = Facts(result)
    k, total = overall_kpis(facts), totals(result)
    assert total["spend"] > 0 and total["failed"] > 0 and total["conversions"] > 0
    for by in ("category", "region", "task_type"):
        frame = segment_breakdown(facts, by)
        assert frame["segment"].n_unique() == frame.height
        for column in (*REQUEST_ADDITIVE, *SLOT_ADDITIVE):
            if column not in ("intents", "presented_intents"):
                assert frame[column].sum() == pytest.approx(total[column], rel=1e-12), (by, column)
        pairs = intents_by_segment(result, by)
        assert (frame["intents"].sum(), frame["presented_intents"].sum()) == pairs
        if result.traffic.unique_intents:
            assert pairs == (total["intents"], total["presented_intents"])
        for name, value in _recomputed(frame).items():
            if result.traffic.unique_intents or name != "qualified_recommendation_rate":
                assert value == pytest.approx(k[name], rel=1e-9), (by, name)
    if not result.traffic.unique_intents:  # the replay repeats 9 intents, some in two regions
        assert intents_by_segment(result, "region")[0] > total["intents"]
    # partner: what the slots carry adds up; the request counts are the partner's reach (they overlap)
    frame = segment_breakdown(facts, "partner")
    assert frame["segment"].to_list() == sorted(result.market.partners["partner_id"].to_list())
    for column in SLOT_ADDITIVE:
        assert frame[column].sum() == pytest.approx(total[column], rel=1e-12), column
    recomputed = _recomputed(frame)
    for name in ("detail_view_rate", "handoff_rate", "action_conversion_rate", "disclosure_shown_rate"):
        assert recomputed[name] == pytest.approx(k[name], rel=1e-9), name
    assert recomputed["mean_relevance_shown"] == pytest.approx(k["mean_relevance_shown"], rel=1e-9)
    # the crowded market's requests each have several partners as candidates; the seed market one
    reach = frame["opportunities"].sum()
    assert reach > total["opportunities"] if path == CROWDED else reach == total["opportunities"]


def test_a_request_naming_several_regions_is_one_region_segment() -> None:
    a = campaign("cmp_a", regions=["UK", "EU"])
    reqs = [
        request("i0", constraints={"geo": ["UK", "EU"]}),
        request("i1", constraints={"geo": ["EU", "UK", "EU"]}),
        request("i2", constraints={"geo": ["UK"]}),
        request("i3"),
        request("i4", taskType="vendor_discovery"),
    ]
    result = run_scenario(scenario([a], [partner("p_0")], reqs))
    regions = segment_breakdown(result, "region")
    assert regions.select("segment", "opportunities").rows() == [("(any)", 2), ("EU+UK", 2), ("UK", 1)]
    tasks = segment_breakdown(result, "task_type")
    assert tasks.select("segment", "opportunities").rows() == [
        ("compare_and_shortlist", 4),
        ("vendor_discovery", 1),
    ]


def _long(by: str, rows: Sequence[tuple[str, str, float, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["segment", "metric", "baseline", "variant"], orient="row").select(
        pl.lit(by).alias("by"), pl.all(), (pl.col("variant") - pl.col("baseline")).alias("delta")
    )


def test_the_segment_that_moved_most_is_the_largest_share_of_its_total() -> None:
    # spend: 1,000 in all; b moves 100 (10 %). slots: 40 in all (the variant's 40 > the baseline's 36);
    # y moves 6 (15 %): the larger share, although spend moved more in money
    category = _long(
        "category",
        [
            ("a", "spend", 500, 500),
            ("b", "spend", 400, 500),
            ("a", "slots_won", 20, 20),
            ("b", "slots_won", 16, 20),
        ],
    )
    partner_ = _long(
        "partner",
        [
            ("x", "spend", 900, 800),
            ("y", "spend", 0, 200),
            ("x", "slots_won", 30, 28),
            ("y", "slots_won", 6, 12),
        ],
    )
    moved = most_moved({"category": category, "partner": partner_})
    assert moved is not None
    # y's spend went 0 → 200: 200 of 1,000 (20 %), the most of all
    assert (moved.by, moved.segment, moved.metric, moved.delta) == ("partner", "y", "spend", 200)
    assert moved.share == pytest.approx(0.2)
    assert moved.line("USD") == (
        "moved most: partner=y spend 0.00 USD → 200.00 USD (+200.00 USD, 20.0% of all spend)"
    )
    # without it, partner y's slots (6 of 40: 15 %) beat category b's spend (100 of 1,000: 10 %)
    partner_ = partner_.filter(pl.col("metric") == "slots_won")
    moved = most_moved({"category": category, "partner": partner_})
    assert moved is not None and (moved.segment, moved.metric, moved.share) == ("y", "slots_won", 0.15)
    assert moved.line() == "moved most: partner=y slots_won 6 → 12 (+6, 15.0% of all slots_won)"


def test_ties_go_to_spend_then_the_breakdown_order_then_the_name() -> None:
    same = [
        ("b", "spend", 50, 60),
        ("a", "spend", 50, 40),
        ("a", "slots_won", 5, 6),
        ("b", "slots_won", 5, 4),
    ]
    moved = most_moved({"task_type": _long("task_type", same), "region": _long("region", same)})
    assert moved is not None and (moved.by, moved.segment, moved.metric) == ("region", "a", "spend")
    still = [("a", "spend", 50, 50), ("a", "slots_won", 5, 5)]
    assert most_moved({"category": _long("category", still)}) is None
    assert moved_line({"category": _long("category", still)}) == NOTHING_MOVED
    assert most_moved({}) is None


def test_parse_by() -> None:
    assert parse_by(["all"]) == BYS
    assert parse_by(["task-type", "category,region", "category"]) == ("category", "region", "task_type")
    with pytest.raises(
        ValueError, match=r"--by: expected category, region, partner, task_type or all, got 'x'"
    ):
        parse_by(["x"])


def _runs(variant: list[str]) -> tuple[RunResult, RunResult]:
    return run_scenario(load_scenario(CROWDED)), run_scenario(load_scenario(CROWDED, variant))


def test_compare_by_writes_the_segment_tables_the_engine_computes(tmp_path, capsys) -> None:
    variant = ["ranking.weights.bid=0.3"]
    argv = ["compare", CROWDED, "--set", *variant, "--by", "category", "--by", "partner"]
    assert main([*argv, "--out", str(tmp_path), "--format", "csv,parquet,md", "--no-progress"]) == 0
    out = capsys.readouterr().out
    base, var = _runs(variant)
    for by in ("category", "partner"):
        expected = compare_segments(base, var, by)
        assert pl.read_parquet(tmp_path / f"compare_segments_{by}.parquet").equals(expected)
        csv = pl.read_csv(tmp_path / f"compare_segments_{by}.csv")
        assert csv.columns == ["by", "segment", "metric", "unit", "baseline", "variant", "delta"]
        assert csv["variant"].to_list() == pytest.approx(expected["variant"].to_list(), abs=1e-9)
        spend = expected.filter(pl.col("metric") == "spend")
        assert math.isclose(spend["baseline"].sum(), overall_kpis(Facts(base))["spend"], rel_tol=1e-12)
    assert not (tmp_path / "compare_segments_region.csv").exists()
    segments = {by: compare_segments(base, var, by) for by in ("category", "partner")}
    line = moved_line(segments, "USD")
    assert line.startswith("moved most: partner=partner_procure_pilot spend 56,950.00 USD → ")
    assert line in out.splitlines()
    md = (tmp_path / "compare.md").read_text()
    assert "## Segments" in md and line in md and "### By partner" in md
    # the same breakdowns through compare_runs
    assert compare_runs(base, var, ("category",)).segments["category"].equals(segments["category"])


def test_sweep_by_writes_one_row_per_variant_and_segment(tmp_path, capsys) -> None:
    base = ["traffic.requests=300", "entities.budget_multiplier=0.05"]
    grid = "ranking.weights.bid=0.1,0.4"
    argv = ["sweep", CROWDED, *[x for s in base for x in ("--set", s)], "--grid", grid, "--by", "region"]
    assert main([*argv, "--by", "task_type", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "sweep_segments: " in capsys.readouterr().out
    table = pl.read_parquet(tmp_path / "sweep_segments.parquet")
    assert table.columns[:4] == ["variant", "ranking.weights.bid", "by", "segment"]
    main_table = pl.read_parquet(tmp_path / "sweep.parquet")
    assert main_table.height == 2 and "segment" not in main_table.columns
    for variant, bid in ((1, 0.1), (2, 0.4)):
        run = run_scenario(load_scenario(CROWDED, [*base, f"ranking.weights.bid={bid}"]))
        for by in ("region", "task_type"):
            rows = table.filter((pl.col("variant") == variant) & (pl.col("by") == by))
            assert rows["ranking.weights.bid"].unique().to_list() == [bid]
            assert rows.drop("variant", "ranking.weights.bid", "by").equals(segment_breakdown(run, by))
    assert "`sweep_segments`" in (tmp_path / "sweep.md").read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["compare", CROWDED, "--set", "ranking.weights.bid=0.2", "--by", "colour"],
            "--by: expected category",
        ),
        (["sweep", CROWDED, "--grid", "ranking.weights.bid=0.2", "--by", "region"], "give --out DIR"),
    ],
)
def test_by_errors_are_one_line_and_exit_2(argv, message, capsys) -> None:
    assert main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
