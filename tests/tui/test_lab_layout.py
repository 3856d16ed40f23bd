"""The lab's figures are whole at every terminal width: columns size to their content (#10, defect 1).

Each KPI row is read off the rendered screen (the compositor's own output) and compared with
the engine's numbers (``LabOutcome.comparison.kpis``), formatted here by the rules a person
reads them by, so a cut figure (``-51`` for ``-510``, ``p`` for ``pp``) cannot pass.
"""

from __future__ import annotations

import re

import pytest

from workbench.app.widgets.kpi_table import KpiTable
from workbench.app.widgets.ranking_editor import RankingEditor

from .conftest import ROOT, offline_app, screen_lines, wait_for

CROWDED = ROOT / "scenarios" / "crowded-market.toml"
RATES = {
    "qualified_recommendation_rate",
    "detail_view_rate",
    "handoff_rate",
    "action_conversion_rate",
    "disclosure_shown_rate",
    "fill_rate",
}
SCORES = {"mean_relevance_shown", "mean_utility_shown"}
MONEY = {"spend", "settled_amount"}


def figures(metric: str, baseline: float, current: float, delta: float) -> list[str]:
    if metric in RATES:
        return [f"{100 * baseline:.1f}%", f"{100 * current:.1f}%", f"{100 * delta:+.1f} pp"]
    if metric in SCORES:
        return [f"{baseline:.4f}", f"{current:.4f}", f"{delta:+.4f}"]
    if metric in MONEY:
        return [f"{baseline:,.2f}", f"{current:,.2f}", f"{delta:+,.2f}"]
    assert baseline == int(baseline) and current == int(current), metric  # a count
    return [f"{int(baseline):,}", f"{int(current):,}", f"{int(delta):+,}"]


def whole(figure: str, line: str) -> bool:
    """``figure`` appears in ``line`` with nothing of a number glued to either side."""
    return re.search(rf"(?<![\w.,%+-]){re.escape(figure)}(?![\w.,%])", line) is not None


@pytest.mark.parametrize("size", [(80, 50), (80, 24), (120, 40), (240, 50)])
async def test_every_kpi_figure_is_whole_at_every_width(size: tuple[int, int]) -> None:
    app = offline_app(CROWDED)
    async with app.run_test(size=size) as pilot:
        lab = app.screen
        await wait_for(pilot, lambda: lab.outcome is not None, "the first result")
        bid = lab.query_one(RankingEditor).field("weights", "bid")
        bid.focus()
        await pilot.pause()
        await pilot.press(*"0.2", "enter", "escape")
        await wait_for(pilot, lambda: lab.outcome.run.cfg.weights.bid == 0.2, "bid 0.2")
        await pilot.pause(0.2)

        table = lab.query_one("#lab-kpis", KpiTable)
        # the table is as wide as its columns: nothing to scroll sideways, nothing cut
        assert table.virtual_size.width <= table.scrollable_content_region.width, (
            table.virtual_size,
            table.scrollable_content_region,
        )
        kpis = lab.outcome.comparison.kpis
        assert table.row_count == kpis.height
        shown_deltas = 0
        for index, row in enumerate(kpis.iter_rows(named=True)):
            table.move_cursor(row=index, column=0)  # scrolls a tall table: whole rows at a time
            await pilot.pause()
            label = str(table.get_row_at(index)[0])
            if row["metric"] in MONEY:
                assert label.endswith(" (USD)"), label  # money names its currency
            lines = [line for line in screen_lines(app) if re.search(rf"[│ ]{re.escape(label)}  ", line)]
            assert len(lines) == 1, (label, screen_lines(app))
            for figure in figures(row["metric"], row["baseline"], row["variant"], row["delta"]):
                assert whole(figure, lines[0]), f"{figure!r} is not whole in {lines[0]!r} at {size}"
            shown_deltas += row["delta"] != 0
        assert shown_deltas >= 10  # the crowded market at bid 0.2 moves most KPIs
