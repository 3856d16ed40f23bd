"""``workbench optimise``: Optuna's TPE over weights and floors finds the known optimum of a small constructed
market, respects every constraint, gives the same result for the same seed and saves a winner that runs
to the same figures; a bad objective or constraint is one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from workbench.cli import main
from workbench.engine.optimise import optimise
from workbench.engine.pipeline import run_scenario
from workbench.engine.scenario import load_scenario
from workbench.engine.sweep import variant_row

from .helpers import campaign, partner

SCENARIO = """\
name = "two-offers"
seed = 5
as_of = 2026-03-11T12:00:00Z
cpqr_billable_event = "offer.shortlisted"

[ranking.weights]
relevance = 0.35
utility = 0.25
trust = 0.15
affective_fit = 0.15
bid = 0.10

[ranking.floors]
relevance = 0.72
utility = 0.68

[entities]
seed_file = "seed.json"

[traffic]
requests = 200
sponsored_slots = 1

[[traffic.segments]]
category = "crm_software"
task_type = "compare_and_shortlist"
geo = ["UK"]

[funnel]
presented = 1.0
"""


@pytest.fixture
def market(tmp_path: Path) -> Path:
    """Two campaigns for one partner and one kind of request (one slot): ``cmp_rich`` bids 500 but is made
    for another task in another region (relevance 0.8425), ``cmp_fit`` bids 100 and fits (relevance 1).
    Every request ranks alike, so revenue is 200 × 500 when the rich one wins and 200 × 100 otherwise."""
    big = 1e9
    seed = {
        "partners": [partner("p_0", trustScore=0.9)],
        "campaigns": [
            campaign(
                "cmp_rich",
                payoutAmount=500.0,
                budget=big,
                regions=["US"],
                offer={"intendedFor": ["vendor_discovery"], "price": 50.0},
            ),
            campaign("cmp_fit", payoutAmount=100.0, budget=big, offer={"price": 50.0}),
        ],
    }
    (tmp_path / "seed.json").write_bytes(msgspec.json.encode(seed))
    path = tmp_path / "two-offers.toml"
    path.write_text(SCENARIO)
    return path


def test_it_finds_the_known_optimum_and_respects_the_constraints(market: Path) -> None:
    scenario = load_scenario(market)
    free = optimise(scenario, "revenue", ["fill_rate>=0.5"], trials=40, seed=3)
    assert free.baseline["revenue"] == 20_000.0  # the scenario's own weights favour the fitting offer
    assert free.best is not None and free.best["revenue"] == 100_000.0  # the rich offer everywhere
    bound = optimise(scenario, "revenue", ["mean_relevance>=0.9", "fill_rate>=0.5"], trials=40, seed=3)
    assert bound.best is not None and bound.best["revenue"] == 20_000.0  # relevance 0.8425 is not allowed
    assert bound.best["mean_relevance_shown"] == 1.0 and bound.best["fill_rate"] == 1.0
    rows = bound.trials.to_dicts()
    assert any(r["revenue"] == 100_000.0 for r in rows)  # it tried the rich offer, and refused it
    for r in rows:
        assert r["feasible"] == (r["mean_relevance>=0.9"] >= 0.9 and r["fill_rate>=0.5"] >= 0.5)
    for run in (free, bound):
        w = run.best_cfg.weights
        assert abs(w.relevance + w.utility + w.trust + w.affective_fit + w.bid - 1.0) < 1e-9


def test_the_same_seed_gives_the_same_result(market: Path) -> None:
    scenario = load_scenario(market)
    one = optimise(scenario, "advertiser_surplus", ["fill_rate>=0.5"], trials=15, seed=11)
    two = optimise(scenario, "advertiser_surplus", ["fill_rate>=0.5"], trials=15, seed=11)
    assert one.trials.equals(two.trials) and one.best_cfg == two.best_cfg
    other = optimise(scenario, "advertiser_surplus", ["fill_rate>=0.5"], trials=15, seed=12)
    assert not other.trials.equals(one.trials)
    # surplus: 200 conversions' worth at most (price 50 each) minus spend; the fitting offer costs less
    assert one.best["advertiser_surplus"] == one.best["advertiser_value"] - one.best["spend"]


def test_the_cli_saves_a_winner_that_runs_to_the_same_figures(market: Path, capsys) -> None:
    trials_csv = market.parent / "trials.csv"
    assert (
        main(
            [
                "optimise",
                str(market),
                "--objective",
                "revenue",
                "--constraint",
                "mean_relevance>=0.9",
                "--trials",
                "20",
                "--seed",
                "2",
                "--out",
                str(market.parent / "best.toml"),
                "--trials-out",
                str(trials_csv),
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "best feasible setting (maximising revenue) against the baseline" in out
    assert f"saved the best as {market.parent / 'best.toml'}" in out
    assert len(trials_csv.read_text().splitlines()) == 21
    saved = load_scenario(market.parent / "best.toml")
    assert saved.name == "best"
    row = variant_row(run_scenario(saved))
    assert row["revenue"] == 20_000.0 and row["mean_relevance_shown"] >= 0.9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--objective", "profit"], "--objective 'profit': expected one of revenue, fill_rate"),
        (
            ["--objective", "revenue", "--constraint", "fill_rate=>0.5"],
            "--constraint 'fill_rate=>0.5': expected KPI>=NUMBER",
        ),
        (
            ["--objective", "revenue", "--constraint", "happiness>=1"],
            "--constraint 'happiness>=1': no KPI 'happiness'",
        ),
        (
            ["--objective", "revenue", "--constraint", "fill_rate>=lots"],
            "--constraint 'fill_rate>=lots': 'lots' is not",
        ),
        (["--objective", "revenue", "--trials", "0"], "--trials must be at least 1"),
        (
            ["--objective", "revenue", "--trials", "1", "--out", "/tmp/elsewhere/x.toml"],
            "--out /tmp/elsewhere/x.toml: the winner is saved next to two-offers.toml",
        ),
    ],
)
def test_bad_objectives_and_constraints_are_one_line_and_exit_2(market: Path, capsys, args, message) -> None:
    assert main(["optimise", str(market), "--no-progress", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_no_feasible_trial_saves_nothing_and_exits_1(market: Path, capsys) -> None:
    assert (
        main(
            [
                "optimise",
                str(market),
                "--objective",
                "revenue",
                "--constraint",
                "fill_rate>1",
                "--trials",
                "5",
                "--no-progress",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "none of the 5 trials met every constraint (fill_rate>1); nothing saved" in err
    assert err.count("\n") == 1 and not (market.parent / "two-offers-optimised.toml").exists()


def test_a_bare_out_name_is_next_to_the_scenario(market: Path) -> None:
    from workbench.engine.optimise import winner_path

    scenario = load_scenario(market)
    assert winner_path(scenario, Path("best.toml")) == market.parent / "best.toml"
    assert winner_path(scenario, None) == market.parent / "two-offers-optimised.toml"
