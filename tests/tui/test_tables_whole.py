"""Tables wider than their pane scroll, and show whole columns only: no figure is cut (#10, defect 1)."""

from __future__ import annotations

import re

import pytest

from workbench.app.widgets.frame_table import FrameTable
from workbench.engine.units import fmt_value

from .conftest import ROOT, offline_app, wait_for

CROWDED = ROOT / "scenarios" / "crowded-market.toml"


def cell_texts(table: FrameTable, row: dict, currency: str) -> set[str]:
    """How each cell of ``row`` reads in full (the engine's values in their units) and the headers."""
    out = {table.header(name) for name in row}
    for name, value in row.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.add(fmt_value(name, value, row.get("currency") or currency))
        elif value is not None:
            out.add(
                str(value) if not hasattr(value, "isoformat") else value.isoformat().replace("+00:00", "Z")
            )
        else:
            out.add("–")
    return out


@pytest.mark.parametrize("width", [80, 120, 240])
async def test_a_wide_table_never_shows_part_of_a_figure(width: int) -> None:
    app = offline_app(CROWDED)
    async with app.run_test(size=(width, 40)) as pilot:
        await wait_for(pilot, lambda: app.lab_result is not None, "the lab's first result")
        await pilot.press("4", "right_square_bracket")
        reports = app.screen
        await wait_for(pilot, lambda: reports.result is not None, "the reports' tables")
        table = reports.query_one("#reports-campaign-table", FrameTable)
        frame = reports.tables["outcomes_campaign"]
        currency = reports.tables["_kpis"]["currency"]
        view = table.scrollable_content_region.width
        assert table.virtual_size.width > view  # it does not fit: it scrolls
        rows = [frame.row(i, named=True) for i in range(3)]
        for x in range(0, table.max_scroll_x + 1, 7):
            table.scroll_to(x=x, animate=False)
            await pilot.pause()
            lines = [
                strip.crop(0, view).text
                for strip in table.render_lines(table.scrollable_content_region.reset_offset)
            ]
            assert any(line.strip() for line in lines[:4])
            for line, row in zip(lines[:4], [dict.fromkeys(frame.columns), *rows], strict=False):
                allowed = (
                    cell_texts(table, row, currency)
                    if row.get("campaign_id")
                    else {table.header(c) for c in frame.columns}
                )
                for token in re.split(r"\s{2,}", line.strip()):
                    assert not token or token in allowed, f"cut at scroll x={x}: {token!r} in {line!r}"
