"""The lab's model without a terminal: typed values, evaluations, saving tuned settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.engine.pipeline import run_scenario
from workbench.engine.scenario import ScenarioError, load_scenario
from workbench.engine.tuning import evaluate, parse_setting, save_tuned_scenario, settings_diff, tuned_name

from .conftest import BASELINE, scenario_copy


@pytest.mark.parametrize(
    ("table", "key", "text", "value"),
    [
        ("weights", "bid", "0.2", 0.2),
        ("weights", "bid", " 0 ", 0.0),
        ("weights", "trust", "1.5", 1.5),
        ("floors", "relevance", "0", 0.0),
        ("floors", "utility", "1", 1.0),
    ],
)
def test_valid_settings(table: str, key: str, text: str, value: float) -> None:
    assert parse_setting(table, key, text) == value


@pytest.mark.parametrize(
    ("table", "key", "text", "message"),
    [
        ("weights", "bid", "abc", "bid weight: 'abc' is not a number"),
        ("weights", "bid", "", "bid weight: enter a number"),
        ("weights", "affective_fit", "-0.1", "affective fit weight: a weight cannot be negative (got -0.1)"),
        ("weights", "bid", "inf", "bid weight: a weight must be a finite number (got inf)"),
        ("weights", "trust", "nan", "trust weight: a weight must be a finite number (got nan)"),
        ("floors", "relevance", "1.2", "relevance floor: a floor is between 0 and 1 (got 1.2)"),
        ("floors", "utility", "-0.5", "utility floor: a floor is between 0 and 1 (got -0.5)"),
    ],
)
def test_invalid_settings_name_the_setting(table: str, key: str, text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_setting(table, key, text)
    assert str(err.value) == message


def test_evaluate_compares_with_the_baseline() -> None:
    scenario = load_scenario(BASELINE)
    baseline = run_scenario(scenario)
    same = evaluate(baseline, scenario.ranking)
    assert same.run is baseline
    assert same.comparison.kpis["delta"].abs().max() == 0
    assert same.gates["delta"].abs().max() == 0

    stricter = evaluate(baseline, scenario.ranking.with_floors(relevance=0.98))
    kpis = dict(zip(stricter.comparison.kpis["metric"], stricter.comparison.kpis["delta"], strict=True))
    assert kpis["fill_rate"] < 0 and kpis["shortlisted"] < 0
    gates = dict(zip(stricter.gates["gate"], stricter.gates["delta"], strict=True))
    assert gates["relevance"] > 0
    assert stricter.losers["campaign_id"].to_list() == ["cmp_signalstack"]
    assert stricter.scores.current.sum() < stricter.scores.baseline.sum()  # fewer eligible evaluations
    assert stricter.shortlist.height == 20 and stricter.shortlist["priority_score"].is_not_null().all()
    assert settings_diff(baseline.cfg, stricter.run.cfg) == ["relevance floor 0.72→0.98"]


def test_saved_scenario_keeps_the_file_and_loads_with_the_new_settings(tmp_path: Path) -> None:
    source = scenario_copy(tmp_path)
    cfg = load_scenario(source).ranking.with_weights(bid=0.2, affective_fit=0.0).with_floors(utility=0.6)
    target = save_tuned_scenario(source, cfg, tuned_name(source))

    assert target == source.parent / "baseline-tuned.toml"
    tuned = load_scenario(target)
    assert tuned.name == "baseline-tuned"
    assert tuned.ranking.weights == cfg.weights and tuned.ranking.floors == cfg.floors
    original, text = source.read_text(), target.read_text()
    assert "[ranking.weights]   # spec §5 defaults" in text  # comments are kept
    assert "bid = 0.2\n" in text and "affective_fit = 0.0\n" in text and "utility = 0.6\n" in text
    # everything but the name and the ranking reads the same
    assert tuned.spec.traffic == load_scenario(source).spec.traffic
    assert len(text.splitlines()) == len(original.splitlines()) + 1  # one note line on top
    assert source.read_text() == original


def test_saving_adds_missing_ranking_tables(tmp_path: Path) -> None:
    source = scenario_copy(tmp_path)
    text = source.read_text()
    start, end = text.index("[ranking.weights]"), text.index("[entities]")
    source.write_text(text[:start] + text[end:])
    cfg = load_scenario(source).ranking.with_weights(bid=0.3)
    target = save_tuned_scenario(source, cfg, "more-bid")
    assert target.name == "more-bid.toml"
    assert load_scenario(target).ranking.weights.bid == 0.3


def test_saving_refuses_to_overwrite_the_source_or_leave_its_folder(tmp_path: Path) -> None:
    source = scenario_copy(tmp_path)
    cfg = load_scenario(source).ranking
    with pytest.raises(ScenarioError, match="choose a new name"):
        save_tuned_scenario(source, cfg, "baseline.toml")
    with pytest.raises(ScenarioError, match="give a file name"):
        save_tuned_scenario(source, cfg, "../elsewhere.toml")
    with pytest.raises(ScenarioError, match="give a file name"):
        save_tuned_scenario(source, cfg, "  ")
    assert sorted(p.name for p in source.parent.iterdir()) == ["baseline.toml"]


def test_saving_refuses_ranking_written_inline(tmp_path: Path) -> None:
    source = scenario_copy(tmp_path)
    text = source.read_text()
    start, end = text.index("[ranking.weights]"), text.index("[entities]")
    inline = "[ranking]\nweights = { bid = 0.1 }\nfloors = { relevance = 0.72 }\n\n"
    source.write_text(text[:start] + inline + text[end:])
    with pytest.raises(ScenarioError, match="cannot edit"):
        save_tuned_scenario(source, load_scenario(source).ranking.with_weights(bid=0.4), "x.toml")
    assert not (source.parent / "x.toml").exists()
