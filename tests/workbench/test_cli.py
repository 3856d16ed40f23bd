"""The command line: determinism of exports, compare, and meaningful exit codes without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from workbench.cli import main
from workbench.engine.compare import compare_runs
from workbench.engine.pipeline import run_scenario
from workbench.engine.scenario import load_scenario

from .helpers import ROOT

BASELINE = str(ROOT / "scenarios" / "baseline.toml")
CROWDED = str(ROOT / "scenarios" / "crowded-market.toml")


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_scenario_and_seed_give_identical_bytes(tmp_path):
    args = [
        "run",
        CROWDED,
        "--set",
        "traffic.requests=3000",
        "--no-progress",
        "--format",
        "csv,parquet,json,md",
    ]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a, b = files(tmp_path / "a"), files(tmp_path / "b")
    expected = {
        f"{name}.{ext}"
        for name in (
            "ranking_report",
            "settlements",
            "receipts",
            "outcomes_campaign",
            "outcomes_partner",
            "outcomes_category",
            "outcomes_region",
            "candidate_groups",
        )
        for ext in ("csv", "parquet", "json")
    } | {"summary.md", "kpis.json"}
    assert expected <= set(a)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name
    # without --format: the formats that scale, Parquet and the Markdown summary (kpis.json always)
    assert (
        main(
            ["run", CROWDED, "--set", "traffic.requests=3000", "--no-progress", "--out", str(tmp_path / "d")]
        )
        == 0
    )
    written = set(files(tmp_path / "d"))
    assert {"ranking_report.parquet", "settlements.parquet", "summary.md", "kpis.json"} <= written
    assert not {n for n in written if n.endswith(".csv") or (n.endswith(".json") and n != "kpis.json")}
    # another seed is another day
    assert main([*args, "--set", "seed=99", "--out", str(tmp_path / "c")]) == 0
    assert files(tmp_path / "c")["ranking_report.csv"] != a["ranking_report.csv"]


def test_ranking_report_holds_every_request_and_its_scores(tmp_path):
    assert main(["run", BASELINE, "--out", str(tmp_path), "--format", "csv,md", "--no-progress"]) == 0
    header, *rows = (tmp_path / "ranking_report.csv").read_text().splitlines()
    for column in (
        "intent_id",
        "position",
        "campaign_id",
        "partner_id",
        "relevance",
        "utility",
        "trust",
        "affective_fit",
        "bid_norm",
        "priority_score",
        "funnel_stage",
        "settlement_status",
    ):
        assert column in header.split(",")
    assert len({r.split(",")[0] for r in rows}) == 1000
    assert not list(tmp_path.glob("*.parquet"))
    kpis = json.loads((tmp_path / "kpis.json").read_text())
    assert kpis["scenario"]["name"] == "baseline" and 0.0 <= kpis["kpis"]["fill_rate"] <= 1.0


def test_compare_reports_deltas_and_shifts(tmp_path, capsys):
    base = run_scenario(load_scenario(BASELINE))
    variant = run_scenario(load_scenario(BASELINE, ["ranking.weights.bid=0"]))
    comparison = compare_runs(base, variant)
    assert comparison.changed_requests > 0
    assert comparison.slot_share["share_baseline"].sum() == pytest.approx(1.0)
    shifts = {r["campaign_id"]: r for r in comparison.rank_shifts.iter_rows(named=True)}
    assert shifts["cmp_hubflow"]["moved_up"] > 0 and shifts["cmp_signalstack"]["moved_down"] > 0
    assert (
        main(
            [
                "compare",
                BASELINE,
                "--set",
                "ranking.weights.bid=0.2",
                "--out",
                str(tmp_path),
                "--no-progress",
                "--format",
                "csv,parquet,json,md",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "qualified_recommendation_rate" in out and "requests whose shortlist changed" in out
    for name in (
        "compare.md",
        "compare_kpis.csv",
        "compare_slot_share.parquet",
        "compare_rank_shifts.json",
        "baseline/summary.md",
        "variant/ranking_report.csv",
    ):
        assert (tmp_path / name).is_file(), name


def test_counts_read_as_integers_and_money_with_its_currency(tmp_path, capsys):
    variant = ["ranking.weights.bid=0.2"]
    comparison = compare_runs(
        run_scenario(load_scenario(CROWDED)), run_scenario(load_scenario(CROWDED, variant))
    )
    assert main(["compare", CROWDED, "--set", *variant, "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    md = (tmp_path / "compare.md").read_text()
    rows = {r["metric"]: r for r in comparison.kpis.iter_rows(named=True)}
    for metric in ("requests_with_eligible", "shortlisted", "presented", "conversions"):
        r = rows[metric]
        b, v, d = int(r["baseline"]), int(r["variant"]), int(r["delta"])
        assert f"| {metric} | {b:,} | {v:,} | {d:+,} |" in md
        assert f"│ {metric} " in out and f" {b:,} │" in out and f" {v:,} │" in out, out
        assert f"{b:.4f}" not in out + md and f"{b:,.2f}" not in out + md
    spend = rows["spend"]
    assert (
        f"| spend | {spend['baseline']:,.2f} USD | {spend['variant']:,.2f} USD | {spend['delta']:+,.2f} USD |"
        in md
    )
    assert f" {spend['baseline']:,.2f} USD │" in out
    summary = (tmp_path / "variant" / "summary.md").read_text()
    k = comparison.tables[1]["_kpis"]
    assert f"| requests | {k['requests']:,} |" in summary and f"| spend | {k['spend']:,.2f} USD |" in summary
    assert "qualified_recommendation_rate" in out  # names whole, even on an 80-column console


def test_run_says_when_each_budget_and_balance_ran_out(tmp_path, capsys):
    from workbench.engine.exports import run_tables
    from workbench.engine.limits import exhaustion

    sets = ["traffic.requests=100000"]
    result = run_scenario(load_scenario(CROWDED, sets))
    table = exhaustion(result)
    assert (
        main(["run", CROWDED, "--set", *sets, "--out", str(tmp_path), "--no-progress", "--format", "csv,md"])
        == 0
    )
    out = capsys.readouterr().out
    last = table.row(-1, named=True)
    assert (
        f"the last ({last['id']}) at request {last['request_no']:,} of 100,000, {last['at']:%H:%M:%S}"
    ) in out
    for r in table.iter_rows(named=True):
        line = next(line for line in out.splitlines() if f" {r['id']} " in line and f" {r['kind']} " in line)
        assert f" {r['request_no']:,} " in line and f"{r['at']:%Y-%m-%d %H:%M:%S}" in line, line
    # the same dates in the exports: exhaustion.csv, the summary and the campaign outcomes
    exported = pl.read_csv(tmp_path / "exhaustion.csv")
    assert exported["request_no"].to_list() == table["request_no"].to_list()
    assert (
        f"| {last['kind']} | {last['id']} | {last['request_no']:,} " in (tmp_path / "summary.md").read_text()
    )
    camp = (
        run_tables(result)["outcomes_campaign"]
        .filter(pl.col("campaign_id") == "cmp_campaigner")
        .row(0, named=True)
    )
    assert (
        camp["budget_exhausted_at_request"] == table.filter(pl.col("id") == "cmp_campaigner")["request_no"][0]
    )


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["--help"], 0, None),
        (["help"], 0, None),
        (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
        (["run"], 2, "the following arguments are required: scenario"),
        (["run", "missing.toml"], 2, "missing.toml: no such scenario file"),
        (["run", BASELINE, "--set", "ranking.weights.bid"], 2, "expected KEY=VALUE"),
        (
            ["run", BASELINE, "--set", "ranking.weights.bid=x"],
            2,
            "at ranking.weights.bid: Expected `float`, got `str`",
        ),
        (
            ["run", BASELINE, "--set", "ranking.weights.bid=-1"],
            2,
            "(with --set ranking.weights.bid=-1): at ranking.weights.bid: a weight cannot be negative (got -1)",
        ),
        (
            ["compare", BASELINE, "--set", "ranking.weights.trust=nan"],
            2,
            "at ranking.weights.trust: a weight must be a finite number (got nan)",
        ),
        (
            ["run", BASELINE, "--set", "ranking.floors.relevance=1.5"],
            2,
            "at ranking.floors.relevance: a floor is between 0 and 1 (got 1.5)",
        ),
        (["run", BASELINE, "--format", "xlsx"], 2, "--format: expected a comma list"),
        (["compare", BASELINE], 2, "compare needs at least one --set"),
        (["validate", "missing.toml"], 2, "missing.toml: no such scenario file"),
        (
            ["replay", BASELINE, "--api", "http://127.0.0.1:9"],
            1,
            "cannot reach the server at http://127.0.0.1:9",
        ),
        (["replay", BASELINE, "--limit", "0"], 2, "--limit must be at least 1"),
        (["open", "missing.toml"], 2, "missing.toml: no such scenario file"),
    ],
)
def test_exit_codes(argv, code, message, capsys):
    assert main(argv) == code
    captured = capsys.readouterr()
    if message:
        assert message in captured.err
    if code == 0:
        assert "usage:" in captured.out
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[ranking.weights]\nbid = -1.0\n", "at ranking.weights.bid: a weight cannot be negative (got -1)"),
        (
            "[ranking.floors]\nutility = 1.01\n",
            "at ranking.floors.utility: a floor is between 0 and 1 (got 1.01)",
        ),
    ],
)
def test_a_scenario_file_with_a_bad_ranking_is_refused_in_one_line(tmp_path, capsys, table, message):
    text = Path(BASELINE).read_text(encoding="utf-8")
    start, end = text.index("[ranking.weights]"), text.index("[entities]")
    (tmp_path / "data").mkdir()
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "data" / "seed.json").write_bytes((ROOT / "data" / "seed.json").read_bytes())
    path = tmp_path / "scenarios" / "bad-ranking.toml"
    path.write_text(text[:start] + table + "\n" + text[end:], encoding="utf-8")
    for argv in (["validate", str(path)], ["run", str(path), "--no-progress"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and "bad-ranking.toml" in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unwritable_output_is_a_runtime_failure(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["run", BASELINE, "--out", str(blocker / "out"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("workbench: ") and "Traceback" not in err
