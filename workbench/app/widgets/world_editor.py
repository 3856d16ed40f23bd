"""The lab's world: how many requests the scenario sends and how big its budgets are.

Changing either changes the market rather than the ranking, so the lab runs the
baseline again too. Only the text is read here (a whole number of requests, a
multiplier); the values are validated where scenario files are (``scenario.rescaled``),
and the lab shows a refusal under the field (``refuse``).
"""

from __future__ import annotations

import math

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Static

FIELDS = {"requests": "requests", "budgets": "budgets ×"}
TIPS = {
    "requests": "How many requests to generate (enter applies; the baseline runs again)",
    "budgets": "Multiply every campaign's budget (enter applies; the baseline runs again)",
}


def parse_requests(text: str) -> int:
    raw = text.strip().replace(",", "").replace("_", "")
    if not raw.isdigit():
        raise ValueError(f"requests: {text.strip()!r} is not a whole number")
    return int(raw)


def parse_multiplier(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"budgets ×: {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"budgets ×: {text.strip()!r} is not a finite number")
    return value


class WorldField(Input):
    BINDINGS = [
        Binding(
            "escape",
            "leave",
            "Done editing",
            tooltip="Back to the results (undo what was not applied)",
            id="world_editor.leave",
        )
    ]

    def __init__(self, key: str, value: str, tooltip: str) -> None:
        super().__init__(value=value, id=f"lab-world-{key}", compact=True, tooltip=tooltip)
        self.key = key

    def action_leave(self) -> None:
        self.query_ancestor(WorldEditor).revert(self)
        self.screen.focus_next("DataTable")


class WorldEditor(Vertical):
    """Traffic size and budget multiplier of the lab's scenario."""

    class Changed(Message):
        def __init__(
            self, editor: WorldEditor, key: str, requests: int | None, budgets: float | None
        ) -> None:
            super().__init__()
            self.editor = editor
            self.key = key
            self.requests = requests
            self.budgets = budgets

        @property
        def control(self) -> WorldEditor:
            return self.editor

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.requests = 0
        self.budgets = 1.0
        self.replay = False

    def compose(self) -> ComposeResult:
        yield Label("Traffic and budgets", classes="pane-title")
        for key, name in FIELDS.items():
            with Horizontal(classes="lab-setting"):
                yield Label(name, classes="lab-setting-label")
                yield WorldField(key, "", TIPS[key])
            yield Static("", id=f"lab-world-error-{key}", classes="lab-field-error hidden")

    def field(self, key: str) -> WorldField:
        return self.query_one(f"#lab-world-{key}", WorldField)

    def set_world(self, requests: int, budgets: float, replay: bool) -> None:
        """Show a scenario's values (without posting ``Changed``)."""
        self.requests, self.budgets, self.replay = requests, budgets, replay
        self.field("requests").value = f"{requests:,}"
        self.field("requests").disabled = replay
        self.field("requests").tooltip = "A replayed log has its own requests" if replay else TIPS["requests"]
        self.field("budgets").value = repr(round(budgets, 6) + 0.0)
        for key in FIELDS:
            self.error(key, None)

    def error(self, key: str, message: str | None) -> None:
        note = self.query_one(f"#lab-world-error-{key}", Static)
        note.update(message or "")
        note.set_class(message is None, "hidden")
        self.field(key).set_class(message is not None, "-invalid")

    def refuse(self, key: str, message: str) -> None:
        self.error(key, message)
        self.notify(
            f"{message}. The last good result stays on screen.", title="Invalid value", severity="error"
        )

    def revert(self, field: WorldField) -> None:
        self.set_world(self.requests, self.budgets, self.replay)

    @on(Input.Submitted, "WorldField")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        field = event.input
        assert isinstance(field, WorldField)
        try:
            if field.key == "requests":
                value = parse_requests(event.value)
                changed = value != self.requests
                message = self.Changed(self, "requests", value, None)
            else:
                number = parse_multiplier(event.value)
                changed = number != self.budgets
                message = self.Changed(self, "budgets", None, number)
        except ValueError as exc:
            self.refuse(field.key, str(exc))
            return
        self.error(field.key, None)
        if changed:
            self.post_message(message)
