"""The ranking lab through the keyboard: results at start-up, a changed setting, invalid values, pin, save."""

from __future__ import annotations

import threading
from pathlib import Path

from textual.widgets import Input, Static

from workbench.app.screens.lab import LabScreen
from workbench.app.screens.save_scenario import SaveScenarioScreen
from workbench.app.widgets.kpi_table import KpiTable
from workbench.app.widgets.lab_chart import LabChart
from workbench.app.widgets.ranking_editor import RankingEditor
from workbench.engine.scenario import load_scenario

from .conftest import SIZE, offline_app, scenario_copy, screen_lines, screen_text, wait_for, widget_text


def kpi_row(lab: LabScreen, metric: str) -> list[str]:
    table = lab.query_one("#lab-kpis", KpiTable)
    for index in range(table.row_count):
        row = [str(cell) for cell in table.get_row_at(index)]
        if row[0] == metric:
            return row
    raise AssertionError(f"no KPI row {metric!r}")


async def started(pilot) -> LabScreen:
    lab = pilot.app.screen
    assert isinstance(lab, LabScreen)
    await wait_for(pilot, lambda: lab.outcome is not None, "the baseline's first result")
    return lab


async def type_into(pilot, field: Input, text: str) -> None:
    field.focus()
    await pilot.pause()
    field.value = ""
    await pilot.press(*text, "enter")


async def test_the_baseline_result_is_shown_at_start_up() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        lab = await started(pilot)
        assert lab.outcome.run.cfg == app.scenario.ranking
        assert app.lab_result is lab.outcome
        assert kpi_row(lab, "fill rate")[1:3] == ["39.6%", "39.6%"]
        assert lab.query_one("#lab-kpis", KpiTable).row_count == 18
        assert lab.query_one("#lab-share").row_count == 2
        assert lab.query_one("#lab-gates").row_count == 9
        assert lab.query_one("#lab-shortlist").row_count == 20
        editor = lab.query_one(RankingEditor)
        assert editor.field("weights", "bid").value == "0.1"
        assert editor.field("floors", "relevance").value == "0.72"
        assert "baseline" in app.sub_title


async def test_a_changed_floor_updates_the_kpis_and_the_chart() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        lab = await started(pilot)
        first = lab.outcome
        chart = lab.query_one("#lab-chart", LabChart)
        drawn = str(chart.render())

        await pilot.press("f")  # focus the relevance floor
        assert app.focused is lab.query_one(RankingEditor).field("floors", "relevance")
        await pilot.press(*"0.98", "enter")  # the field selects its text on focus: typing replaces it
        await wait_for(pilot, lambda: lab.outcome.run.cfg.floors.relevance == 0.98, "the re-ranked result")

        assert lab.outcome.baseline is first.run  # the baseline stays pinned
        _metric, baseline, current, delta = kpi_row(lab, "fill rate")
        assert (baseline, current, delta) == ("39.6%", "28.9%", "-10.7 pp")
        cell = lab.query_one("#lab-kpis", KpiTable).get_row_at(5)[3]
        assert cell.style == "red"
        assert chart.outcome is lab.outcome
        assert str(chart.render()) != drawn
        movers = str(lab.query_one("#lab-movers", Static).render())
        assert "lost" in movers and "cmp_signalstack -297" in movers
        assert "relevance floor 0.72→0.98" in str(lab.query_one("#lab-status", Static).render())

        await pilot.press("escape", "c")  # leave the field, switch the chart to slot share
        assert chart.mode == "share"
        assert str(chart.render()) != drawn


async def test_typing_a_minus_edits_the_text_and_brackets_step() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        lab = await started(pilot)
        editor = lab.query_one(RankingEditor)
        bid = editor.field("weights", "bid")
        first, runs = lab.outcome, lab.seq
        bid.focus()
        await pilot.pause()
        await pilot.press("-", "0", ".", "1")  # the field selects its text on focus: typing replaces it
        await pilot.pause(0.2)
        assert bid.value == "-0.1"  # the text shows what was typed ...
        assert editor.cfg.weights.bid == 0.1 and lab.seq == runs  # ... and nothing was applied or run
        error = lab.query_one("#lab-error-weights-bid", Static)
        assert "a weight cannot be negative (got -0.1)" in str(error.render())
        await pilot.press("enter")  # refused: the last good settings and result stay
        await pilot.pause(0.2)
        assert editor.cfg.weights.bid == 0.1 and lab.seq == runs and lab.outcome is first
        assert "keeping 0.1" in str(error.render())

        # the step keys are in the footer while a setting is focused
        footer = screen_lines(app)[-1]
        assert "] Step up" in footer and "[ Step down" in footer, footer

        bid.value = "0.1"
        await pilot.press("right_square_bracket", "right_square_bracket")
        await wait_for(pilot, lambda: lab.outcome.run.cfg.weights.bid == 0.2, "bid 0.2 after two steps up")
        assert bid.value == "0.2" and editor.cfg.weights.bid == 0.2
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: lab.outcome.run.cfg.weights.bid == 0.15, "bid 0.15 after a step down")
        assert bid.value == "0.15"
        await pilot.press("ctrl+up")
        await wait_for(pilot, lambda: lab.outcome.run.cfg.weights.bid == 0.2, "bid 0.2 after ctrl+up")

        # + is typed too (a valid number), applied only on enter
        bid.value = ""
        await pilot.press("+", "0", ".", "3")
        await pilot.pause(0.2)
        assert bid.value == "+0.3" and editor.cfg.weights.bid == 0.2
        await pilot.press("enter")
        await wait_for(pilot, lambda: lab.outcome.run.cfg.weights.bid == 0.3, "bid 0.3 on enter")


async def test_invalid_values_show_an_error_and_keep_the_last_good_result() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        lab = await started(pilot)
        editor = lab.query_one(RankingEditor)
        good = lab.outcome
        shown = kpi_row(lab, "fill rate")

        await type_into(pilot, editor.field("weights", "bid"), "abc")
        error = lab.query_one("#lab-error-weights-bid", Static)
        assert not error.has_class("hidden")
        assert "bid weight: 'abc' is not a number; keeping 0.1" in str(error.render())
        assert editor.field("weights", "bid").has_class("-invalid")
        assert any(n.severity == "error" and "not a number" in n.message for n in app._notifications)

        await type_into(pilot, editor.field("floors", "utility"), "1.5")
        assert "a floor is between 0 and 1" in str(
            lab.query_one("#lab-error-floors-utility", Static).render()
        )

        # stepping below zero is refused too
        trust = editor.field("weights", "trust")
        await type_into(pilot, trust, "0")
        await wait_for(pilot, lambda: lab.outcome.run.cfg.weights.trust == 0.0, "trust 0")
        good = lab.outcome
        await pilot.press("left_square_bracket")
        assert trust.value == "0"  # unchanged: the step was refused
        assert "a weight cannot be negative" in str(
            lab.query_one("#lab-error-weights-trust", Static).render()
        )

        await pilot.pause(0.3)
        assert lab.outcome is good and app.lab_result is good
        assert editor.cfg == good.run.cfg
        assert kpi_row(lab, "fill rate") == shown

        # a valid value clears the error and runs again
        await type_into(pilot, editor.field("weights", "bid"), "0.3")
        await wait_for(pilot, lambda: lab.outcome.run.cfg.weights.bid == 0.3, "bid 0.3")
        assert lab.query_one("#lab-error-weights-bid", Static).has_class("hidden")


async def test_pin_makes_the_current_settings_the_baseline() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        lab = await started(pilot)
        await type_into(pilot, lab.query_one(RankingEditor).field("floors", "utility"), "0.97")
        await wait_for(pilot, lambda: lab.outcome.run.cfg.floors.utility == 0.97, "utility floor 0.97")
        assert kpi_row(lab, "fill rate")[3] != "+0.0 pp"
        await pilot.press("escape", "b")
        await wait_for(pilot, lambda: lab.outcome.baseline.cfg.floors.utility == 0.97, "the pinned baseline")
        assert kpi_row(lab, "fill rate")[1:] == ["28.9%", "28.9%", "+0.0 pp"]
        assert "Baseline: pinned" in str(lab.query_one("#lab-status", Static).render())

        await pilot.press("r")  # back to the scenario's settings, compared with the pinned ones
        await wait_for(pilot, lambda: lab.outcome.run.cfg == app.scenario.ranking, "the reset settings")
        assert kpi_row(lab, "fill rate")[1:] == ["28.9%", "39.6%", "+10.7 pp"]
        assert lab.query_one(RankingEditor).field("floors", "utility").value == "0.68"


async def test_a_cancelled_run_leaves_the_previous_result(monkeypatch) -> None:
    import workbench.app.screens.lab_run as lab_module  # the worker that runs the engine

    release, finished = threading.Event(), threading.Event()
    real_evaluate = lab_module.evaluate

    def slow_evaluate(baseline, cfg, progress=None):
        if cfg.weights.bid != 0.4:
            return real_evaluate(baseline, cfg, progress)
        try:
            assert release.wait(30)
            return real_evaluate(baseline, cfg, progress)
        finally:
            finished.set()

    monkeypatch.setattr(lab_module, "evaluate", slow_evaluate)
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        lab = await started(pilot)
        before = lab.outcome
        lab.start_run(app.scenario.ranking.with_weights(bid=0.4))
        await pilot.pause(0.1)
        assert lab.running and "running" in str(lab.query_one("#lab-status", Static).render())
        await pilot.press("x")
        assert not lab.running
        assert any("Run cancelled" in n.message for n in app._notifications)
        release.set()
        await wait_for(pilot, finished.is_set, "the cancelled run's thread to end")
        await pilot.pause(0.3)
        assert lab.outcome is before and app.lab_result is before


async def test_after_a_cancel_the_results_are_marked_stale_and_enter_runs_again(monkeypatch) -> None:
    import workbench.app.screens.lab_run as lab_module  # the worker that runs the engine

    release = threading.Event()
    real_evaluate = lab_module.evaluate

    def slow_evaluate(baseline, cfg, progress=None):
        if cfg.weights.bid == 0.4:
            assert release.wait(30)
        return real_evaluate(baseline, cfg, progress)

    monkeypatch.setattr(lab_module, "evaluate", slow_evaluate)
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        lab = await started(pilot)
        before = lab.outcome
        shown_before = kpi_row(lab, "fill rate")
        assert "STALE" not in screen_text(app)
        bid = lab.query_one(RankingEditor).field("weights", "bid")
        await type_into(pilot, bid, "0.4")
        await wait_for(pilot, lambda: lab.running, "the slow run to start")
        await pilot.press("escape", "x")  # leave the field, cancel the run
        assert not lab.running
        release.set()
        await pilot.pause(0.3)

        # the inputs say 0.4, the results are of 0.1: the screen says so
        assert bid.value == "0.4" and lab.outcome is before
        assert kpi_row(lab, "fill rate") == shown_before
        text = screen_text(app)
        assert "STALE" in text and "results of an earlier run" in text, text
        assert "On screen → inputs: bid weight 0.1→0.4" in widget_text(app, lab.query_one("#lab-stale"))
        assert lab.query_one("#lab-results").has_class("-stale")

        # enter on the same value runs it
        bid.focus()
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: lab.outcome.run.cfg.weights.bid == 0.4, "the re-run of bid 0.4", timeout=15
        )
        await pilot.pause(0.1)
        assert "STALE" not in screen_text(app)
        assert not lab.query_one("#lab-results").has_class("-stale")
        expected = real_evaluate(before.baseline, app.scenario.ranking.with_weights(bid=0.4))
        assert lab.outcome.comparison.kpis.equals(expected.comparison.kpis)

        # and enter on a value already shown does nothing
        runs = lab.seq
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert lab.seq == runs


async def test_ctrl_r_reruns_stale_results(monkeypatch) -> None:
    import workbench.app.screens.lab_run as lab_module  # the worker that runs the engine

    real_evaluate = lab_module.evaluate
    calls = []

    def failing_once(baseline, cfg, progress=None):
        calls.append(cfg.weights.bid)
        if cfg.weights.bid == 0.3 and calls.count(0.3) == 1:
            raise RuntimeError("disk full")
        return real_evaluate(baseline, cfg, progress)

    monkeypatch.setattr(lab_module, "evaluate", failing_once)
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        lab = await started(pilot)
        await type_into(pilot, lab.query_one(RankingEditor).field("weights", "bid"), "0.3")
        await wait_for(pilot, lambda: lab.stale, "the failed run")
        assert "STALE" in screen_text(app)
        await pilot.press("escape", "ctrl+r")
        await wait_for(pilot, lambda: lab.outcome.run.cfg.weights.bid == 0.3, "the re-run", timeout=15)
        assert "STALE" not in screen_text(app)


async def test_save_writes_a_tuned_scenario_next_to_the_original(tmp_path: Path) -> None:
    source = scenario_copy(tmp_path)
    app = offline_app(source)
    async with app.run_test(size=SIZE) as pilot:
        lab = await started(pilot)
        await type_into(pilot, lab.query_one(RankingEditor).field("weights", "bid"), "0.25")
        await wait_for(pilot, lambda: lab.outcome.run.cfg.weights.bid == 0.25, "bid 0.25")
        await pilot.press("escape", "s")
        await wait_for(pilot, lambda: isinstance(app.screen, SaveScenarioScreen), "the save dialog")
        assert app.screen.query_one("#save-name", Input).value == "baseline-tuned.toml"
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, SaveScenarioScreen), "the dialog to close")

    saved = load_scenario(source.parent / "baseline-tuned.toml")
    assert saved.ranking.weights.bid == 0.25
    assert saved.ranking.weights.relevance == 0.35 and saved.ranking.floors.relevance == 0.72


async def test_save_dialog_explains_a_refused_name(tmp_path: Path) -> None:
    source = scenario_copy(tmp_path)
    app = offline_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SaveScenarioScreen), "the save dialog")
        dialog = app.screen
        dialog.query_one("#save-name", Input).value = "baseline.toml"
        await pilot.press("enter")
        assert app.screen is dialog
        assert "choose a new name" in str(dialog.query_one("#save-error", Static).render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, LabScreen), "the lab again")
    assert sorted(p.name for p in source.parent.iterdir()) == ["baseline.toml"]
