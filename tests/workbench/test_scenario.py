"""Scenario files: decoding, the promised one-line errors, --set overrides, floors of replayed requests."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.engine.overrides import apply_overrides, parse_override
from workbench.engine.scenario import ScenarioError, load_scenario
from workbench.engine.traffic import build_traffic

from .helpers import ROOT

SCENARIOS = ROOT / "scenarios"

MINIMAL = """\
name = "mini"
seed = 1
as_of = 2026-03-11T12:00:00Z
[entities]
seed_file = "{seed}"
[traffic]
requests = 10
[[traffic.segments]]
category = "crm_software"
task_type = "compare_and_shortlist"
geo = ["UK"]
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text.format(seed=(ROOT / "data" / "seed.json").as_posix()))
    return path


def error_of(path: Path, overrides=()) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("name", ["baseline.toml", "crowded-market.toml", "replay.toml"])
def test_shipped_scenarios_validate(name):
    scenario = load_scenario(SCENARIOS / name)
    assert scenario.campaigns and scenario.partners


def test_crowded_market_is_crowded():
    s = load_scenario(SCENARIOS / "crowded-market.toml")
    assert len(s.campaigns) >= 24
    assert len({c.category for c in s.campaigns}) >= 3
    assert len({r for c in s.campaigns for r in c.regions}) >= 3
    assert len({p.trust_score for p in s.partners}) >= 3


def test_minimal_scenario_uses_defaults(tmp_path):
    s = load_scenario(write(tmp_path, MINIMAL))
    assert s.ranking.weights.bid == 0.10 and s.ranking.floors.relevance == 0.72
    assert s.spec.cpqr_billable_event == "offer.shortlisted"
    assert [c.campaign_id for c in s.campaigns] == ["cmp_hubflow", "cmp_signalstack"]


def test_wrong_type_names_file_field_and_expectation(tmp_path):
    path = write(tmp_path, MINIMAL.replace("seed = 1", 'seed = "one"'))
    assert error_of(path) == f"{path}: at seed: Expected `int`, got `str`"


def test_unknown_field_is_refused(tmp_path):
    path = write(tmp_path, MINIMAL + "[ranking.weights]\nbidd = 0.2\n")
    assert error_of(path) == f"{path}: at ranking.weights: Object contains unknown field `bidd`"


def test_weights_must_be_numbers(tmp_path):
    path = write(tmp_path, MINIMAL + '[ranking.weights]\nbid = "high"\n')
    assert error_of(path) == f"{path}: at ranking.weights.bid: Expected `float`, got `str`"


def test_missing_required_field(tmp_path):
    path = write(tmp_path, MINIMAL.replace("as_of = 2026-03-11T12:00:00Z\n", ""))
    assert error_of(path) == f"{path}: Object missing required field `as_of`"


def test_probability_out_of_range(tmp_path):
    path = write(tmp_path, MINIMAL + "[funnel]\nviewed = 1.5\n")
    assert error_of(path) == f"{path}: at funnel.viewed: Expected `float` <= 1.0"


def test_missing_scenario_file(tmp_path):
    path = tmp_path / "nope.toml"
    assert error_of(path) == f"{path}: no such scenario file"


def test_missing_seed_file(tmp_path):
    path = write(tmp_path, MINIMAL.replace("{seed}", "missing.json"))
    assert error_of(path) == f"{path}: at entities.seed_file: no such file {tmp_path / 'missing.json'}"


def test_bad_entity_in_seed_file_names_that_file(tmp_path):
    seed = json.loads((ROOT / "data" / "seed.json").read_text())
    seed["campaigns"][1]["budget"] = "lots"
    (tmp_path / "seed.json").write_text(json.dumps(seed))
    path = write(tmp_path, MINIMAL.replace("{seed}", "seed.json"))
    assert error_of(path) == f"{tmp_path / 'seed.json'}: at campaigns[1].budget: Expected `float`, got `str`"


def test_not_toml(tmp_path):
    path = write(tmp_path, "name = \n")
    assert error_of(path).startswith(f"{path}: not valid TOML: ")


def test_traffic_needs_segments_or_replay(tmp_path):
    text = MINIMAL.split("[[traffic.segments]]")[0]
    path = write(tmp_path, text)
    assert (
        error_of(path)
        == f"{path}: at traffic.segments: expected at least one segment (or set traffic.replay)"
    )


def test_bad_replay_line_names_file_and_line(tmp_path):
    (tmp_path / "log.jsonl").write_text(
        '{"intentId": "a", "category": "crm_software", "taskType": "t"}\n\n{"intentId": "b", "category": 3, "taskType": "t"}\n'
    )
    path = write(tmp_path, MINIMAL.split("[traffic]")[0] + '[traffic]\nreplay = "log.jsonl"\n')
    assert error_of(path) == f"{tmp_path / 'log.jsonl'}:3: at category: Expected `str`, got `int`"


# --set ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, key, value",
    [
        ("ranking.weights.bid=0.2", ["ranking", "weights", "bid"], 0.2),
        ("traffic.requests = 500", ["traffic", "requests"], 500),
        ("ranking.override_request_floors=true", ["ranking", "override_request_floors"], True),
        ('traffic.segments.0.geo=["UK", "EU"]', ["traffic", "segments", "0", "geo"], ["UK", "EU"]),
        ("name=variant b", ["name"], "variant b"),
        ('name="quoted"', ["name"], "quoted"),
        ("traffic.replay=recorded/x.jsonl", ["traffic", "replay"], "recorded/x.jsonl"),
    ],
)
def test_parse_override(text, key, value):
    assert parse_override(text) == (key, value)


def test_parse_override_datetime():
    key, value = parse_override("as_of=2026-03-01T00:00:00Z")
    assert key == ["as_of"] and value.isoformat() == "2026-03-01T00:00:00+00:00"


@pytest.mark.parametrize(
    "text, message",
    [
        ("ranking.weights.bid", "expected KEY=VALUE"),
        ("=0.2", "expected KEY=VALUE"),
        ("ranking..bid=0.2", "has an empty part"),
        ("ranking.weights.bid=", "no value after '='"),
    ],
)
def test_malformed_overrides(text, message):
    with pytest.raises(ScenarioError, match=message):
        parse_override(text)


def test_overrides_set_nested_values_and_list_items():
    table = {"traffic": {"segments": [{"weight": 1}]}}
    apply_overrides(table, ["ranking.weights.bid=0.2", "traffic.segments.0.weight=3"])
    assert table == {"traffic": {"segments": [{"weight": 3}]}, "ranking": {"weights": {"bid": 0.2}}}
    with pytest.raises(ScenarioError, match=re.escape("traffic.segments.0.weight is a value, not a table")):
        apply_overrides(table, ["traffic.segments.0.weight.x=1"])
    with pytest.raises(ScenarioError, match="must be an index below 1"):
        apply_overrides(table, ["traffic.segments.4.weight=1"])


def test_override_errors_are_validated_like_the_file():
    path = SCENARIOS / "baseline.toml"
    assert load_scenario(path, ["ranking.weights.bid=0.2"]).ranking.weights.bid == 0.2
    message = error_of(path, ["ranking.weights.bid=abc"])
    assert message.endswith(
        "(with --set ranking.weights.bid=abc): at ranking.weights.bid: Expected `float`, got `str`"
    )
    message = error_of(path, ["ranking.weight.bid=0.2"])
    assert message.endswith("at ranking: Object contains unknown field `weight`")


def test_floor_override_changes_generated_requests():
    s = load_scenario(SCENARIOS / "baseline.toml", ["ranking.floors.relevance=0.65"])
    import numpy as np

    traffic = build_traffic(s, s.ranking, np.random.default_rng(0))
    assert set(traffic.signatures["relevance_floor"].to_list()) == {0.65}


def test_replayed_floors_stated_win_unless_overridden(tmp_path):
    shutil.copy(ROOT / "data" / "seed.json", tmp_path / "seed.json")
    (tmp_path / "log.jsonl").write_text(
        '{"intentId": "a", "category": "crm_software", "taskType": "t", "relevanceFloor": 0.9}\n'
        '{"intentId": "b", "category": "crm_software", "taskType": "t"}\n'
    )
    text = MINIMAL.split("[traffic]")[0].replace("{seed}", "seed.json") + '[traffic]\nreplay = "log.jsonl"\n'
    path = write(tmp_path, text + "[ranking.floors]\nrelevance = 0.5\n")
    import numpy as np

    s = load_scenario(path)
    t = build_traffic(s, s.ranking, np.random.default_rng(0))
    floors = t.signatures["relevance_floor"].to_list()
    assert [floors[i] for i in t.sig_of_request] == [0.9, 0.5]
    s = load_scenario(path, ["ranking.override_request_floors=true"])
    t = build_traffic(s, s.ranking, np.random.default_rng(0))
    assert set(t.signatures["relevance_floor"].to_list()) == {0.5}


def test_validate_command(tmp_path, capsys):
    bad = write(tmp_path, MINIMAL.replace("seed = 1", "seed = -1"))
    assert main(["validate", str(SCENARIOS / "baseline.toml")]) == 0
    assert "ok: " in capsys.readouterr().out
    assert main(["validate", str(bad), str(SCENARIOS / "baseline.toml")]) == 2
    captured = capsys.readouterr()
    assert f"invalid: {bad}: at seed: Expected `int` >= 0" in captured.err
    assert "Traceback" not in captured.err
