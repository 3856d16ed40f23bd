"""``workbench sweep``: every combination of the grid on the same traffic and draws; each variant's row is
what a separate ``run`` of the same settings gives, byte for byte (the KPIs, revenue, spend per campaign)."""

from __future__ import annotations

import math

import msgspec
import polars as pl
import pytest

from workbench.cli import main
from workbench.engine.pipeline import run_scenario
from workbench.engine.scenario import load_scenario
from workbench.engine.sweep import parse_axis, run_sweep, variant_row

from .helpers import ROOT

CROWDED = str(ROOT / "scenarios" / "crowded-market.toml")
# budgets at 5 %: campaigns run out mid-run, so the re-ranked variants must spend like separate runs
BASE = ["traffic.requests=300", "entities.budget_multiplier=0.05"]


def separate_run(overrides: str) -> dict:
    return variant_row(run_scenario(load_scenario(CROWDED, [*BASE, *overrides.split()])))


@pytest.mark.parametrize("jobs", [1, 2])
def test_each_variant_row_is_a_separate_run_byte_for_byte(jobs: int) -> None:
    axes = [parse_axis("ranking.weights.bid=0.05:0.3:0.25"), parse_axis("ranking.floors.relevance=0.6,0.72")]
    if jobs == 2:
        axes = axes[:1]
    frame = run_sweep(CROWDED, BASE, axes, jobs=jobs)
    assert frame["variant"].to_list() == list(range(1, frame.height + 1))
    assert frame.height == (4 if jobs == 1 else 2)
    assert len(set(frame["revenue"].to_list())) > 1  # the settings matter here
    for row in frame.iter_rows(named=True):
        expected = separate_run(row["overrides"])
        got = {k: row[k] for k in expected}
        assert msgspec.json.encode(got) == msgspec.json.encode(expected), row["overrides"]
        spend = [v for k, v in row.items() if k.startswith("spend:")]
        assert math.isclose(sum(spend), row["revenue"], rel_tol=1e-12)
        assert 0 < row["slot_hhi"] <= 1 and row["top_slot_share"] ** 2 <= row["slot_hhi"]


def test_normalise_scales_each_variants_weights_to_one(tmp_path) -> None:
    out = tmp_path / "sweep"
    assert (
        main(
            [
                "sweep",
                CROWDED,
                "--set",
                "traffic.requests=50",
                "--grid",
                "ranking.weights.bid=0.1,0.5",
                "--normalise",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    frame = pl.read_parquet(out / "sweep.parquet")
    assert pl.read_csv(out / "sweep.csv").height == 2
    assert "| variant | ranking.weights.bid |" in (out / "sweep.md").read_text()
    for row in frame.iter_rows(named=True):
        weights = dict(s.split("=") for s in row["overrides"].split() if s.startswith("ranking.weights."))
        assert len(weights) == 5 and math.isclose(sum(map(float, weights.values())), 1.0, abs_tol=1e-9)
        assert row["weight_sum"] == pytest.approx(1.0, abs=1e-9)
    # 0.5 of a total of 1.4 after scaling: bid weighs 0.357143
    assert "ranking.weights.bid=0.357143" in frame["overrides"][1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--grid", "ranking.weights.bid=0:x:0.1"],
            "--grid 'ranking.weights.bid=0:x:0.1': 'x' is not a number",
        ),
        (["--grid", "ranking.weights.bid=0.3:0.1:0.1"], "the range ends (0.1) before it starts (0.3)"),
        (["--grid", "ranking.weights.bid=0:1:0"], "the step must be above 0"),
        (["--grid", "ranking.weights.bid"], "expected KEY=START:STOP:STEP or KEY=V1,V2"),
        (
            ["--grid", "ranking.weights.bid=-1,0.1"],
            "at ranking.weights.bid: a weight cannot be negative (got -1)",
        ),
        ([], "sweep needs at least one --grid"),
        (["--grid", "ranking.weights.bid=0.1", "--jobs", "0"], "--jobs must be at least 1"),
    ],
)
def test_sweep_errors_are_one_line_and_exit_2(capsys, args, message) -> None:
    assert main(["sweep", CROWDED, "--set", "traffic.requests=5", "--no-progress", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
