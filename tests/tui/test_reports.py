"""Reports: the outcome tables of the lab's current settings, sorting, and export to a folder."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Checkbox, Input, Static, TabbedContent

from workbench.app.screens.export import ExportScreen
from workbench.app.screens.reports import ReportsScreen
from workbench.app.widgets.frame_table import FrameTable
from workbench.app.widgets.ranking_editor import RankingEditor
from workbench.engine.exports import run_tables
from workbench.engine.pipeline import run_scenario
from workbench.engine.scenario import load_scenario

from .conftest import SIZE, offline_app, wait_for, widget_text


async def open_reports(pilot) -> ReportsScreen:
    app = pilot.app
    await wait_for(pilot, lambda: app.lab_result is not None, "the lab's first result")
    await pilot.press("4")
    reports = app.screen
    assert isinstance(reports, ReportsScreen)
    await wait_for(pilot, lambda: reports.result is not None, "the reports' tables")
    return reports


def column(table: FrameTable, name: str) -> list[str]:
    index = list(table.columns).index(next(k for k in table.columns if k.value == name))
    return [str(table.get_row_at(i)[index]) for i in range(table.row_count)]


async def test_reports_show_the_outcome_tables_of_the_labs_settings() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        lab = app.screen
        await wait_for(pilot, lambda: lab.outcome is not None, "the lab's first result")
        lab.query_one(RankingEditor).field("floors", "relevance").focus()
        await pilot.press(*"0.98", "enter")
        await wait_for(pilot, lambda: lab.outcome.run.cfg.floors.relevance == 0.98, "the re-ranked result")
        await pilot.press("escape")

        reports = await open_reports(pilot)
        assert reports.result is lab.outcome.run
        assert "floors 0.98/0.68" in str(reports.query_one("#reports-status", Static).render())
        campaigns = reports.query_one("#reports-campaign-table", FrameTable)
        assert column(campaigns, "campaign_id") == ["cmp_hubflow", "cmp_signalstack"]
        assert column(campaigns, "slots_won") == ["100", "703"]
        kpis = reports.query_one("#reports-kpis-table", FrameTable)
        assert kpis.row_count > 8 and str(kpis.get_row_at(0)[0]) == "qualified_recommendation_rate"
        for tab in ("partner", "category", "region", "gates"):
            assert reports.query_one(f"#reports-{tab}-table", FrameTable).row_count > 0

        # ] shows the next table; a change in the lab shows here too
        await pilot.press("right_square_bracket")
        assert reports.query_one("#reports-tabs", TabbedContent).active == "reports-campaign"
        await pilot.press("2")
        lab.query_one(RankingEditor).field("floors", "relevance").focus()
        await pilot.press(*"0.72", "enter", "escape", "4")
        await wait_for(
            pilot, lambda: column(campaigns, "slots_won") == ["100", "1,000"], "the new run's tables"
        )


async def test_tables_sort_by_the_column_under_the_cursor() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        reports = await open_reports(pilot)
        await pilot.press("right_square_bracket")
        table = reports.query_one("#reports-campaign-table", FrameTable)
        assert app.focused is table
        names = list(table.columns)
        table.move_cursor(column=[k.value for k in names].index("slots_won"))
        await pilot.press("o")
        assert column(table, "campaign_id") == ["cmp_hubflow", "cmp_signalstack"]
        assert str(table.columns[names[table.cursor_column]].label).endswith("▲")
        await pilot.press("o")
        assert column(table, "campaign_id") == ["cmp_signalstack", "cmp_hubflow"]
        assert str(table.columns[names[table.cursor_column]].label).endswith("▼")

        # a header click sorts too
        table.scroll_to(x=0, y=0, animate=False)
        await pilot.pause()
        await pilot.click(table, offset=(2, 0))
        assert table.sort_column == "campaign_id" and not table.descending
        assert column(table, "campaign_id") == ["cmp_hubflow", "cmp_signalstack"]


async def test_export_writes_every_report_to_the_chosen_folder(tmp_path: Path) -> None:
    out = tmp_path / "exported"
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        lab = app.screen
        await wait_for(pilot, lambda: lab.outcome is not None, "the lab's first result")
        lab.query_one(RankingEditor).field("weights", "bid").focus()
        await pilot.press(*"0.2", "enter", "escape")
        await wait_for(pilot, lambda: lab.outcome.run.cfg.weights.bid == 0.2, "bid 0.2")
        reports = await open_reports(pilot)

        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), "the export dialog")
        dialog = app.screen
        folder = dialog.query_one("#export-folder", Input)
        assert "out/baseline-" in folder.value
        folder.value = str(out)
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: "Exported" in str(reports.query_one("#reports-status", Static).render()),
            "the export to finish",
        )

    files = {p.name for p in out.iterdir()}
    tables = (
        "ranking_report",
        "outcomes_campaign",
        "outcomes_partner",
        "outcomes_category",
        "outcomes_region",
        "gate_failures",
        "settlements",
        "receipts",
    )
    for name in tables:
        assert {f"{name}.csv", f"{name}.parquet", f"{name}.json"} <= files, name
    assert {"summary.md", "kpis.json"} <= files
    assert json.loads((out / "kpis.json").read_text())["scenario"]["weights"]["bid"] == 0.2
    assert "baseline" in (out / "summary.md").read_text()


async def test_the_kpis_read_as_counts_and_money_with_their_currency() -> None:
    app = offline_app()
    async with app.run_test(size=(160, 50)) as pilot:
        reports = await open_reports(pilot)
        kpis = reports.tables["_kpis"]
        text = widget_text(app, reports.query_one("#reports-kpis-table", FrameTable))
        assert kpis["currency"] == "USD"
        for name in ("requests", "shortlisted", "presented", "settlements", "dead_letters"):
            assert isinstance(kpis[name], int)
            assert f" {name} {kpis[name]:,} " in f" {text} ", (name, text)
        assert f" spend {kpis['spend']:,.2f} USD " in f" {text} ", text
        assert f"{kpis['requests']:,}.00" not in text  # a count is not money
        await pilot.press("right_square_bracket")  # campaigns: money in the campaign's currency
        campaigns = reports.query_one("#reports-campaign-table", FrameTable)
        row = reports.tables["outcomes_campaign"].row(0, named=True)
        assert column(campaigns, "budget")[0] == f"{row['budget']:,.2f} {row['currency']}"
        assert column(campaigns, "slots_won")[0] == f"{row['slots_won']:,}"


async def test_the_exported_kpis_record_the_labs_overrides_and_reproduce_the_run(tmp_path: Path) -> None:
    out = tmp_path / "exported"
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        lab = app.screen
        await wait_for(pilot, lambda: lab.outcome is not None, "the lab's first result")
        editor = lab.query_one(RankingEditor)
        editor.field("weights", "bid").focus()
        await pilot.press(*"0.2", "enter", "escape")
        await wait_for(pilot, lambda: lab.outcome.run.cfg.weights.bid == 0.2, "bid 0.2")
        editor.field("floors", "utility").focus()
        await pilot.press(*"0.6", "enter", "escape")
        await wait_for(pilot, lambda: lab.outcome.run.cfg.floors.utility == 0.6, "utility floor 0.6")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), "the export dialog")
        app.screen.query_one("#export-folder", Input).value = str(out)
        await pilot.press("enter")
        await wait_for(pilot, lambda: (out / "kpis.json").exists(), "the export to finish")
        await pilot.pause(0.3)
        shown = lab.outcome.tables["_kpis"]

    exported = json.loads((out / "kpis.json").read_text())
    info = exported["scenario"]
    assert info["overrides"] == ["ranking.weights.bid=0.2", "ranking.floors.utility=0.6"]
    assert info["ranking"]["weights"] == {
        "relevance": 0.35,
        "utility": 0.25,
        "trust": 0.15,
        "affective_fit": 0.15,
        "bid": 0.2,
    }
    assert info["ranking"]["floors"] == {"relevance": 0.72, "utility": 0.6}
    assert info["ranking"]["factors"]["category_mismatch"] == 0.42
    assert (
        "with `--set ranking.weights.bid=0.2 ranking.floors.utility=0.6`" in (out / "summary.md").read_text()
    )
    # the recorded overrides reproduce the run the lab showed
    again = run_tables(run_scenario(load_scenario(info["file"], info["overrides"])))["_kpis"]
    assert again == shown == exported["kpis"]


async def test_export_dialog_needs_a_format_and_can_be_cancelled(tmp_path: Path) -> None:
    out = tmp_path / "never"
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_reports(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), "the export dialog")
        dialog = app.screen
        dialog.query_one("#export-folder", Input).value = str(out)
        for fmt in ("csv", "parquet", "json", "md"):
            dialog.query_one(f"#export-{fmt}", Checkbox).value = False
        await pilot.click("#export-ok")
        assert app.screen is dialog
        assert "at least one format" in str(dialog.query_one("#export-error", Static).render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ReportsScreen), "the reports screen again")
        await pilot.pause(0.2)
    assert not out.exists()
