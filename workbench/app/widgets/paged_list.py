"""A list the server pages, shown one page at a time: a title ("rows a–b of N"), a filter, a table.

The live screen has four of them (settlements, retry jobs, dead letters, the audit
trail). Each reads only the page on screen, with the server's own paging: an opaque
``cursor`` from the ``Link: rel="next"`` header for the array lists, a page number for
the page-object lists; ``]`` / ``[`` go to the next / previous page (the cursors of the
pages before are kept, so going back asks for the same page again) and ``s`` cycles
the filter, which goes to the API as its ``status`` (or ``entityType``) parameter.

A refresh updates the table in place: cells that changed are rewritten, and the rows
are rebuilt only when the page holds other rows than before (the cursor stays on
the same row when it is still there).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import DataTable, Label

from workbench.app.client import ApiClient, Page

# (client, filter value, page token, rows per page, further filters such as a trace id) -> the page
Fetch = Callable[[ApiClient, "str | None", "str | int | None", int, "dict[str, str]"], Awaitable[Page]]


@dataclass(frozen=True)
class ListSpec:
    """What a list shows and how it asks the server for a page."""

    name: str
    columns: tuple[str, ...]
    filters: tuple[tuple[str, str | None], ...]  # (title's word, the API's value); the first is the default
    fetch: Fetch
    key: Callable[[dict[str, Any]], str]
    row: Callable[[dict[str, Any]], tuple[str, ...]]
    paging: Literal["cursor", "number"] = "cursor"
    filter_name: str = "status"


def set_text(label: Label, text: str) -> None:
    """Change a one-line label of a fixed size: only when the text differs, and without a new layout
    (a layout pass redraws the whole screen; a live screen changing titles every second paid it)."""
    if getattr(label, "_shown_text", None) != text:
        label._shown_text = text  # type: ignore[attr-defined] - the text last shown, kept on the label itself
        label.update(text, layout=False)


def fill_table(table: DataTable, keys: list[str], rows: list[tuple[str, ...]]) -> None:
    """Show ``rows`` (keyed by ``keys``) in ``table``, changing only what differs from what it shows."""
    current = [row.key.value for row in table.ordered_rows]
    if current == keys:
        columns = list(table.columns)
        for key, row in zip(keys, rows, strict=True):
            for column, old, new in zip(columns, table.get_row(key), row, strict=True):
                if old != new:
                    table.update_cell(key, column, new, update_width=True)
        return
    selected = current[table.cursor_row] if current and 0 <= table.cursor_row < len(current) else None
    row_before = table.cursor_row
    table.clear()
    for key, row in zip(keys, rows, strict=True):
        table.add_row(*row, key=key)
    if selected in keys:
        table.move_cursor(row=keys.index(selected), scroll=False)
    elif keys:
        table.move_cursor(row=min(row_before, len(keys) - 1), scroll=False)


class PagedList(Vertical):
    """One paged list: its title, its table and where it is (filter, page)."""

    DEFAULT_CLASSES = "pane"

    def __init__(self, spec: ListSpec, page_rows: int, id: str, tools: tuple[Widget, ...] = ()) -> None:
        super().__init__(id=f"{id}-pane")
        self.spec = spec
        self.tools = tools  # widgets beside the title (the audit trail's trace-id filter)
        self.page_rows = page_rows
        self.table_id = id
        self.filter_index = 0
        self.extra: dict[str, str] = {}  # further filters (the audit trail's trace id)
        self.tokens: list[str | int | None] = [self._first_token()]  # where each page up to this one starts
        self.page: Page | None = None
        self.generation = 0  # counts the moves (page, filter): a page read before the last move is not shown

    def compose(self) -> ComposeResult:
        with Horizontal(classes="paged-title-row"):
            yield Label(f"{self.spec.name} · loading…", id=f"{self.table_id}-title", classes="pane-title")
            yield from self.tools
        yield DataTable(id=self.table_id, cursor_type="row")

    def on_mount(self) -> None:
        self.table.add_columns(*self.spec.columns)

    @property
    def table(self) -> DataTable:
        return self.query_one(f"#{self.table_id}", DataTable)

    @property
    def title(self) -> Label:
        return self.query_one(f"#{self.table_id}-title", Label)

    # -- where the list is ----------------------------------------------------------
    def _first_token(self) -> str | int | None:
        return None if self.spec.paging == "cursor" else 1

    @property
    def filter_label(self) -> str:
        return self.spec.filters[self.filter_index][0]

    @property
    def filter_value(self) -> str | None:
        return self.spec.filters[self.filter_index][1]

    @property
    def index(self) -> int:
        """Which page is on screen (0: the first)."""
        return len(self.tokens) - 1

    def next_page(self) -> bool:
        """Move to the next page (False on the last one: nothing changes)."""
        if self.page is None or self.page.next is None:
            return False
        self.tokens.append(self.page.next)
        self.generation += 1
        return True

    def previous_page(self) -> bool:
        if len(self.tokens) == 1:
            return False
        self.tokens.pop()
        self.generation += 1
        return True

    def cycle_filter(self, step: int = 1) -> str:
        """The next filter (the first page of it); returns its label."""
        self.filter_index = (self.filter_index + step) % len(self.spec.filters)
        self._restart()
        return self.filter_label

    def set_filter(self, value: str | None) -> bool:
        """Filter by ``value`` (one of the spec's filter values); False when it is not one."""
        for i, (_, known) in enumerate(self.spec.filters):
            if known == value:
                self.filter_index = i
                self._restart()
                return True
        return False

    def set_extra(self, **extra: str) -> None:
        """Further filters (empty values left out); the list starts again at its first page."""
        self.extra = {k: v for k, v in extra.items() if v}
        self._restart()

    def _restart(self) -> None:
        self.tokens = [self._first_token()]
        self.generation += 1

    # -- reading and showing ---------------------------------------------------------
    async def load(self, client: ApiClient) -> tuple[Page, int]:
        """The page on screen, read from the server (a page emptied since, past the end, steps back),
        and the generation it was read for."""
        asked = self.generation
        page = await self._fetch(client)
        if not page.items and self.index > 0 and asked == self.generation:  # rows left the filter
            if self.spec.paging == "number":
                last = max(1, math.ceil(page.total / self.page_rows))
                self.tokens = list(range(1, min(last, self.index) + 1))
            else:
                self.tokens.pop()
            self.generation += 1
            asked = self.generation
            page = await self._fetch(client)
        return page, asked

    async def _fetch(self, client: ApiClient) -> Page:
        return await self.spec.fetch(client, self.filter_value, self.tokens[-1], self.page_rows, self.extra)

    def show(self, page: Page, asked: int) -> bool:
        """Put ``page`` on screen, unless the list moved (another filter or page) since it was asked for."""
        if asked != self.generation:
            return False
        self.page = page
        keys = [self.spec.key(item) for item in page.items]
        fill_table(self.table, keys, [self.spec.row(item) for item in page.items])
        set_text(self.title, self.describe())
        return True

    def rows_shown(self) -> tuple[int, int]:
        """(first, last) row numbers of the page on screen, 1-based; (0, 0) when it is empty."""
        if self.page is None or not self.page.items:
            return (0, 0)
        count = len(self.page.items)
        if self.spec.paging == "cursor" and self.page.next is None and self.index > 0:
            first = max(1, self.page.total - count + 1)  # the last page: counted from the end
        else:
            first = self.index * self.page_rows + 1
        return (first, first + count - 1)

    def mark_loading(self) -> None:
        """Say in the title that another page or filter is on its way."""
        set_text(self.title, f"{self.spec.name} · {self.spec.filter_name} {self.filter_label} · loading…")

    def describe(self) -> str:
        where = f"{self.spec.name} · {self.spec.filter_name} {self.filter_label}"
        if self.page is None:
            return f"{where} · loading…"
        if not self.page.items:
            return f"{where} · no rows"
        first, last = self.rows_shown()
        return f"{where} · rows {first:,}–{last:,} of {self.page.total:,}"
