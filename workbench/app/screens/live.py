"""Live: replay the scenario against the server and watch settlements, queues, dead letters, audit,
partner outreach per lead on one line (``live_outreach.py``) and the wallets of the scenario's workspaces
(``live_wallets.py``).

Panes refresh about once a second in a worker, so the interface never waits on
the network. A server that stops answering shows a banner; refreshing simply
continues, so it reconnects by itself when the server is back.

The four lists (settlements, retry jobs, dead letters, the audit trail) show one
page each, with the server's paging (``widgets/paged_list.py``): ``]`` / ``[`` page
the focused list, ``s`` cycles its filter, and the title says which rows of how many
are on screen. The counts by status come from the dashboard's counters; the
amounts by status need every settlement, read in the background (a page of
``AMOUNT_PAGE_ROWS`` at a time) while the counts move, at most every ``AMOUNT_EVERY_S``
seconds and never more than a tenth of the time (a read of 20,000 settlements that
takes a second waits ten before the next); an amount ending in "…" is being read again.

A replay runs in a process of its own (``replay_process.py``): its planning and
its thousands of requests and answers never hold up a key press, and it reports
its progress at most five times a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import DataTable, Header, Input, Label, ProgressBar, Static

from workbench.app.client import ApiClient, ApiError
from workbench.app.replay_process import ReplayProcess
from workbench.app.screens.base import WorkbenchScreen
from workbench.app.screens.live_actions import DeadLetterActions, ReplayActions
from workbench.app.screens.live_lists import AUDIT, DEAD_LETTERS, RETRY_JOBS, SETTLEMENT_STATUSES, SETTLEMENTS
from workbench.app.screens.live_outreach import OutreachLine
from workbench.app.screens.live_wallets import WalletPane
from workbench.app.widgets.key_bar import KeyBar
from workbench.app.widgets.paged_list import PagedList, fill_table, set_text
from workbench.engine.scenario import scenario_workspaces
from workbench.engine.units import fmt_money

SUMMARY_TITLE = "Settlements by status"


class LiveScreen(ReplayActions, DeadLetterActions, WorkbenchScreen):
    """The live view of the local server."""

    BINDINGS = [
        Binding(
            "r",
            "replay",
            "Replay",
            tooltip="Send the scenario's traffic and receipts to the API",
            id="live.replay",
        ),
        Binding(
            "l",
            "live_run",
            "Live run",
            tooltip="Run the scenario on a private server of its own and "
            "reconcile it with the batch engine (workbench live)",
            id="live.live_run",
        ),
        Binding("x", "cancel_replay", "Cancel", tooltip="Cancel the replay", id="live.cancel_replay"),
        Binding(
            "p",
            "process_queue",
            "Process",
            tooltip="Process due settlement retry jobs once",
            id="live.process_queue",
        ),
        Binding(
            "right_square_bracket",
            "page(1)",
            "Page",
            key_display="] [",
            tooltip="The next page of the focused list ([ the previous one)",
            id="live.page_1",
        ),
        Binding(
            "left_square_bracket",
            "page(-1)",
            "Previous page",
            show=False,
            tooltip="The previous page of the focused list",
            id="live.page_1",
        ),
        Binding(
            "s",
            "cycle_filter",
            "Filter",
            tooltip="Cycle the focused list's filter (status, or entity)",
            id="live.cycle_filter",
        ),
        Binding(
            "ctrl+r",
            "dlq_replay",
            "DLQ replay",
            tooltip="Replay the selected dead letter",
            id="live.dlq_replay",
        ),
        Binding(
            "v",
            "dlq_resolve",
            "Resolve",
            tooltip="Mark the selected dead letter resolved",
            id="live.dlq_resolve",
        ),
        Binding(
            "i", "dlq_ignore", "Ignore", tooltip="Mark the selected dead letter ignored", id="live.dlq_ignore"
        ),
        Binding(
            "slash",
            "focus_trace",
            "Trace",
            tooltip="Filter the audit trail by trace id",
            id="live.focus_trace",
        ),
    ]

    # Rows per page of each list; the amounts by status read every settlement, this many per request
    # and at most AMOUNT_CAP of them, at most every AMOUNT_EVERY_S seconds (or ten times as long as the
    # last read took) while the counts move.
    PAGE_ROWS = 50
    AMOUNT_PAGE_ROWS = 500
    AMOUNT_CAP = 20_000
    AMOUNT_EVERY_S = 3.0

    def __init__(self) -> None:
        super().__init__()
        self.trace_filter: str = ""
        self.server_down = False
        self._banner_text: str | None = None
        self._by_status: dict[str, int] = {}
        self._amounts: dict[str, dict[str, float]] = {}
        self._amount_counts: dict[str, int] | None = None  # the counts the amounts were summed over
        self._amount_note = ""
        self._amounts_seen: object = None  # the dashboard counts when the last amounts read started
        self._amounts_started = float("-inf")
        self._amounts_took = 0.0  # seconds the last read of the amounts took
        self._amounts_reading = False
        self.replay: ReplayProcess | None = None
        self.last_live_run: Any = None  # the reconciliation of the last live run (``l``)

    @property
    def client(self) -> ApiClient:
        return self.host.client

    def compose(self) -> ComposeResult:
        self.settlement_list = PagedList(SETTLEMENTS, self.PAGE_ROWS, "live-settlement-list")
        self.retry_list = PagedList(RETRY_JOBS, self.PAGE_ROWS, "live-retry")
        self.dlq_list = PagedList(DEAD_LETTERS, self.PAGE_ROWS, "live-dlq")
        trace = Input(
            placeholder="trace id: / · enter · esc",
            id="live-trace",
            compact=True,
        )
        self.audit_list = PagedList(AUDIT, self.PAGE_ROWS, "live-audit", tools=(trace,))
        yield Header()
        yield Static("", id="live-banner", classes="banner hidden")
        with Horizontal(id="live-progress-row"):
            yield Label("Replay: idle", id="live-replay-status")
            yield ProgressBar(id="live-progress", show_eta=False)
        self.outreach_line = OutreachLine("Outreach — reading…", id="live-outreach")
        yield self.outreach_line
        with Horizontal(id="live-top", classes="live-row"):
            with Vertical(id="live-summary-pane", classes="pane"):
                yield Label(SUMMARY_TITLE, id="live-settlements-title", classes="pane-title")
                yield DataTable(id="live-settlements", cursor_type="row")
            yield self.settlement_list
        with Horizontal(id="live-middle", classes="live-row"):
            yield self.retry_list
            yield self.dlq_list
        with Horizontal(id="live-bottom", classes="live-row"):
            yield self.audit_list
            self.wallet_pane = WalletPane(id="live-wallets-pane")
            yield self.wallet_pane
        yield KeyBar()

    @property
    def lists(self) -> tuple[PagedList, ...]:
        return (self.settlement_list, self.retry_list, self.dlq_list, self.audit_list)

    def on_mount(self) -> None:
        self.query_one("#live-settlements", DataTable).add_columns("status", "count", "amount")
        self.query_one("#live-progress", ProgressBar).display = False  # shown while a replay runs
        self.refresh_panes()
        self.set_interval(1.0, self.refresh_panes)

    def main_table(self, leaving: Widget | None = None) -> Widget:
        """Where the focus goes when it leaves an input (esc): the audit trail for its trace filter."""
        if leaving is not None and leaving.id == "live-trace":
            return self.audit_list.table
        return self.settlement_list.table

    # -- refreshing ------------------------------------------------------------
    def on_screen_resume(self) -> None:
        # nothing was read while another screen was shown: read now, once the screen is drawn
        self.call_after_refresh(self.refresh_panes)

    @work(exclusive=True, group="live-refresh")
    async def refresh_panes(self) -> None:
        if not self.is_current:
            return  # another screen is shown: nothing to draw, and the interface has other work
        workspaces = scenario_workspaces(self.host.scenario)
        try:
            dashboard = await self.client.dashboard()
            pages, wallets, outreach = await asyncio.gather(
                asyncio.gather(*(pane.load(self.client) for pane in self.lists)),
                self.wallet_pane.load(self.client, workspaces),
                self.outreach_line.load(self.client),
            )
        except ApiError as exc:
            if self.is_attached:
                with contextlib.suppress(NoMatches):  # the app is closing
                    self._server_error(exc)
            return
        if not self.is_attached:
            return  # the screen went away (the app is closing) while the pages were read
        try:
            self._set_banner(None)
            self._show_counts(dashboard)
            for pane, (page, asked) in zip(self.lists, pages, strict=True):
                pane.show(page, asked)
            self.wallet_pane.show(workspaces, wallets)
            self.outreach_line.show(outreach)
        except NoMatches:  # the app is closing: its widgets are going
            return
        self._maybe_read_amounts()

    def _server_error(self, exc: ApiError) -> None:
        if exc.refused_key:
            self._set_banner(f"The server refused the API key: {exc.message}. Retrying every second…")
        else:
            self._set_banner(f"Server unavailable: {exc.message}. Retrying every second…")

    def _show_counts(self, dashboard: dict[str, Any]) -> None:
        by_status = dashboard.get("settlementsByStatus", {})
        self._by_status = {status: int(by_status.get(status, 0)) for status in SETTLEMENT_STATUSES}
        self._fill_summary()

    def _fill_summary(self) -> None:
        rows = []
        for status in SETTLEMENT_STATUSES:
            count = self._by_status.get(status, 0)
            amounts = self._amounts.get(status, {})
            text = " + ".join(fmt_money(total, currency) for currency, total in sorted(amounts.items()))
            if self._amount_counts is None:
                text = "…"
            elif self._amount_counts.get(status, 0) != count:
                text = f"{text or '0.00'} …"  # being read again: the counts moved since
            elif not count:
                text = "–"  # no settlement: no amount (and no currency to give it)
            rows.append((status, f"{count:,}", text))
        fill_table(self.query_one("#live-settlements", DataTable), list(SETTLEMENT_STATUSES), rows)
        total = sum(self._by_status.values())
        set_text(
            self.query_one("#live-settlements-title", Label),
            f"{SUMMARY_TITLE} — {total:,} settlements{self._amount_note}",
        )

    # -- the amounts by status (every settlement, read in the background) --------
    def _maybe_read_amounts(self) -> None:
        seen = tuple(sorted(self._by_status.items()))
        if self._amounts_reading or seen == self._amounts_seen:
            return
        if time.monotonic() - self._amounts_started < max(self.AMOUNT_EVERY_S, 10 * self._amounts_took):
            return
        self._amounts_seen = seen
        self._amounts_started = time.monotonic()
        self._amounts_reading = True
        self.read_amounts()

    @work(group="live-amounts")
    async def read_amounts(self) -> None:
        try:
            listing = await self.client.settlements(limit=self.AMOUNT_PAGE_ROWS, cap=self.AMOUNT_CAP)
        except ApiError:
            self._amounts_failed()
            return
        counts: dict[str, int] = defaultdict(int)
        amounts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for settlement in listing.items:
            counts[settlement["status"]] += 1
            amounts[settlement["status"]][settlement["currency"]] += settlement["amount"]
        note = "" if listing.complete else f" (amounts: the newest {len(listing.items):,})"
        self._amounts_read(dict(counts), {k: dict(v) for k, v in amounts.items()}, note, listing.complete)

    def _amounts_read(self, counts: dict[str, int], amounts: dict, note: str, complete: bool) -> None:
        self._amounts_reading = False
        self._amounts_took = time.monotonic() - self._amounts_started
        self._amounts = amounts
        # a capped read cannot match the counts: it stands as it is, with the note saying so
        self._amount_counts = counts if complete else dict(self._by_status)
        self._amount_note = note
        try:
            self._fill_summary()
        except NoMatches:
            return
        self._maybe_read_amounts()

    def _amounts_failed(self) -> None:
        self._amounts_reading = False
        self._amounts_seen = None  # try again at the next refresh

    def _set_banner(self, text: str | None) -> None:
        if self.server_down == (text is not None) and self._banner_text == text:
            return  # unchanged: no new layout
        banner = self.query_one("#live-banner", Static)
        self.server_down = text is not None
        self._banner_text = text
        banner.update(text or "")
        banner.set_class(text is None, "hidden")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer lists what applies here: the dead-letter keys while a dead letter is focused,
        cancel while a replay runs."""
        if action in ("dlq_replay", "dlq_resolve", "dlq_ignore"):
            return getattr(self, "dlq_list", None) is not None and self.focused_list() is self.dlq_list
        if action == "cancel_replay":
            return self.replay is not None and self.replay.running
        return True

    # -- paging and filters --------------------------------------------------------
    def focused_list(self) -> PagedList:
        """The list the focus is in (the summary by status counts as the settlements list)."""
        node = self.focused
        while node is not None and node is not self:
            if isinstance(node, PagedList):
                return node
            node = node.parent
        return self.settlement_list

    def action_page(self, step: int) -> None:
        pane = self.focused_list()
        moved = pane.next_page() if step > 0 else pane.previous_page()
        if not moved:
            self.notify(f"{pane.spec.name}: {'the last' if step > 0 else 'the first'} page is on screen.")
            return
        pane.mark_loading()
        self.refresh_panes()

    def action_cycle_filter(self) -> None:
        pane = self.focused_list()
        pane.cycle_filter()
        pane.mark_loading()
        self.refresh_panes()

    @on(DataTable.RowSelected, "#live-settlements")
    def filter_by_summary_row(self, event: DataTable.RowSelected) -> None:
        """Enter on a status in the summary shows the settlements of that status."""
        self.settlement_list.set_filter(str(event.row_key.value))
        self.settlement_list.mark_loading()
        self.settlement_list.table.focus()
        self.refresh_panes()

    # -- audit filter ------------------------------------------------------------
    def action_focus_trace(self) -> None:
        self.query_one("#live-trace", Input).focus()

    @on(Input.Submitted, "#live-trace")
    def apply_trace(self, event: Input.Submitted) -> None:
        self.trace_filter = event.value.strip()
        self.audit_list.set_extra(trace_id=self.trace_filter)
        self.audit_list.mark_loading()
        self.audit_list.table.focus()
        self.refresh_panes()

    def leave_input(self, field: Input) -> None:
        """Esc in the trace filter: back to the filter that applies, the focus on the audit trail."""
        if field.id == "live-trace":
            field.value = self.trace_filter
