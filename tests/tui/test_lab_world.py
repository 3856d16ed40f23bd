"""The lab scales traffic and budgets without a file, and shows when each budget ran out (#10, defect 6)."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Input, TabbedContent

from workbench.app.screens.export import ExportScreen
from workbench.app.widgets.frame_table import FrameTable
from workbench.engine.limits import exhaustion
from workbench.engine.scenario import load_scenario

from .conftest import ROOT, offline_app, wait_for, widget_text

CROWDED = ROOT / "scenarios" / "crowded-market.toml"


def column(table: FrameTable, name: str) -> list[str]:
    index = [k.value for k in table.columns].index(name)
    return [str(table.get_row_at(i)[index]) for i in range(table.row_count)]


async def test_scaling_traffic_and_budgets_in_the_lab_and_when_budgets_ran_out(tmp_path: Path) -> None:
    app = offline_app(CROWDED)
    async with app.run_test(size=(160, 50)) as pilot:
        lab = app.screen
        await wait_for(pilot, lambda: lab.outcome is not None, "the first result")
        requests = lab.query_one("#lab-world-requests", Input)
        assert requests.value == "20,000" and lab.query_one("#lab-world-budgets", Input).value == "1.0"

        requests.focus()
        await pilot.press(*"100000", "enter")
        await wait_for(pilot, lambda: lab.outcome.run.traffic.size == 100_000, "the 100,000-request run")
        # a new market: the baseline ran again on it, with the scenario's own settings
        assert (
            lab.outcome.baseline.traffic.size == 100_000 and lab.outcome.baseline.cfg == app.scenario.ranking
        )
        assert app.scenario.overrides == ("traffic.requests=100000",)

        # the Ran out tab lists each budget and balance with the engine's request and time
        await pilot.press("escape")
        lab.query_one("#lab-tabs", TabbedContent).active = "lab-tab-ran-out"
        await pilot.pause(0.2)
        engine = exhaustion(lab.outcome.run)
        table = lab.query_one("#lab-ran-out", FrameTable)
        assert column(table, "id") == engine["id"].to_list()
        assert column(table, "request_no") == [f"{n:,}" for n in engine["request_no"]]
        assert column(table, "at") == [f"{t:%Y-%m-%d %H:%M:%S}" for t in engine["at"]]
        last = engine.row(-1, named=True)
        summary = widget_text(app, lab.query_one("#lab-ran-out-summary"))
        assert f"the last ({last['id']}) at request {last['request_no']:,} of 100,000" in summary
        assert f"at request {last['request_no']:,} of 100,000" in widget_text(
            app, lab.query_one("#lab-status")
        )

        # budgets × 2: every budget doubles, the last one runs out later
        budgets = lab.query_one("#lab-world-budgets", Input)
        budgets.focus()
        await pilot.press(*"2", "enter")
        await wait_for(
            pilot, lambda: lab.outcome.run.scenario.spec.entities.budget_multiplier == 2.0, "budgets ×2"
        )
        await pilot.pause(0.2)
        written = [c.budget for c in load_scenario(CROWDED).campaigns]
        assert lab.outcome.run.traffic.size == 100_000
        assert lab.outcome.run.market.budget.tolist() == [2 * b for b in written]
        assert lab.outcome.baseline.market.budget.tolist() == [2 * b for b in written]
        doubled = exhaustion(lab.outcome.run)
        assert doubled["request_no"].max() > last["request_no"]
        assert column(table, "request_no") == [f"{n:,}" for n in doubled["request_no"]]

        # a bad value is refused under the field, the last good result stays
        good = lab.outcome
        budgets.value = ""
        await pilot.press(*"-1", "enter")
        await pilot.pause(0.2)
        assert lab.outcome is good
        assert "entities.budget_multiplier" in widget_text(app, lab.query_one("#lab-world-error-budgets"))

        # the export records the world it ran in
        await pilot.press("escape", "e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), "the export dialog")
        app.screen.query_one("#export-folder", Input).value = str(tmp_path / "out")
        await pilot.press("enter")
        await wait_for(pilot, lambda: (tmp_path / "out" / "kpis.json").exists(), "the export")
        await pilot.pause(0.3)
    info = json.loads((tmp_path / "out" / "kpis.json").read_text())["scenario"]
    assert info["overrides"] == ["traffic.requests=100000", "entities.budget_multiplier=2.0"]
