"""What the live screen does besides showing: replays and live runs of the scenario, the retry queue,
and an operator's answer to a dead letter. Mixed into ``LiveScreen``, whose bindings name these actions
and whose panes (``#live-progress``, ``#live-replay-status``, ``dlq_list``) they report to."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from textual import work
from textual.css.query import NoMatches
from textual.widgets import Label, ProgressBar

from workbench.app.client import ApiClient, ApiError
from workbench.app.replay_process import ReplayProcess
from workbench.app.screens.base import WorkbenchScreen
from workbench.app.screens.confirm import ConfirmScreen
from workbench.app.widgets.paged_list import PagedList, set_text

if TYPE_CHECKING:
    _Base = WorkbenchScreen
else:
    _Base = object


class ReplayActions(_Base):
    """``r`` replays the scenario into the connected server (in a process of its own), ``x`` cancels it;
    ``l`` runs it live on a private server and reconciles it with the batch engine."""

    replay: ReplayProcess | None
    last_live_run: Any

    if TYPE_CHECKING:

        @property
        def client(self) -> ApiClient: ...

        def refresh_panes(self) -> Any: ...

    # -- live run (workbench live) ---------------------------------------------
    # The first requests of the scenario, on a private server seeded with its market, ranking and
    # clock (``live_run``): the connected server is not touched.
    LIVE_RUN_REQUESTS = 500

    def action_live_run(self) -> None:
        scenario = self.host.scenario
        if scenario is None:
            self.notify("Load a scenario first (screen 1).", severity="warning")
            return
        if any(w.group == "live-run" and w.is_running for w in self.workers):
            self.notify("A live run is under way.", severity="warning")
            return
        self._replay_status("Live run: starting a private server…")
        self.run_live(scenario, self.LIVE_RUN_REQUESTS)

    @work(thread=True, exclusive=True, group="live-run", exit_on_error=False)
    def run_live(self, scenario: Any, limit: int) -> None:
        from workbench.app.live_run import LiveRunError, run_live
        from workbench.app.reconcile import reconcile

        def progress(phase: str, done: int, total: int | None) -> None:
            text = f"Live run: {phase}" + (f" {done:,}/{total:,}" if total else "")
            self.app.call_from_thread(self._replay_status, text)
            if total:
                self.app.call_from_thread(self._replay_progress_bar, done, total)

        try:
            result = reconcile(run_live(scenario, limit, progress))
        except LiveRunError as exc:
            self.app.call_from_thread(self._replay_ended)
            self.app.call_from_thread(self._replay_status, "Live run: failed")
            self.app.call_from_thread(
                self.notify, f"The live run failed: {exc}", severity="error", timeout=15
            )
            return
        self.app.call_from_thread(self._live_run_done, result)

    def _replay_progress_bar(self, done: int, total: int) -> None:
        try:
            bar = self.query_one("#live-progress", ProgressBar)
        except NoMatches:  # the app is closing
            return
        bar.display = True
        bar.update(total=total, progress=done)

    def _live_run_done(self, result: Any) -> None:
        from workbench.app.screens.live_run_view import LiveRunScreen

        self._replay_ended()
        verdict = "no mismatch" if not result.mismatches else f"{len(result.mismatches):,} mismatches"
        self._replay_status(f"Live run: {result.requests:,} requests, {verdict}")
        self.last_live_run = result
        if self.is_attached:
            self.app.push_screen(LiveRunScreen(result))

    # -- replay ----------------------------------------------------------------
    def action_replay(self) -> None:
        scenario = self.host.scenario
        if scenario is None:
            self.notify("Load a scenario first (screen 1).", severity="warning")
            return
        if self.replay is not None and self.replay.running:
            self.notify("A replay is running: x cancels it.", severity="warning")
            return
        self._replay_status("Replay: planning the traffic…")
        bar = self.query_one("#live-progress", ProgressBar)
        bar.update(total=None, progress=0)
        bar.display = True
        self.replay = ReplayProcess(
            self.client,
            scenario,
            on_progress=self._replay_progress,
            on_done=self._replay_done,
            on_error=self._replay_stopped,
        )
        self.replay.start()
        self.refresh_bindings()

    def _replay_status(self, text: str) -> None:
        with contextlib.suppress(NoMatches):  # the app is closing
            set_text(self.query_one("#live-replay-status", Label), text)

    def _replay_progress(self, done: int, total: int) -> None:
        try:
            self.query_one("#live-progress", ProgressBar).update(total=total, progress=done)
        except NoMatches:
            return
        self._replay_status(f"Replay: {done:,}/{total:,} requests")

    def _replay_ended(self) -> None:
        """The footer drops cancel; the progress bar goes, the status line takes the whole row."""
        self.refresh_bindings()
        with contextlib.suppress(NoMatches):  # the app is closing
            self.query_one("#live-progress", ProgressBar).display = False

    def _replay_stopped(self, message: str) -> None:
        self._replay_ended()
        self._replay_status("Replay: stopped")
        self.notify(f"Replay stopped: {message}", severity="error")

    def _replay_done(self, summary: Any) -> None:
        self._replay_ended()
        self._replay_status(f"Replay: done — {summary.describe()}")
        self.notify(f"Replay finished: {summary.describe()}")
        self.refresh_panes()

    def action_cancel_replay(self) -> None:
        if self.replay is None or not self.replay.running:
            return
        self.replay.cancel()
        self._replay_ended()
        self._replay_status("Replay: cancelled")
        self.notify("Replay cancelled.")

    def on_unmount(self) -> None:
        if self.replay is not None:
            self.replay.stop()


class DeadLetterActions(_Base):
    """``p`` processes due retry jobs once; Replay / Resolve / Ignore answer the selected dead letter."""

    dlq_list: PagedList

    if TYPE_CHECKING:

        @property
        def client(self) -> ApiClient: ...

        def refresh_panes(self) -> Any: ...

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
        table = self.dlq_list.table
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
