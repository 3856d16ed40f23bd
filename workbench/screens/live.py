"""Live: replay the scenario against the server and watch settlements, queues, dead letters and audit.

Panes refresh about once a second in a worker, so the interface never waits on
the network. A server that stops answering shows a banner; refreshing simply
continues, so it reconnects by itself when the server is back.

The settlement figures, the open retry jobs and the dead letters come from
every page of their lists (the server pages them), read up to a cap of rows,
with the progress in each pane's title. Settlements are read again only when
the dashboard's counters say something changed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, ProgressBar, Static

from ..client import ApiClient, ApiError, Listing
from .confirm import ConfirmScreen

SETTLEMENT_STATUSES = ("pending", "processing", "retry_scheduled", "settled", "disputed", "failed")
DLQ_TITLE = "Dead letters (ctrl+r replay · v resolve · i ignore)"
OPEN_JOB_STATUSES = "queued,processing,retry_scheduled"


class LiveScreen(Screen):
    """The live view of the local server."""

    BINDINGS = [
        Binding("r", "replay", "Replay scenario", tooltip="Send the scenario's traffic and receipts to the API"),
        Binding("x", "cancel_replay", "Cancel replay"),
        Binding("p", "process_queue", "Process queue", tooltip="Process due settlement retry jobs once"),
        Binding("ctrl+r", "dlq_replay", "DLQ replay", tooltip="Replay the selected dead letter"),
        Binding("v", "dlq_resolve", "DLQ resolve"),
        Binding("i", "dlq_ignore", "DLQ ignore"),
        Binding("slash", "focus_trace", "Trace filter"),
    ]

    # Rows per request and the most rows a pane reads (following the pages up to it).
    PAGE_ROWS = 500
    SETTLEMENT_CAP = 20_000
    ROW_CAP = 2_000

    def __init__(self) -> None:
        super().__init__()
        self.trace_filter: str = ""
        self.server_down = False
        self._settlements: Listing | None = None
        self._settlements_seen: object = None  # the dashboard counters the listing was read at

    @property
    def client(self) -> ApiClient:
        return self.app.client  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="live-banner", classes="banner hidden")
        with Horizontal(id="live-progress-row"):
            yield Label("Replay: idle", id="live-replay-status")
            yield ProgressBar(id="live-progress", show_eta=False)
        with Horizontal(id="live-top"):
            with Vertical(classes="pane"):
                yield Label("Settlements by status", id="live-settlements-title", classes="pane-title")
                yield DataTable(id="live-settlements", cursor_type="row")
            with Vertical(classes="pane"):
                yield Label("Retry queue", id="live-retry-title", classes="pane-title")
                yield DataTable(id="live-retry", cursor_type="row")
        with Horizontal(id="live-bottom"):
            with Vertical(classes="pane"):
                yield Label(DLQ_TITLE, id="live-dlq-title", classes="pane-title")
                yield DataTable(id="live-dlq", cursor_type="row")
            with Vertical(classes="pane"):
                yield Label("Audit trail", classes="pane-title")
                yield Input(placeholder="trace id filter (/ to focus, enter to apply)", id="live-trace")
                yield DataTable(id="live-audit", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#live-settlements", DataTable).add_columns("status", "count", "amount")
        self.query_one("#live-retry", DataTable).add_columns("job", "settlement", "status", "attempts", "next run")
        self.query_one("#live-dlq", DataTable).add_columns("entry", "settlement", "status", "reason", "last error")
        self.query_one("#live-audit", DataTable).add_columns("time", "trace", "entity", "action", "status")
        self.refresh_panes()
        self.set_interval(1.0, self.refresh_panes)

    # -- refreshing ------------------------------------------------------------
    @work(exclusive=True, group="live-refresh")
    async def refresh_panes(self) -> None:
        try:
            dashboard = await self.client.dashboard()
            settlements = await self._read_settlements(dashboard)
            jobs = await self.client.retry_jobs(
                OPEN_JOB_STATUSES,
                limit=self.PAGE_ROWS,
                cap=self.ROW_CAP,
                progress=self._progress("#live-retry-title", "Retry queue"),
            )
            dlq = await self.client.all_dead_letters(
                page_size=100, cap=self.ROW_CAP, progress=self._progress("#live-dlq-title", "Dead letters")
            )
            audit = await self.client.audit_trail(trace_id=self.trace_filter or None, page_size=50)
        except ApiError as exc:
            if not self.is_attached:
                return
            if exc.refused_key:
                self._set_banner(f"The server refused the API key: {exc.message}. Retrying every second…")
            else:
                self._set_banner(f"Server unavailable: {exc.message}. Retrying every second…")
            return
        if not self.is_attached:
            return  # the screen went away (the app is closing) while the pages were read
        self._set_banner(None)
        self._fill_settlements(settlements)
        self._title("#live-retry-title", "Retry queue", jobs, "open")
        self._fill(
            "#live-retry",
            [
                (j["retryJobId"], j["settlementId"], j["status"], str(j["attempts"]), j["nextRunAt"][:19])
                for j in jobs.items
            ],
            keys=[j["retryJobId"] for j in jobs.items],
        )
        self._title("#live-dlq-title", DLQ_TITLE, dlq, "entries")
        entries = dlq.items
        self._fill(
            "#live-dlq",
            [(e["dlqEntryId"], e["settlementId"], e["status"], e["reason"], (e["lastError"] or "")[:60]) for e in entries],
            keys=[e["dlqEntryId"] for e in entries],
        )
        events = audit["items"]
        self._fill(
            "#live-audit",
            [(e["occurredAt"][11:19], e["traceId"], e["entityType"], e["action"], e["status"]) for e in events],
            keys=[e["auditEventId"] for e in events],
        )

    async def _read_settlements(self, dashboard: dict[str, Any]) -> Listing:
        """Every page of ``GET /settlements`` (up to the cap), read again only when the counters moved."""
        seen = (dashboard.get("settlementCount"), sorted(dashboard.get("settlementsByStatus", {}).items()))
        if self._settlements is None or seen != self._settlements_seen:
            self._settlements = await self.client.settlements(
                limit=self.PAGE_ROWS,
                cap=self.SETTLEMENT_CAP,
                progress=self._progress("#live-settlements-title", "Settlements by status"),
            )
            self._settlements_seen = seen
        return self._settlements

    def _fill_settlements(self, listing: Listing) -> None:
        counts: dict[str, int] = defaultdict(int)
        amounts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for settlement in listing.items:
            counts[settlement["status"]] += 1
            amounts[settlement["status"]][settlement["currency"]] += settlement["amount"]
        rows = [
            (
                status,
                str(counts[status]),
                " + ".join(f"{total:,.2f} {currency}" for currency, total in sorted(amounts[status].items())),
            )
            for status in SETTLEMENT_STATUSES
        ]
        self._title("#live-settlements-title", "Settlements by status", listing, "settlements")
        self._fill("#live-settlements", rows, keys=list(SETTLEMENT_STATUSES))

    def _progress(self, selector: str, name: str):
        def show(done: int, total: int) -> None:
            if done < total and self.is_attached:
                self.query_one(selector, Label).update(f"{name} — loading {done:,} of {total:,}…")

        return show

    def _title(self, selector: str, name: str, listing: Listing, noun: str) -> None:
        pages = f"{listing.pages} page{'s' if listing.pages != 1 else ''}"
        if listing.complete:
            text = f"{name} — {listing.total:,} {noun} ({pages})"
        else:
            text = f"{name} — the newest {len(listing.items):,} of {listing.total:,} {noun} ({pages})"
        self.query_one(selector, Label).update(text)

    def _fill(self, selector: str, rows: list[tuple[str, ...]], keys: list[str]) -> None:
        table = self.query_one(selector, DataTable)
        selected = None
        if table.row_count and table.cursor_row < table.row_count:
            selected = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        table.clear()
        for key, row in zip(keys, rows):
            table.add_row(*row, key=key)
        if selected in keys:
            table.move_cursor(row=keys.index(selected))

    def _set_banner(self, text: str | None) -> None:
        banner = self.query_one("#live-banner", Static)
        self.server_down = text is not None
        banner.update(text or "")
        banner.set_class(text is None, "hidden")

    # -- replay ----------------------------------------------------------------
    def action_replay(self) -> None:
        self.run_replay()

    @work(exclusive=True, group="live-replay")
    async def run_replay(self) -> None:
        from ..replay import replay_scenario

        scenario = self.app.scenario  # type: ignore[attr-defined]
        if scenario is None:
            self.notify("Load a scenario first (screen 1).", severity="warning")
            return
        status = self.query_one("#live-replay-status", Label)
        bar = self.query_one("#live-progress", ProgressBar)

        def progress(done: int, total: int) -> None:
            bar.update(total=total, progress=done)
            status.update(f"Replay: {done}/{total} requests")

        try:
            summary = await replay_scenario(self.client, scenario, progress=progress)
        except ApiError as exc:
            status.update("Replay: stopped")
            self.notify(f"Replay stopped: {exc.message}", severity="error")
            return
        status.update(f"Replay: done — {summary.describe()}")
        self.notify(f"Replay finished: {summary.describe()}")
        self.refresh_panes()

    def action_cancel_replay(self) -> None:
        cancelled = self.workers.cancel_group(self, "live-replay")
        if cancelled:
            self.query_one("#live-replay-status", Label).update("Replay: cancelled")
            self.notify("Replay cancelled.")

    # -- queue and dead letters ------------------------------------------------
    @work(exclusive=True, group="live-action")
    async def action_process_queue(self) -> None:
        try:
            result = await self.client.process_queue(limit=50)
        except ApiError as exc:
            self.notify(exc.message, severity="error")
            return
        self.notify(
            f"Processed {result['processedCount']}: settled {result['settledCount']}, "
            f"rescheduled {result['rescheduledCount']}, failed {result['failedCount']}."
        )
        self.refresh_panes()

    def _selected_dead_letter(self) -> str | None:
        table = self.query_one("#live-dlq", DataTable)
        if not table.row_count:
            self.notify("No dead letter selected.", severity="warning")
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def action_dlq_replay(self) -> None:
        self._confirm_dead_letter("replay")

    def action_dlq_resolve(self) -> None:
        self._confirm_dead_letter("resolved")

    def action_dlq_ignore(self) -> None:
        self._confirm_dead_letter("ignored")

    def _confirm_dead_letter(self, what: str) -> None:
        entry = self._selected_dead_letter()
        if entry is None:
            return
        verb = {"replay": "Replay", "resolved": "Resolve", "ignored": "Ignore"}[what]

        def answered(yes: bool | None) -> None:
            if yes:
                self.change_dead_letter(entry, what)

        self.app.push_screen(ConfirmScreen(f"{verb} dead letter {entry}?", verb), answered)

    @work(exclusive=True, group="live-action")
    async def change_dead_letter(self, entry: str, what: str) -> None:
        try:
            if what == "replay":
                await self.client.replay_dead_letter(entry, "Replayed from the workbench.")
            else:
                await self.client.resolve_dead_letter(entry, what, f"Marked {what} from the workbench.")
        except ApiError as exc:
            self.notify(exc.message, severity="error")
            return
        self.notify(f"Dead letter {entry}: {'replayed' if what == 'replay' else what}.")
        self.refresh_panes()

    # -- audit filter ------------------------------------------------------------
    def action_focus_trace(self) -> None:
        self.query_one("#live-trace", Input).focus()

    @on(Input.Submitted, "#live-trace")
    def apply_trace(self, event: Input.Submitted) -> None:
        self.trace_filter = event.value.strip()
        self.refresh_panes()
