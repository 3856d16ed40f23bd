"""A polars DataFrame as a DataTable: numbers right-aligned, deltas coloured, sortable by any column.

Each figure reads in its column's unit (``workbench.engine.units``: counts as integers, money with
the row's ``currency`` or the table's, rates and scores with four decimals), and every column
is as wide as its widest cell; a table wider than its pane scrolls, showing whole columns only.

Sorting sorts the frame (so numbers sort as numbers, nulls last) and refills the
table; click a column header or press ``o`` on a cell of the column. Pressing it
again reverses the order.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import polars as pl
from rich.cells import cell_len
from rich.segment import Segment
from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.strip import Strip
from textual.widgets import DataTable

from workbench.engine.units import fmt_value

DELTA_STYLES = ("green", "red", "dim")


def fmt_cell(value: Any, column: str = "", currency: str = "") -> str | Text:
    """One cell: numbers right-aligned in the unit of their column (``workbench.engine.units``)."""
    if value is None:
        return Text("–", style="dim", justify="right")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return Text(fmt_value(column, value, currency), justify="right")
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "|".join(map(str, value))
    return str(value)


def _width(cell: str | Text) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)


def delta_text(value: float | int | None, text: str | None = None) -> Text:
    """A signed delta: green when up, red when down, dim when unchanged."""
    if value is None:
        return Text("–", style="dim", justify="right")
    if text is None:
        text = f"{value:+,}" if isinstance(value, int) else f"{value:+.4f}"
    style = DELTA_STYLES[0] if value > 0 else DELTA_STYLES[1] if value < 0 else DELTA_STYLES[2]
    return Text(text, style=style, justify="right")


class FrameTable(DataTable):
    """A DataTable filled from a polars DataFrame, sortable by column."""

    BINDINGS = [
        Binding(
            "o",
            "sort_column",
            "Sort",
            tooltip="Sort by the column under the cursor (again: reverse)",
            id="frame_table.sort_column",
        ),
    ]

    def __init__(
        self,
        *,
        id: str | None = None,
        classes: str | None = None,
        headers: dict[str, str] | None = None,
        formats: dict[str, str] | None = None,
        right: tuple[str, ...] = (),
        hidden: tuple[str, ...] = ("currency",),
    ) -> None:
        super().__init__(id=id, classes=classes, zebra_stripes=True, cursor_type="cell")
        self.headers = headers or {}
        self.formats = formats or {}  # column -> str.format spec, e.g. "{:.1%}"
        self.right = frozenset(right)  # text columns aligned right (figures formatted upstream)
        self.hidden = frozenset(hidden)  # read by the cells (money's currency), not shown as columns
        self.currency = ""  # money's currency when a row has no ``currency`` column
        self.frame: pl.DataFrame | None = None
        self.sort_column: str | None = None
        self.descending = False

    # -- cells (override for special formatting) ---------------------------------
    def cell(self, column: str, value: Any, row: dict[str, Any]) -> str | Text:
        spec = self.formats.get(column)
        currency = row.get("currency") or self.currency
        if column.endswith("delta") and isinstance(value, (int, float)) and not isinstance(value, bool):
            return delta_text(
                value, spec.format(value) if spec else fmt_value(column, value, currency, signed=True)
            )
        if spec and value is not None:
            return Text(spec.format(value), justify="right")
        if column in self.right and isinstance(value, str):
            return Text(value, justify="right")
        return fmt_cell(value, column, currency)

    def header(self, column: str) -> str:
        return self.headers.get(column, column)

    # -- whole columns only --------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        """A line of the table; a column the view cuts at either edge is left blank, not shown in part.

        A table wider than its pane scrolls (the scrollbar shows there is more), and what it shows is
        whole: never ``-51`` for ``-510``. The cursor's cell is always scrolled fully into view.
        """
        return self._whole_columns(super().render_line(y))

    def _whole_columns(self, strip: Strip) -> Strip:
        # the view: the content region without the scrollbars (the line itself runs under them)
        width = min(strip.cell_length, self.scrollable_content_region.width)
        x0 = self.scroll_offset.x
        keep_from, keep_to, start = 0, width, 0
        for column in self.ordered_columns:
            end = start + column.get_render_width(self)
            a, b = start - x0, end - x0
            if a < 0 < b:
                keep_from = b  # cut by the left edge
            if a < width < b:
                keep_to = a  # cut by the right edge
            start = end
        if (keep_from == 0 and keep_to == width) or keep_to <= keep_from:
            return strip  # all whole, or one column wider than the view: nothing better to show

        def blank(part: Strip) -> Strip:
            return Strip([Segment(" " * segment.cell_length, segment.style) for segment in part])

        pieces = [blank(strip.crop(0, keep_from))] if keep_from else []
        pieces.append(strip.crop(keep_from, keep_to))
        if keep_to < strip.cell_length:
            pieces.append(blank(strip.crop(keep_to, strip.cell_length)))
        return Strip.join(pieces)

    # -- filling -------------------------------------------------------------------
    def show(self, frame: pl.DataFrame) -> None:
        """Show ``frame`` (keeping the sort order and the cursor where they still apply)."""
        self.frame = frame
        if self.sort_column not in frame.columns:
            self.sort_column, self.descending = None, False
        self._fill()

    def _sorted(self) -> pl.DataFrame:
        assert self.frame is not None
        if self.sort_column is None:
            return self.frame
        return self.frame.sort(
            self.sort_column, descending=self.descending, nulls_last=True, maintain_order=True
        )

    def _fill(self) -> None:
        frame = self._sorted()
        cursor = self.cursor_coordinate
        self.clear(columns=True)
        shown = [name for name in frame.columns if name not in self.hidden]
        rows = [[self.cell(name, row[name], row) for name in shown] for row in frame.iter_rows(named=True)]
        # Widths given up front: a DataTable left to size its columns does so when it is next idle, and
        # keeps a header or a row drawn before that at the old widths until something else changes.
        labels = [self._label(name) for name in shown]
        for i, (name, label) in enumerate(zip(shown, labels, strict=True)):
            width = max([cell_len(label), *(_width(cells[i]) for cells in rows)])
            self.add_column(label, key=name, width=width)
        self.add_rows(rows)
        if frame.height and shown:
            self.move_cursor(row=min(cursor.row, frame.height - 1), column=min(cursor.column, len(shown) - 1))

    def _label(self, name: str) -> str:
        arrow = (" ▼" if self.descending else " ▲") if name == self.sort_column else ""
        return self.header(name) + arrow

    # -- sorting -------------------------------------------------------------------
    def sort_by(self, column: str) -> None:
        if self.frame is None or column not in self.frame.columns:
            return
        if self.sort_column == column:
            self.descending = not self.descending
        else:
            self.sort_column, self.descending = column, False
        self._fill()

    def action_sort_column(self) -> None:
        if self.frame is None or not self.columns:
            return
        key = list(self.columns)[self.cursor_coordinate.column]
        self.sort_by(str(key.value))

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        if event.data_table is self:
            event.stop()
            self.sort_by(str(event.column_key.value))
