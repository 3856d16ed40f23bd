"""Reports: the outcome tables of the current run (the lab's settings), sortable, and export to a folder.

The tables come from the ranking lab's latest result (``app.lab_result``). When
there is none for the working scenario yet (the lab has not run it), this
screen runs the scenario with its own settings in a thread worker.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Header, Static, TabbedContent, TabPane

from workbench.app.screens.base import WorkbenchScreen
from workbench.app.screens.export import ExportRequest, export_run, shown
from workbench.app.widgets.frame_table import FrameTable
from workbench.app.widgets.key_bar import KeyBar
from workbench.engine.exports import run_tables
from workbench.engine.pipeline import RunResult, run_scenario
from workbench.engine.reports import KPI_NAMES
from workbench.engine.scenario import Scenario
from workbench.engine.tuning import describe_settings
from workbench.engine.units import fmt_value

# tab id, title, key in ``exports.run_tables`` (``_kpis`` is the dict of overall KPIs)
TABLES = (
    ("reports-kpis", "KPIs", "_kpis"),
    ("reports-campaign", "Campaigns", "outcomes_campaign"),
    ("reports-partner", "Partners", "outcomes_partner"),
    ("reports-category", "Categories", "outcomes_category"),
    ("reports-region", "Regions", "outcomes_region"),
    ("reports-gates", "Gate failures", "gate_failures"),
    ("reports-ran-out", "Ran out", "exhaustion"),
)


def kpi_frame(kpis: dict[str, Any]) -> pl.DataFrame:
    """The overall KPIs as a two-column table, the PRD's rates first, each value in its unit."""
    currency = kpis.get("currency", "")
    names = list(KPI_NAMES) + [k for k in kpis if k not in KPI_NAMES and k != "currency"]
    return pl.DataFrame({"metric": names, "value": [fmt_value(k, kpis[k], currency) for k in names]})


class ReportsScreen(WorkbenchScreen):
    """The outcome tables (campaign, partner, category, region, gates, KPIs) and export."""

    AUTO_FOCUS = "#reports-kpis-table"
    BINDINGS = [
        Binding(
            "e",
            "export",
            "Export",
            tooltip="Write every report (CSV, Parquet, JSON, Markdown) to a folder",
            id="reports.export",
        ),
        Binding(
            "right_square_bracket",
            "tab(1)",
            "Next table",
            tooltip="Show the next outcome table",
            id="reports.tab_1",
        ),
        Binding(
            "left_square_bracket",
            "tab(-1)",
            "Previous table",
            tooltip="Show the previous outcome table",
            id="reports.tab_1",
        ),
    ]

    class Ready(Message):
        def __init__(self, scenario: Scenario, result: RunResult, tables: dict[str, Any]) -> None:
            super().__init__()
            self.scenario = scenario
            self.result = result
            self.tables = tables

    def __init__(self) -> None:
        super().__init__()
        self.result: RunResult | None = None
        self.tables: dict[str, Any] | None = None
        self.exported: str = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("No run yet.", id="reports-status")
        with TabbedContent(id="reports-tabs"):
            for tab_id, title, _ in TABLES:
                with TabPane(title, id=tab_id):
                    yield FrameTable(id=f"{tab_id}-table", right=("value",))
        yield KeyBar()

    def on_mount(self) -> None:
        self.watch(self.app, "lab_result", self._lab_result, init=True)
        self.watch(self.app, "scenario", self._scenario_changed, init=False)

    def on_screen_resume(self) -> None:
        self._ensure_current()

    # -- which run ----------------------------------------------------------------
    @property
    def scenario(self) -> Scenario | None:
        return self.host.scenario

    def _lab_result(self, outcome: Any) -> None:
        if outcome is not None and outcome.run.scenario is self.scenario:
            self.show(outcome.run, outcome.tables)
        else:
            self._ensure_current()

    def _scenario_changed(self, scenario: Scenario | None) -> None:
        self._ensure_current()

    def _ensure_current(self) -> None:
        """Run the working scenario here when neither this screen nor the lab has a run of it."""
        scenario = self.scenario
        if scenario is None:
            self._set_status("No scenario loaded: pick one on the Scenario screen (1).")
            return
        if self.result is not None and self.result.scenario is scenario:
            return
        outcome = self.host.lab_result
        if outcome is not None and outcome.run.scenario is scenario:
            self.show(outcome.run, outcome.tables)
            return
        if self.is_current:
            self._set_status(f"Running {scenario.name}…")
            self.run_own(scenario)

    @work(thread=True, exclusive=True, group="reports-run", exit_on_error=False)
    def run_own(self, scenario: Scenario) -> None:
        try:
            result = run_scenario(scenario)
            tables = run_tables(result)
        except Exception as exc:  # reported, the screen stays usable
            self.app.call_from_thread(self.notify, f"The run failed: {exc}", severity="error")
            return
        self.post_message(self.Ready(scenario, result, tables))

    @on(Ready)
    def _ready(self, message: Ready) -> None:
        if message.scenario is self.scenario:
            self.show(message.result, message.tables)

    # -- showing --------------------------------------------------------------------
    def show(self, result: RunResult, tables: dict[str, Any]) -> None:
        self.result, self.tables = result, tables
        for tab_id, _, key in TABLES:
            frame = kpi_frame(tables[key]) if key == "_kpis" else tables[key]
            table = self.query_one(f"#{tab_id}-table", FrameTable)
            table.currency = tables["_kpis"]["currency"]
            table.show(frame)
        self._set_status()

    def _set_status(self, text: str | None = None) -> None:
        if text is None and self.result is not None:
            r = self.result
            text = (
                f"[b]{r.scenario.name}[/b] · {r.traffic.size:,} requests · {describe_settings(r.cfg)}"
                f"  [dim](the ranking lab's current settings; e exports, click a header or o to sort)[/dim]"
            )
            if self.exported:
                text += f"\n{self.exported}"
        self.query_one("#reports-status", Static).update(text or "")

    # -- actions --------------------------------------------------------------------
    def action_tab(self, step: int) -> None:
        tabs = self.query_one("#reports-tabs", TabbedContent)
        ids = [tab_id for tab_id, _, _ in TABLES]
        current = ids.index(tabs.active) if tabs.active in ids else 0
        tabs.active = ids[(current + step) % len(ids)]
        self.query_one(f"#{tabs.active}-table", FrameTable).focus()

    def action_export(self) -> None:
        if self.result is None:
            self.notify("Nothing to export yet: the run has not finished.", severity="warning")
            return

        def done(request: ExportRequest, written: list) -> None:
            self.exported = f"Exported {len(written)} files to {shown(request.folder)}."
            self._set_status()

        export_run(self, self.result, self.tables, done)
