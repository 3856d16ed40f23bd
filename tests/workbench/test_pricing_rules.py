"""Pricing rules in the batch (``[pricing]``): every second price is the smallest whole-cent bid that keeps
its slot's rank, settlements bill it, budgets last longer, the reserve keeps low payouts out, and the
pricing report's figures add up. The exchange keeps billing the payout; these are simulations."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from server.domain.ops import PY
from server.domain.ranking import bid_norm, priority_score
from workbench.cli import main
from workbench.engine.pipeline import run_scenario
from workbench.engine.pricing_report import compare_pricing
from workbench.engine.scenario import load_scenario

from .helpers import ROOT

CROWDED = str(ROOT / "scenarios" / "crowded-market.toml")
BASE = ["traffic.requests=400", "entities.budget_multiplier=0.05"]  # budgets close mid-run
TOL = 1e-9


def run(*sets: str):
    return run_scenario(load_scenario(CROWDED, [*BASE, *sets]))


def ranked_candidates(result) -> pl.DataFrame:
    """Every eligible candidate of every group with its factors, price and the next candidate's priority."""
    b = result.batch
    frame = (
        b.groups.filter(pl.col("eligible"))
        .join(
            b.static.select("row", "cand_order", "payout", "relevance", "utility", "trust", "affective_fit"),
            on="row",
        )
        .sort("group", "rank")
        .with_columns(
            max_bid=pl.max_horizontal(pl.lit(1.0), pl.col("payout").max().over("group")),
            next_priority=pl.col("priority_score").shift(-1).over("group"),
            next_order=pl.col("cand_order").shift(-1).over("group"),
        )
    )
    return frame.filter(pl.col("shortlisted"))


def test_each_second_price_is_the_smallest_cent_that_keeps_the_rank() -> None:
    result = run("pricing.rule=second_price", "pricing.reserve=1.5")
    cfg = result.cfg
    rows = ranked_candidates(result)
    assert rows.height > 100
    checked_tight = 0
    for r in rows.iter_rows(named=True):

        def priority(bid: float, r=r) -> float:
            return priority_score(
                cfg,
                PY,
                r["relevance"],
                r["utility"],
                r["trust"],
                r["affective_fit"],
                bid_norm(PY, bid, r["max_bid"]),
            )

        price = r["price"]
        assert 1.5 <= price <= r["payout"]
        assert price * 100 == pytest.approx(round(price * 100), abs=1e-6)  # whole cents
        if r["next_priority"] is None:
            assert price == 1.5  # nobody after it: the reserve
            continue
        strict = r["cand_order"] > r["next_order"]
        # a tie keeps the rank unless the next candidate is enumerated first (``strict``); floats differ by ulps
        assert priority(price) >= r["next_priority"] - TOL, r
        if 1.5 < price < r["payout"]:
            below = priority(price - 0.01)
            loses = below < r["next_priority"] + TOL if not strict else below <= r["next_priority"] + TOL
            assert loses, r
            checked_tight += 1
    assert checked_tight > 50


def test_settlements_bill_the_slot_price_and_budgets_hold() -> None:
    fixed, second = run(), run("pricing.rule=second_price")
    s = second.simulation
    billed = s.slots.filter(pl.col("billable"))
    assert s.settlements["amount"].to_list() == billed["price"].to_list()
    assert (s.settlements["amount"] <= pl.Series(second.market.payout[s.settlements["ci"].to_numpy()])).all()
    assert fixed.simulation.settlements["amount"].to_list() == list(
        fixed.market.payout[fixed.simulation.settlements["ci"].to_numpy()]
    )
    for result in (fixed, second):
        spend = np.bincount(
            result.simulation.settlements["ci"].to_numpy(),
            weights=result.simulation.settlements["amount"].to_numpy(),
            minlength=len(result.market.payout),
        )
        spent = spend > 0  # (a campaign may start past a budget the multiplier shrank: it bills nothing)
        assert np.all(result.market.spend0[spent] + spend[spent] <= result.market.budget[spent] + 1e-9)
    # cheaper settlements: budgets last longer, so more slots and more settlements for less money
    assert s.settlements.height > fixed.simulation.settlements.height
    assert s.slots.height > fixed.simulation.slots.height
    assert (
        s.settlements["amount"].sum() / s.settlements.height < fixed.simulation.settlements["amount"].mean()
    )


def test_the_reserve_keeps_low_payouts_out_under_auction_rules_only() -> None:
    payouts = run().market.payout
    reserve = float(np.median(payouts))
    plain, fixed = run(), run(f"pricing.reserve={reserve}")
    assert plain.simulation.slots.equals(fixed.simulation.slots)  # fixed ignores the reserve
    first = run("pricing.rule=first_price", f"pricing.reserve={reserve}")
    shown = first.market.payout[first.simulation.slots["ci"].to_numpy()]
    assert shown.min() >= reserve
    assert (plain.market.payout[plain.simulation.slots["ci"].to_numpy()] < reserve).any()
    assert first.simulation.settlements["amount"].to_list() == list(
        first.market.payout[first.simulation.settlements["ci"].to_numpy()]
    )


def test_the_pricing_report_adds_up_and_matches_separate_runs() -> None:
    scenario = load_scenario(CROWDED, BASE)
    report = compare_pricing(scenario, reserve=2.0)
    assert report.rules["rule"].to_list() == ["fixed", "first_price", "second_price"]
    for row in report.rules.iter_rows(named=True):
        per = report.campaigns.filter(pl.col("rule") == row["rule"])
        assert per["spend"].sum() == pytest.approx(row["revenue"], abs=1e-6)
        assert per["slots"].sum() == row["shortlisted"]
        assert per["settlements"].sum() == row["settlements"]
        alone = run(f"pricing.rule={row['rule']}", "pricing.reserve=2.0").simulation.settlements
        assert row["settlements"] == alone.height
        assert row["revenue"] == pytest.approx(alone["amount"].sum(), abs=1e-6)
    fixed = report.rules.row(0, named=True)
    assert fixed["payout_minus_price"] == 0.0 and fixed["price_to_payout"] == 1.0
    second = report.rules.row(2, named=True)
    assert second["payout_minus_price"] > 0 and second["price_to_payout"] < 1.0
    assert report.campaigns.filter(pl.col("rule") == "fixed")["slots_delta"].to_list() == [0] * (
        report.campaigns.height // 3
    )


def test_cli_pricing_and_compare_pricing_as_a_variant(tmp_path, capsys) -> None:
    # compare's baseline is the scenario as written, so both commands run the whole crowded market
    assert main(["pricing", CROWDED, "--reserve", "2", "--out", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "second_price" in out and "slot changes against fixed" in out
    rules = pl.read_csv(tmp_path / "p" / "pricing_rules.csv")
    assert rules["rule"].to_list() == ["fixed", "first_price", "second_price"]
    assert "# Pricing rules side by side (reserve 2.00 USD)" in (tmp_path / "p" / "pricing.md").read_text()
    variant = ["--set", "pricing.rule=second_price", "--set", "pricing.reserve=2"]
    assert main(["compare", CROWDED, *variant, "--out", str(tmp_path / "c"), "--format", "csv"]) == 0
    kpis = pl.read_csv(tmp_path / "c" / "compare_kpis.csv")
    spend = kpis.filter(pl.col("metric") == "spend").row(0, named=True)
    assert spend["baseline"] == pytest.approx(rules["revenue"][0], abs=1e-6)
    assert spend["variant"] == pytest.approx(rules["revenue"][2], abs=1e-6)
    assert spend["variant"] < spend["baseline"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--reserve", "-1"], "--reserve: expected a non-negative amount, got '-1'"),
        (["--reserve", "ten"], "--reserve: expected a non-negative amount, got 'ten'"),
        (["--set", "pricing.rule=dutch"], "at pricing.rule: Invalid enum value 'dutch'"),
        (["--set", "pricing.reserve=-2"], "at pricing.reserve: Expected `float` >= 0.0"),
    ],
)
def test_cli_pricing_refuses_bad_input_in_one_line(argv, message, capsys) -> None:
    assert main(["pricing", CROWDED, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
