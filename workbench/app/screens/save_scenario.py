"""Save the lab's settings into a new scenario file next to the one it was loaded from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from workbench.engine.scenario import ScenarioError


class SaveScenarioScreen(ModalScreen[Path | None]):
    """Ask for a file name; ``save(name)`` writes it (ScenarioError keeps the dialog open with the message)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="save_scenario.cancel")]

    def __init__(self, source: Path, proposed: str, settings: str, save: Callable[[str], Path]) -> None:
        super().__init__()
        self.source = source
        self.proposed = proposed
        self.settings = settings
        self.save = save

    def compose(self) -> ComposeResult:
        with Vertical(id="save-dialog"):
            yield Label(f"[b]Save settings[/b] into a new scenario file next to {escape(self.source.name)}")
            yield Label(self.settings, id="save-settings", markup=False)
            yield Label("File name (the rest of the file, comments included, is kept)")
            yield Input(self.proposed, id="save-name")
            yield Static("", id="save-error", classes="error hidden")
            with Horizontal(id="save-buttons"):
                yield Button("Save (enter)", variant="primary", id="save-ok")
                yield Button("Cancel (esc)", id="save-cancel")

    def on_mount(self) -> None:
        self.query_one("#save-name", Input).focus()

    @on(Input.Submitted, "#save-name")
    @on(Button.Pressed, "#save-ok")
    def submit(self) -> None:
        name = self.query_one("#save-name", Input).value
        try:
            path = self.save(name)
        except (ScenarioError, OSError) as exc:
            error = self.query_one("#save-error", Static)
            error.update(str(exc))
            error.remove_class("hidden")
            return
        self.dismiss(path)

    @on(Button.Pressed, "#save-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
