"""Export: a dialog for the folder and the formats, then the reports written in a thread worker."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from workbench.engine.exports import FORMATS
from workbench.engine.pipeline import RunResult

PROJECT_ROOT = Path(__file__).resolve().parents[3]
FORMAT_LABELS = {"csv": "CSV", "parquet": "Parquet", "json": "JSON", "md": "Markdown summary"}


@dataclass(frozen=True)
class ExportRequest:
    folder: Path
    formats: tuple[str, ...]


def default_folder(scenario_name: str, now: datetime | None = None) -> Path:
    """``out/<scenario>-<YYYYmmdd-HHMMSS>`` under the project."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", scenario_name).strip("-") or "scenario"
    return PROJECT_ROOT / "out" / f"{slug}-{stamp}"


def shown(path: Path) -> str:
    """A path as the user reads it: relative to the working directory when under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class ExportScreen(ModalScreen[ExportRequest | None]):
    """Ask where to write the reports and in which formats."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="export.cancel")]

    def __init__(self, folder: Path, what: str) -> None:
        super().__init__()
        self.folder = folder
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog"):
            yield Label(f"[b]Export[/b] {escape(self.what)}", id="export-title")
            yield Label("Folder (created if needed; relative to the working directory)")
            yield Input(shown(self.folder), id="export-folder")
            yield Label("Formats")
            with Horizontal(id="export-formats"):
                for fmt in FORMATS:
                    yield Checkbox(FORMAT_LABELS[fmt], True, id=f"export-{fmt}")
            yield Static("", id="export-error", classes="error hidden")
            with Horizontal(id="export-buttons"):
                yield Button("Export (enter)", variant="primary", id="export-ok")
                yield Button("Cancel (esc)", id="export-cancel")

    def on_mount(self) -> None:
        self.query_one("#export-folder", Input).focus()

    def _fail(self, message: str) -> None:
        error = self.query_one("#export-error", Static)
        error.update(message)
        error.remove_class("hidden")

    def request(self) -> ExportRequest | None:
        text = self.query_one("#export-folder", Input).value.strip()
        formats = tuple(f for f in FORMATS if self.query_one(f"#export-{f}", Checkbox).value)
        if not text:
            self._fail("Give a folder to write into.")
            return None
        if not formats:
            self._fail("Choose at least one format.")
            return None
        folder = Path(text).expanduser()
        folder = folder if folder.is_absolute() else Path.cwd() / folder
        if folder.exists() and not folder.is_dir():
            self._fail(f"{text} is a file, not a folder.")
            return None
        return ExportRequest(folder, formats)

    @on(Input.Submitted, "#export-folder")
    @on(Button.Pressed, "#export-ok")
    def submit(self) -> None:
        request = self.request()
        if request is not None:
            self.dismiss(request)

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def export_run(
    node: DOMNode,
    result: RunResult,
    tables: dict[str, Any] | None,
    on_done: Callable[[ExportRequest, list[Path]], None] | None = None,
) -> None:
    """Ask for a folder and formats, then write ``result``'s reports there in a thread worker."""
    from workbench.engine.exports import write_run
    from workbench.engine.tuning import describe_settings

    app = node.app

    def write(request: ExportRequest) -> None:
        try:
            written = write_run(result, request.folder, request.formats, tables)
        except Exception as exc:  # a full disk or a folder we may not write: say so, keep the app
            app.call_from_thread(
                app.notify,
                f"Export to {shown(request.folder)} failed: {exc}",
                title="Export",
                severity="error",
            )
            return
        message = f"Wrote {len(written)} files to {shown(request.folder)}."
        app.call_from_thread(app.notify, message, title="Export")
        if on_done is not None:
            app.call_from_thread(on_done, request, written)

    def chosen(request: ExportRequest | None) -> None:
        if request is not None:
            node.run_worker(
                lambda: write(request), thread=True, exclusive=True, group="export", exit_on_error=False
            )

    what = f"{result.scenario.name} ({describe_settings(result.cfg)})"
    app.push_screen(ExportScreen(default_folder(result.scenario.name), what), chosen)
