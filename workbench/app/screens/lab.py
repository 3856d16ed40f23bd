"""Ranking lab: tune the five weights and the floors, see at once who wins and who loses.

Every applied change re-ranks the scenario's requests in a thread worker
(``tuning.evaluate``; exclusive, so a newer change cancels an older run, which
stops at its next progress step) and the result is posted back as a message. A
result is shown only if it answers the latest request, so quick key presses
never show a stale run. The first run of a scenario is the pinned baseline; ``b``
pins the current settings instead. ``g`` shows the KPIs per segment (``lab_segments``).

What is not the screen's own is already apart (the engine calls in ``lab_run``, file actions in
``lab_files``, texts in ``lab_text``, the segment tab in ``lab_segments``); the ~410 lines left are its
layout, its bindings and the handlers that put one result on screen, which read best together.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Header, ProgressBar, Static, TabbedContent, TabPane

from server.domain.ranking_config import RankingConfig
from workbench.app.screens.base import WorkbenchScreen
from workbench.app.screens.lab_files import LabFiles
from workbench.app.screens.lab_run import LabFailed, LabProgressed, LabRan, LabRequest, LabRunner
from workbench.app.screens.lab_segments import LabSegments, SegmentTable
from workbench.app.screens.lab_text import (
    GATE_HEADERS,
    KPI_TITLE,
    RAN_OUT_HEADERS,
    SHARE_FORMATS,
    SHARE_HEADERS,
    SHORTLIST_HEADERS,
    cap_note,
    movers_text,
    outcome_lines,
    ran_out_rows,
    stale_note,
)
from workbench.app.widgets.frame_table import FrameTable
from workbench.app.widgets.key_bar import KeyBar
from workbench.app.widgets.kpi_table import KpiTable
from workbench.app.widgets.lab_chart import LabChart
from workbench.app.widgets.ranking_editor import RankingEditor
from workbench.app.widgets.world_editor import WorldEditor
from workbench.engine.limits import exhaustion_summary, normalise
from workbench.engine.pipeline import RunResult
from workbench.engine.scenario import Scenario, ScenarioError, rescaled, traffic_requests
from workbench.engine.tuning import (
    LabOutcome,
    describe_settings,
)


class LabScreen(LabRunner, LabFiles, LabSegments, WorkbenchScreen):
    """Weights and floors on the left; KPIs, chart, slot share, gates and a shortlist sample on the right."""

    AUTO_FOCUS = "#lab-kpis"
    # Below 120 columns the settings go above the results, below 100 the chart is left out (app.tcss).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-medium"), (120, "-wide")]
    BINDINGS = [
        Binding(
            "w",
            "edit('weights')",
            "Weights",
            tooltip="Edit the weights: focus the first (type a number and enter, or ] / [ to step)",
            id="lab.edit_weights",
        ),
        Binding(
            "f",
            "edit('floors')",
            "Floors",
            tooltip="Edit the floors: focus the relevance floor",
            id="lab.edit_floors",
        ),
        Binding(
            "b",
            "pin",
            "Pin baseline",
            tooltip="Pin the current settings as the baseline to compare with",
            id="lab.pin",
        ),
        Binding(
            "c",
            "chart",
            "Chart",
            tooltip="Switch the chart: priority-score distribution / slot share",
            id="lab.chart",
        ),
        Binding(
            "g",
            "segments",
            "Segments",
            tooltip="KPIs per segment against the baseline: category → region → partner → task type → off",
            id="lab.segments",
        ),
        Binding("s", "save", "Save", tooltip="Save the settings into a new scenario file", id="lab.save"),
        Binding(
            "e", "export", "Export", tooltip="Export the current run's reports to a folder", id="lab.export"
        ),
        Binding(
            "n",
            "normalise",
            "Normalise",
            tooltip="Scale the weights to sum to 1 (keeping their proportions)",
            id="lab.normalise",
        ),
        Binding(
            "r",
            "reset",
            "Reset settings",
            show=False,
            tooltip="Back to the scenario's weights and floors",
            id="lab.reset",
        ),
        Binding(
            "t",
            "next_tab",
            "Next table",
            show=False,
            tooltip="Slot share → gate failures → shortlist → what ran out (→ segments, when g shows them)",
            id="lab.next_tab",
        ),
        Binding(
            "x",
            "cancel_run",
            "Cancel run",
            show=False,
            tooltip="Stop the ranking run in progress",
            id="lab.cancel_run",
        ),
        Binding(
            "ctrl+r",
            "rerun",
            "Re-run",
            show=False,
            tooltip="Run the settings the inputs show (after a cancelled or failed run)",
            id="lab.rerun",
        ),
    ]

    # The lab's state. Each change redraws what depends on it (the watchers below): a new result its
    # tables and status, the others the status pane (running, stale, baseline).
    outcome: reactive[LabOutcome | None] = reactive(None, init=False, always_update=True)
    """The latest result (on screen)."""
    running: reactive[bool] = reactive(False, init=False)
    pinned: reactive[bool] = reactive(False, init=False)
    """Whether the baseline is pinned (else it is the scenario's own settings)."""
    requested: reactive[LabRequest | None] = reactive(None, init=False, always_update=True)
    """The latest run asked for; ``stale`` when it is not the one on screen."""

    def __init__(self) -> None:
        super().__init__()
        self.scenario: Scenario | None = None
        self.baseline: RunResult | None = None
        self.seq = 0
        self.shown: LabRequest | None = None  # the run whose results are on screen
        self.baseline_cfg: RankingConfig | None = (
            None  # the settings the baseline is run with when it must be
        )

    def watch_outcome(self, outcome: LabOutcome | None) -> None:
        if outcome is None:
            self._status()
            self._show_segments(None)
            return
        self._show(outcome)
        self.host.lab_result = outcome

    def watch_running(self) -> None:
        self._status()

    def watch_pinned(self) -> None:
        self._status()

    def watch_requested(self) -> None:
        self._status()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="lab-body"):
            with VerticalScroll(id="lab-controls"):
                yield Static("", id="lab-stale", classes="hidden")
                yield RankingEditor(id="lab-editor")
                yield Static("", id="lab-cap-note", classes="hidden")
                yield WorldEditor(id="lab-world")
                yield Static("", id="lab-status")
                yield ProgressBar(id="lab-progress", show_eta=False, classes="hidden")
                yield Static(
                    "[dim]type + enter applies · ] / \\[ step up / down · esc leaves a field[/dim]",
                    id="lab-hint",
                )
            with Vertical(id="lab-results"):
                with Horizontal(id="lab-top"):
                    # the table is its own pane (title in its border), so it is exactly as tall as its rows
                    # and, when they cannot all fit, it is the table that scrolls
                    yield KpiTable(id="lab-kpis", classes="pane")
                    with Vertical(id="lab-chart-pane", classes="pane"):
                        yield LabChart(id="lab-chart")
                yield Static("", id="lab-moved-most", markup=False)
                with TabbedContent(id="lab-tabs"):
                    with TabPane("Slot share", id="lab-tab-share"):
                        yield Static("", id="lab-movers")
                        yield FrameTable(id="lab-share", headers=SHARE_HEADERS, formats=SHARE_FORMATS)
                    with TabPane("Gate failures", id="lab-tab-gates"):
                        yield Static(
                            "Candidate evaluations (request × candidate) failing each gate; "
                            "a candidate can fail several.",
                            classes="lab-note",
                        )
                        yield FrameTable(id="lab-gates", headers=GATE_HEADERS)
                    with TabPane("Shortlist sample", id="lab-tab-shortlist"):
                        yield Static(
                            "The first shortlisted slots of the current run, with every score.",
                            classes="lab-note",
                        )
                        yield FrameTable(id="lab-shortlist", headers=SHORTLIST_HEADERS)
                    with TabPane("Ran out", id="lab-tab-ran-out"):
                        yield Static("", id="lab-ran-out-summary", classes="lab-note")
                        yield FrameTable(
                            id="lab-ran-out", headers=RAN_OUT_HEADERS, formats={"share_of_traffic": "{:.1%}"}
                        )
                    with TabPane("Segments", id="lab-tab-segments"):
                        yield Static("", id="lab-segments-note", classes="lab-note")
                        yield SegmentTable(id="lab-segments")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#lab-kpis", KpiTable).border_title = KPI_TITLE
        self._chart_title()
        self.query_one("#lab-tabs", TabbedContent).hide_tab("lab-tab-segments")  # g shows it
        self.watch(self.app, "scenario", self._scenario_changed, init=True)

    # -- running ---------------------------------------------------------------
    @property
    def editor(self) -> RankingEditor:
        return self.query_one(RankingEditor)

    def _scenario_changed(self, scenario: Scenario | None) -> None:
        if scenario is None or scenario is self.scenario:
            return
        self.scenario, self.baseline, self.shown, self.baseline_cfg = scenario, None, None, None
        self.outcome, self.pinned, self.requested = None, False, None
        self.editor.set_config(scenario.ranking)
        self._show_world(scenario)
        self.start_run(scenario.ranking)

    def _show_world(self, scenario: Scenario) -> None:
        self.query_one(WorldEditor).set_world(
            traffic_requests(scenario),
            scenario.spec.entities.budget_multiplier,
            scenario.replay_requests is not None,
        )

    @property
    def stale(self) -> bool:
        """The results on screen are not those of the settings asked for (a run was cancelled or failed)."""
        return not self.running and self.shown is not None and not self.shown.same(self.requested)

    def start_run(self, cfg: RankingConfig) -> None:
        if self.scenario is None:
            self.notify("Load a scenario first (screen 1).", severity="warning")
            return
        self.seq += 1
        self.requested = LabRequest(self.scenario, self.baseline, cfg)
        self.running = True
        self.run_lab(self.seq, self.scenario, self.baseline, self.baseline_cfg, cfg)

    @on(LabProgressed)
    def _progressed(self, message: LabProgressed) -> None:
        if message.seq == self.seq and message.total:
            bar = self.query_one("#lab-progress", ProgressBar)
            bar.remove_class("hidden")
            bar.update(total=message.total, progress=message.done)

    @on(LabFailed)
    def _failed(self, message: LabFailed) -> None:
        if message.seq == self.seq:
            self.running = False
            self.notify(f"The run failed: {message.error}", title="Ranking lab", severity="error")

    @on(LabRan)
    def _ran(self, message: LabRan) -> None:
        if message.seq != self.seq:
            return  # an answer to an older change
        self.baseline = message.outcome.baseline
        self.shown = LabRequest(message.outcome.run.scenario, self.baseline, message.outcome.run.cfg)
        self.requested = self.shown
        self.running = False
        self.outcome = message.outcome  # redraws the tables and the status (watch_outcome)

    # -- showing ---------------------------------------------------------------
    def _status(self) -> None:
        lines = outcome_lines(self.outcome, self.pinned) if self.outcome is not None else []
        stale = self.stale
        if self.running:
            lines.append("[yellow]running…[/yellow] (x cancels)")
        else:
            self.query_one("#lab-progress", ProgressBar).add_class("hidden")
        note = self.query_one("#lab-stale", Static)
        note.set_class(not stale, "hidden")
        if stale and self.outcome is not None and self.requested is not None:
            note.update(stale_note(self.outcome, self.requested.scenario, self.requested.cfg))
        self.query_one("#lab-status", Static).update("\n".join(lines))
        self.query_one("#lab-kpis", KpiTable).border_title = (
            "[b reverse yellow] STALE [/] results of an earlier run: enter or ctrl+r re-runs"
            if stale
            else KPI_TITLE
        )
        self.query_one("#lab-results").set_class(stale, "-stale")
        note = cap_note(self.editor.cfg, self.outcome)
        self.query_one("#lab-cap-note", Static).update(note or "")
        self.query_one("#lab-cap-note", Static).set_class(note is None, "hidden")

    def _show(self, outcome: LabOutcome) -> None:
        comparison = outcome.comparison
        self.query_one("#lab-kpis", KpiTable).show(comparison.kpis, comparison.currency)
        self.query_one("#lab-chart", LabChart).show(outcome)
        self.query_one("#lab-share", FrameTable).show(comparison.slot_share)
        self.query_one("#lab-gates", FrameTable).show(outcome.gates)
        self.query_one("#lab-shortlist", FrameTable).show(outcome.shortlist)
        self.query_one("#lab-movers", Static).update(movers_text(outcome))
        ran_out = outcome.tables["exhaustion"]
        self.query_one("#lab-ran-out-summary", Static).update(
            f"{exhaustion_summary(outcome.run, ran_out)} After the last, more traffic adds requests but no spend: "
            "only the rates fall. Scale the traffic and budgets under Traffic and budgets."
        )
        self.query_one("#lab-ran-out", FrameTable).show(ran_out_rows(ran_out))
        self._show_segments(outcome)
        self._status()

    # -- actions ---------------------------------------------------------------
    @on(RankingEditor.Changed)
    def _settings_changed(self, event: RankingEditor.Changed) -> None:
        wanted = LabRequest(self.scenario, self.baseline, event.cfg) if self.scenario is not None else None
        if wanted is not None and wanted.same(self.requested) and not self.stale:
            return  # already shown, or already running: enter on an unchanged value has nothing to do
        self.start_run(event.cfg)

    def action_rerun(self) -> None:
        self.start_run(self.editor.cfg)

    @on(WorldEditor.Changed)
    def _world_changed(self, event: WorldEditor.Changed) -> None:
        """Another traffic size or budget multiplier: a new market, so the baseline runs again too."""
        if self.scenario is None:
            return
        try:
            scaled = rescaled(self.scenario, event.requests, event.budgets)
        except ScenarioError as exc:
            event.editor.refuse(event.key, str(exc))
            return
        # the baseline keeps its settings (the scenario's own, or the pinned ones) in the new market
        self.baseline_cfg = self.baseline.cfg if self.pinned and self.baseline is not None else scaled.ranking
        self.scenario, self.baseline = scaled, None
        self._show_world(scaled)
        self.host.scenario = scaled  # reports and exports follow the lab
        self.start_run(self.editor.cfg)

    def action_edit(self, table: str) -> None:
        self.editor.field(table, "relevance").focus()

    def action_pin(self) -> None:
        if self.outcome is None:
            self.notify("Nothing to pin yet: wait for the first result.", severity="warning")
            return
        self.baseline = self.outcome.run
        self.pinned = True
        self.notify(f"Pinned as the baseline: {describe_settings(self.baseline.cfg)}.", title="Ranking lab")
        self.start_run(self.editor.cfg)

    def action_normalise(self) -> None:
        try:
            cfg = normalise(self.editor.cfg)
        except ValueError as exc:
            self.notify(f"Cannot normalise: {exc}.", title="Ranking lab", severity="error")
            return
        if cfg == self.editor.cfg:
            self.notify("The weights already sum to 1.", title="Ranking lab")
            return
        self.editor.set_config(cfg)
        self.start_run(cfg)

    def action_reset(self) -> None:
        if self.scenario is None:
            return
        self.editor.set_config(self.scenario.ranking)
        self.start_run(self.scenario.ranking)

    def action_chart(self) -> None:
        self.query_one("#lab-chart", LabChart).toggle()
        self._chart_title()

    def _chart_title(self) -> None:
        self.query_one("#lab-chart-pane").border_title = self.query_one(LabChart).title

    def action_next_tab(self) -> None:
        tabs = self.query_one("#lab-tabs", TabbedContent)
        ids = ["lab-tab-share", "lab-tab-gates", "lab-tab-shortlist", "lab-tab-ran-out"]
        ids += ["lab-tab-segments"] if self.segment_by is not None else []
        tabs.active = ids[(ids.index(tabs.active) + 1) % len(ids)] if tabs.active in ids else ids[0]

    def action_cancel_run(self) -> None:
        if not self.running:
            return
        self.workers.cancel_group(self, "lab-run")
        self.seq += 1  # whatever the cancelled run still posts is ignored
        self.running = False
        self.notify(
            "Run cancelled; the previous result stays on screen, marked stale "
            "(enter in a field or ctrl+r re-runs).",
            title="Ranking lab",
        )
