"""The lab's weights and floors: one compact input per setting, validated, stepped with ``[`` / ``]``.

The editor owns the last good ``RankingConfig``. Typing only edits the text (``-``
and ``+`` are characters of a number, never commands); a value is applied on
enter or on leaving the field. Stepping is its own key, ``]`` up and ``[`` down
(``ctrl+up`` / ``ctrl+down`` too), and applies at once. An applied change posts
``RankingEditor.Changed``. A value that is not a number, a negative weight or a
floor outside 0..1 (the domain's ``ranking_config_problems``) is refused: the
message appears under the field and as a notification, and the last good
settings (and so the last good result) stay.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Static

from server.domain.ranking_config import RankingConfig, weight_sum, weights_sum_to_one
from workbench.engine.tuning import SETTINGS, STEPS, fmt_setting, label, parse_setting, setting, with_setting


def weight_sum_text(cfg: RankingConfig) -> str:
    """The weights' sum (the domain's ``weight_sum``), flagged when it is not 1."""
    total = fmt_setting(weight_sum(cfg.weights))
    if weights_sum_to_one(cfg.weights):
        return f"[dim]sum of weights[/dim] {total}"
    return f"[b $warning]sum of weights {total} ≠ 1[/] [dim](n normalises)[/dim]"


class SettingField(Input):
    """One weight or floor."""

    # Not + and -: those are typed as part of a number ("-0.1", "1e-3").
    BINDINGS = [
        Binding(
            "right_square_bracket,ctrl+up",
            "step(1)",
            "Step up",
            key_display="]",
            priority=True,
            tooltip="Raise this setting one step and apply it",
            id="ranking_editor.step_1",
        ),
        Binding(
            "left_square_bracket,ctrl+down",
            "step(-1)",
            "Step down",
            key_display="[",
            priority=True,
            tooltip="Lower this setting one step and apply it",
            id="ranking_editor.step_1",
        ),
        Binding(
            "escape",
            "leave",
            "Done editing",
            tooltip="Back to the results (undo what was not applied)",
            id="ranking_editor.leave",
        ),
    ]

    def __init__(self, table: str, key: str, value: float) -> None:
        super().__init__(
            value=fmt_setting(value),
            id=f"lab-{table}-{key}",
            compact=True,
            tooltip=f"{label(table, key)}: type a number and press enter, or ] / [ to step by {STEPS[table]:g}",
        )
        self.table = table
        self.key = key

    def action_step(self, direction: int) -> None:
        self.parent_editor.step(self, direction)

    def action_leave(self) -> None:
        self.parent_editor.revert(self)
        self.screen.focus_next("DataTable")

    @property
    def parent_editor(self) -> RankingEditor:
        return self.query_ancestor(RankingEditor)


class RankingEditor(Vertical):
    """Weights and floors as inputs over the last good settings."""

    class Changed(Message):
        """Valid settings were applied (or enter was pressed on a valid value: the lab may re-run)."""

        def __init__(self, editor: RankingEditor, cfg: RankingConfig) -> None:
            super().__init__()
            self.editor = editor
            self.cfg = cfg

        @property
        def control(self) -> RankingEditor:
            return self.editor

    def __init__(self, cfg: RankingConfig | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cfg = cfg or RankingConfig()

    def compose(self) -> ComposeResult:
        previous = None
        for table, key in SETTINGS:
            if table != previous:
                if previous == "weights":
                    yield Static(weight_sum_text(self.cfg), id="lab-weight-sum")
                yield Label("Weights" if table == "weights" else "Floors (0..1)", classes="pane-title")
                previous = table
            with Horizontal(classes="lab-setting"):
                yield Label(key.replace("_", " "), classes="lab-setting-label")
                yield SettingField(table, key, setting(self.cfg, table, key))
            yield Static("", id=f"lab-error-{table}-{key}", classes="lab-field-error hidden")

    def _settings_shown(self) -> None:
        self.query_one("#lab-weight-sum", Static).update(weight_sum_text(self.cfg))

    # -- the settings ----------------------------------------------------------
    def field(self, table: str, key: str) -> SettingField:
        return self.query_one(f"#lab-{table}-{key}", SettingField)

    def set_config(self, cfg: RankingConfig) -> None:
        """Show ``cfg`` (a newly loaded scenario, a reset) without posting ``Changed``."""
        self.cfg = cfg
        for table, key in SETTINGS:
            self.field(table, key).value = fmt_setting(setting(cfg, table, key))
            self._error(table, key, None)
        self._settings_shown()

    def _error(self, table: str, key: str, message: str | None) -> None:
        note = self.query_one(f"#lab-error-{table}-{key}", Static)
        note.update(message or "")
        note.set_class(message is None, "hidden")
        self.field(table, key).set_class(message is not None, "-invalid")

    def _refuse(self, field: SettingField, message: str) -> None:
        kept = fmt_setting(setting(self.cfg, field.table, field.key))
        self._error(field.table, field.key, f"{message}; keeping {kept}")
        self.notify(
            f"{message}. The last good result stays on screen.", title="Invalid value", severity="error"
        )

    def _apply(self, field: SettingField, value: float, always: bool = False) -> None:
        """Take ``value``; post ``Changed`` when it changes the settings (or ``always``: enter asks to run)."""
        self._error(field.table, field.key, None)
        if value == setting(self.cfg, field.table, field.key) and not always:
            return
        self.cfg = with_setting(self.cfg, field.table, field.key, value)
        self._settings_shown()
        self.post_message(self.Changed(self, self.cfg))

    def step(self, field: SettingField, direction: int) -> None:
        try:
            current = parse_setting(field.table, field.key, field.value, self.cfg)
        except ValueError:
            current = setting(self.cfg, field.table, field.key)
        value = round(current + direction * STEPS[field.table], 6) + 0.0
        try:
            parse_setting(field.table, field.key, fmt_setting(value), self.cfg)
        except ValueError as exc:
            self._refuse(field, str(exc))
            return
        field.value = fmt_setting(value)
        self._apply(field, value)

    def revert(self, field: SettingField) -> None:
        field.value = fmt_setting(setting(self.cfg, field.table, field.key))
        self._error(field.table, field.key, None)

    # -- typing ----------------------------------------------------------------
    @on(Input.Changed, "SettingField")
    def _typed(self, event: Input.Changed) -> None:
        field = event.input
        assert isinstance(field, SettingField)
        if not event.value.strip():
            return  # cleared to type a new value: judged on enter
        try:
            parse_setting(field.table, field.key, event.value, self.cfg)
        except ValueError as exc:
            self._error(field.table, field.key, f"{exc} (enter to retry)")
        else:
            self._error(field.table, field.key, None)

    @on(Input.Submitted, "SettingField")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        field = event.input
        assert isinstance(field, SettingField)
        try:
            value = parse_setting(field.table, field.key, event.value, self.cfg)
        except ValueError as exc:
            self._refuse(field, str(exc))
            return
        self._apply(field, value, always=True)  # the lab decides whether there is anything to run

    @on(Input.Blurred, "SettingField")
    def _left(self, event: Input.Blurred) -> None:
        field = event.input
        assert isinstance(field, SettingField)
        try:
            value = parse_setting(field.table, field.key, field.value, self.cfg)
        except ValueError:
            return  # the error stays under the field; nothing is applied
        self._apply(field, value)
