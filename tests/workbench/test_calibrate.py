"""``workbench calibrate``: the funnel fitted on a log gives back the funnel the log was simulated with,
per category when there is enough data, written into a scenario that loads; bad logs are one line."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import msgspec
import numpy as np
import pytest

from server.domain.models import EventReceipt
from workbench.cli import main
from workbench.engine.calibrate import FUNNEL_KEYS, MIN_SLOTS, calibrate, calibrate_log, read_slots
from workbench.engine.calibrate_report import estimates_frame, save_calibrated_scenario, write_report
from workbench.engine.funnel_fit import position_model, wilson
from workbench.engine.funnel_log import SAMPLE, LogSpec, simulated_log
from workbench.engine.replay_log import ReplayRequest
from workbench.engine.scenario import FunnelSpec, ScenarioError, load_scenario

from .helpers import ROOT

SHIPPED = ROOT / "scenarios" / "recorded" / "funnel-sample.jsonl"
TRUE = FunnelSpec(presented=0.85, position_decay=0.7, viewed=0.45, interacted=0.35, converted=0.2)
OTHER = FunnelSpec(presented=0.6, position_decay=0.9, viewed=0.3, interacted=0.5, converted=0.1)


def log_file(tmp_path: Path, spec: LogSpec, name: str = "log.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(simulated_log(spec))
    return path


def truth(funnel: FunnelSpec) -> dict[str, float]:
    return {key: getattr(funnel, key) for key in FUNNEL_KEYS}


def test_the_fit_gives_back_the_funnel_a_log_was_simulated_with(tmp_path: Path) -> None:
    spec = LogSpec(
        funnels={"crm_software": TRUE}, weights={"crm_software": 1.0}, requests=20_000, fill=1.0, seed=5
    )
    cal = calibrate_log(log_file(tmp_path, spec))
    widths = {
        "presented": 0.015,
        "position_decay": 0.025,
        "viewed": 0.015,
        "interacted": 0.025,
        "converted": 0.035,
    }
    for key, value in truth(TRUE).items():
        e = cal.pooled.estimates[key]
        assert e.low is not None and e.high is not None and e.value is not None
        assert e.low <= value <= e.high, (key, e)
        assert e.low <= e.value <= e.high and e.high - e.low < widths[key], (key, e)
    c = cal.coverage
    assert (c.requests, c.positions, c.no_slot, c.duplicates, c.implied) == (20_000, (1, 2, 3), 0, 0, 0)
    assert c.matched == c.receipts and c.slots == int(cal.pooled.by_position["slots"].sum()) > 39_000
    assert cal.categories == () and cal.thin == {}  # one category: the pooled fit is its fit


def test_exact_counts_give_the_parameters_exactly() -> None:
    slots = np.array([100_000, 80_000, 60_000, 40_000])
    presented = slots * 0.9 * 0.8 ** np.arange(4)
    p, decay = position_model(slots, presented)
    assert p.value == pytest.approx(0.9, abs=1e-7) and decay.value == pytest.approx(0.8, abs=1e-7)
    assert p.low is not None and p.high is not None and 0.89 < p.low < 0.9 < p.high < 0.91
    # all presented everywhere: both at 1, the intervals' upper ends at the bound
    p, decay = position_model(np.array([50, 30]), np.array([50, 30]))
    assert (p.value, p.high, decay.value, decay.high) == (1.0, 1.0, 1.0, 1.0)
    assert p.low is not None and 0.95 < p.low < 1.0
    # nothing presented past the first position: the decay is 0
    p, decay = position_model(np.array([50, 30]), np.array([40, 0]))
    assert p.value == pytest.approx(0.8, abs=1e-7) and decay.value == 0.0 and decay.low == 0.0
    # one position: no decay, presented is the plain proportion
    p, decay = position_model(np.array([50]), np.array([40]))
    assert p.value == 0.8 and decay.value is None and "position 1 only" in decay.basis
    with pytest.raises(ValueError, match="every slot is at position 2"):
        position_model(np.array([0, 50]), np.array([0, 40]))


def test_wilson_intervals() -> None:
    e = wilson(3, 10, "tries")
    assert (
        e.value == 0.3
        and e.low == pytest.approx(0.1078, abs=1e-4)
        and e.high == pytest.approx(0.6032, abs=1e-4)
    )
    assert wilson(0, 30, "tries").low == 0.0 and wilson(30, 30, "tries").high == 1.0
    assert wilson(0, 0, "viewed slots").value is None


def test_categories_with_enough_data_get_their_own_fit(tmp_path: Path) -> None:
    spec = LogSpec(
        funnels={"crm_software": TRUE, "analytics": OTHER, "hr_software": TRUE},
        weights={"crm_software": 0.55, "analytics": 0.44, "hr_software": 0.01},
        requests=6_000,
        seed=13,
    )
    cal = calibrate_log(log_file(tmp_path, spec))
    assert [fit.scope for fit in cal.categories] == ["crm_software", "analytics"]
    assert list(cal.thin) == ["hr_software"] and cal.thin["hr_software"] < 200
    for fit, funnel in zip(cal.categories, (TRUE, OTHER), strict=True):
        for key, value in truth(funnel).items():
            e = fit.estimates[key]
            assert e.low is not None and e.high is not None and e.low <= value <= e.high, (fit.scope, key, e)
    pooled = cal.pooled.estimates["presented"].value
    assert pooled is not None and OTHER.presented < pooled < TRUE.presented
    frame = estimates_frame(cal)
    assert frame.height == 3 * len(FUNNEL_KEYS) and set(frame["scope"]) == {
        "all",
        "crm_software",
        "analytics",
    }


def test_positions_from_the_receipts_order_or_their_payload(tmp_path: Path) -> None:
    base = LogSpec(funnels={"crm_software": TRUE}, weights={"crm_software": 1.0}, requests=1_500, seed=3)
    every = calibrate_log(log_file(tmp_path, base, "every.jsonl"))
    furthest = calibrate_log(log_file(tmp_path, replace(base, every_event=False), "furthest.jsonl"))
    with_payload = replace(base, payload_position=True)
    payload_path = log_file(tmp_path, with_payload, "payload.jsonl")
    reversed_path = tmp_path / "reversed.jsonl"
    reversed_path.write_bytes(b"\n".join(reversed(payload_path.read_bytes().splitlines())) + b"\n")
    payload, backwards = calibrate_log(payload_path), calibrate_log(reversed_path)
    # only the furthest event per slot: the earlier stages are implied, the fit is the same
    assert furthest.pooled.estimates == every.pooled.estimates
    assert furthest.coverage.implied == furthest.pooled.presented_slots > 0 == every.coverage.implied
    # payload.position wins over the order of the receipts
    assert payload.coverage.from_payload == payload.coverage.slots and every.coverage.from_payload == 0
    assert backwards.pooled.estimates == payload.pooled.estimates == every.pooled.estimates
    # without it, the reversed order reverses the positions: another fit
    order_only = tmp_path / "reversed-order.jsonl"
    order_only.write_bytes(b"\n".join(reversed(log_file(tmp_path, base).read_bytes().splitlines())) + b"\n")
    assert (
        calibrate_log(order_only).pooled.estimates["position_decay"]
        != every.pooled.estimates["position_decay"]
    )


def request(intent: str, slots: int = 2) -> ReplayRequest:
    return ReplayRequest(intent_id=intent, category="crm_software", task_type="t", sponsored_slots=slots)


def receipt(rid: str, intent: str, offer: str, event: str, **payload: object) -> EventReceipt:
    body = {
        "receiptId": rid,
        "dataProvenance": "real_event",
        "intentId": intent,
        "offerId": offer,
        "campaignId": f"cmp_{offer}",
        "partnerId": "p",
        "eventType": event,
        "occurredAt": f"2026-03-11T12:00:{int(rid[1:]):02d}Z",
        "signature": "s",
        "payload": payload,
    }
    return msgspec.convert(body, EventReceipt)


def test_coverage_counts_what_the_fit_ignores() -> None:
    requests = [request("i1"), request("i2", slots=1), request("i1")]  # i1 retried
    receipts = [
        receipt("r1", "i1", "a", "shortlisted"),
        receipt("r2", "i1", "a", "owner.viewed"),  # presented implied
        receipt("r2", "i1", "a", "owner.viewed"),  # the same receipt again
        receipt("r3", "i1", "b", "offer.shortlisted"),
        receipt("r4", "i1", "c", "offer.shortlisted"),  # a third slot of a two-slot request
        receipt("r5", "i2", "a", "delivery.sent"),  # outside the funnel
        receipt("r6", "i9", "a", "shortlisted"),  # no such intent
        receipt("r7", "i2", "b", "conversion"),  # every stage implied
    ]
    slots, c = read_slots("log", requests, receipts)
    assert slots.position.tolist() == [1, 2, 1] and slots.stage.tolist() == [2, 0, 4]
    assert (c.requests, c.intents, c.slots, c.receipts, c.matched) == (3, 2, 3, 8, 4)
    assert (c.no_slot, c.other_events, c.duplicates, c.implied) == (2, 1, 1, 2)
    assert c.categories == {"crm_software": 3} and c.positions == (1, 2)
    assert (
        c.first_at is not None and c.last_at is not None and c.first_at.second == 1 and c.last_at.second == 7
    )


@pytest.mark.parametrize(
    ("receipts", "message"),
    [
        (
            [receipt("r1", "i1", "a", "shortlisted", position="1")],
            "log: receipt r1: at payload.position: expected a whole number ≥ 1 (the slot's rank in the "
            "shortlist), got '1'",
        ),
        (
            [
                receipt("r1", "i1", "a", "shortlisted", position=2),
                receipt("r2", "i1", "a", "presented", position=1),
            ],
            "log: receipt r2: at payload.position: 1, but the slot a/p of intent i1 is at position 2",
        ),
        (
            [receipt("r1", "i1", "a", "shortlisted"), receipt("r2", "i1", "b", "shortlisted", position=1)],
            "log: intent i1: two slots at position 1 (a/p and b/p)",
        ),
    ],
)
def test_inconsistent_positions_are_refused(receipts: list[EventReceipt], message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        read_slots("log", [request("i1")], receipts)
    assert str(err.value).startswith(message)


def test_too_few_slots_says_how_many_are_needed() -> None:
    receipts = [receipt(f"r{i}", f"i{i}", "a", "presented") for i in range(1, 11)]
    with pytest.raises(ScenarioError, match=f"log: 10 slots with receipts; at least {MIN_SLOTS} are needed"):
        calibrate([request(f"i{i}") for i in range(1, 11)], receipts, "log")


def baseline_copy(folder: Path) -> Path:
    (folder / "data").mkdir(parents=True)
    (folder / "scenarios").mkdir()
    shutil.copy(ROOT / "data" / "seed.json", folder / "data" / "seed.json")
    shutil.copy(ROOT / "scenarios" / "baseline.toml", folder / "scenarios" / "baseline.toml")
    return folder / "scenarios" / "baseline.toml"


def test_the_written_scenario_loads_with_the_estimates_and_keeps_the_rest(tmp_path: Path) -> None:
    source = baseline_copy(tmp_path)
    original = source.read_text()
    cal = calibrate_log(SHIPPED)
    target = save_calibrated_scenario(source, cal, None)
    assert target == source.parent / "baseline-calibrated.toml" and source.read_text() == original
    written, before = load_scenario(target), load_scenario(source)
    assert written.name == "baseline-calibrated"
    for key, value in cal.pooled.values().items():
        assert getattr(written.spec.funnel, key) == pytest.approx(value, abs=5e-7)
    assert written.spec.traffic == before.spec.traffic and written.ranking == before.ranking
    assert written.spec.billing == before.spec.billing and written.campaigns == before.campaigns
    text = target.read_text()
    assert text.startswith("# [funnel] calibrated by `workbench calibrate ")
    assert "[ranking.weights]   # spec §5 defaults" in text  # comments kept
    assert len(text.splitlines()) == len(original.splitlines()) + 1
    with pytest.raises(ScenarioError, match=r"the calibrated scenario is saved next to baseline\.toml"):
        save_calibrated_scenario(source, cal, tmp_path / "elsewhere" / "x.toml")


def test_a_decay_the_log_cannot_tell_keeps_the_scenarios(tmp_path: Path) -> None:
    source = baseline_copy(tmp_path)
    one_slot = LogSpec(
        funnels={"crm_software": TRUE}, weights={"crm_software": 1.0}, requests=400, max_slots=1, seed=2
    )
    cal = calibrate_log(log_file(tmp_path, one_slot))
    assert cal.pooled.estimates["position_decay"].value is None
    target = save_calibrated_scenario(source, cal, Path("one-slot.toml"))
    funnel = load_scenario(target).spec.funnel
    assert funnel.position_decay == load_scenario(source).spec.funnel.position_decay == 0.85
    assert funnel.presented == pytest.approx(cal.pooled.values()["presented"], abs=5e-7)


def test_the_shipped_sample_is_the_generators_output() -> None:
    assert SHIPPED.read_bytes() == simulated_log(SAMPLE)


def test_the_cli_on_the_shipped_sample(tmp_path: Path, capsys) -> None:
    source = baseline_copy(tmp_path)
    report = tmp_path / "report"
    assert main(["calibrate", str(SHIPPED), "--scenario", str(source), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "requests: 800 (800 intents)" in out
    assert "pooled only (too little data for a fit of their own): hr_software" in out
    assert (
        "│ presented      │   0.7700 │ 0.7396–0.7987 │ 906 presented of 1,343 slots at positions 1–3 │" in out
    )
    assert "crm_software" in out and "project_management" in out
    assert f"as {source.parent / 'baseline-calibrated.toml'}" in out
    assert load_scenario(source.parent / "baseline-calibrated.toml").spec.funnel.presented == 0.769954
    assert sorted(p.name for p in report.iterdir()) == ["calibration.csv", "calibration.md"]
    assert "| presented | 0.7700 | 0.7396–0.7987 |" in (report / "calibration.md").read_text()
    # without --scenario: the [funnel] table to paste
    assert main(["calibrate", str(SHIPPED)]) == 0
    out = capsys.readouterr().out
    assert out.endswith(
        "[funnel]\npresented = 0.769954\nviewed = 0.462472\ninteracted = 0.303103\nconverted = 0.204724\n"
        "position_decay = 0.76557\n"
    )


def test_write_report_makes_its_folder(tmp_path: Path) -> None:
    written = write_report(calibrate_log(SHIPPED), tmp_path / "a" / "b")
    header = written[0].read_text().splitlines()[0]
    assert header == "scope,parameter,estimate,low,high,basis,method"


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "workbench: {log}: no such log file"),
        ('{"intentId": "i1", "category": \n', [], "workbench: {log}:1: not valid JSON"),
        (
            '{"intentId": "i1", "category": "crm", "taskType": "t"}\n',
            [],
            "workbench: {log}: holds no receipts",
        ),
        ("", [], "workbench: {log}: holds no OpportunityRequest"),
        (80, [], "slots with receipts; at least 100 are needed to fit the funnel"),
        (None, ["--out", "x.toml"], "workbench: --out names the calibrated scenario: give --scenario"),
        (None, ["--scenario", "nowhere.toml"], "workbench: nowhere.toml: no such scenario file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys, content, args, message) -> None:
    log = tmp_path / "log.jsonl"
    if isinstance(content, int):  # the shipped sample's first lines: too few slots
        log.write_text("\n".join(SHIPPED.read_text().splitlines()[:content]) + "\n")
    elif content is not None:
        log.write_text(content)
    assert main(["calibrate", str(log), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench: ") and message.format(log=log) in err and err.count("\n") == 1, err


def test_a_bad_field_names_the_line_and_the_field(tmp_path: Path, capsys) -> None:
    lines = SHIPPED.read_text().splitlines()
    number = next(i for i, line in enumerate(lines) if '"category"' in line)
    lines[number] = lines[number].replace('"category":"', '"category":7,"was":"')
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert main(["calibrate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"workbench: {path}:{number + 1}: at category: Expected `str`, got `int`\n"


def test_the_recorded_seed_session_calibrates_without_a_decay(capsys) -> None:
    assert main(["calibrate", str(ROOT / "scenarios" / "recorded" / "seed-session.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "slots: 114 at positions 1 (" in out and "implied by a later receipt: 75" in out
    assert out.endswith("# position_decay: slots at position 1 only: not estimated\n")
