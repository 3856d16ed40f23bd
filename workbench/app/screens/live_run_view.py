"""The reconciliation of a live run (``workbench live`` from the Live screen's ``l``), as a dialog.

The same figures ``workbench live`` prints (``reconcile.render``): shortlists compared with the
batch engine request by request, settlements and dead letters by status, live against the batch.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from workbench.app.reconcile import Reconciliation, render


class LiveRunScreen(ModalScreen[None]):
    """Shows one reconciliation; esc or enter closes it."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close", show=True, id="live_run_view.close")]

    def __init__(self, result: Reconciliation) -> None:
        super().__init__()
        self.result = result

    def compose(self) -> ComposeResult:
        verdict = (
            "no shortlist mismatch"
            if not self.result.mismatches
            else f"{len(self.result.mismatches):,} shortlist mismatches"
        )
        with Vertical(id="live-run-dialog"):
            yield Label(f"Live run of {self.result.scenario}: {verdict} · esc closes", id="live-run-title")
            with VerticalScroll(id="live-run-body"):
                yield Static(render(self.result), id="live-run-report")

    def action_close(self) -> None:
        self.dismiss(None)
