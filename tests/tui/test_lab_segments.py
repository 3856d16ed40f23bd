"""The lab's segments: ``g`` shows the KPIs per category, region, partner or task type against the
baseline, and the line naming the segment that moved most; both read what the engine computes for
separate runs, and both follow a changed weight."""

from __future__ import annotations

import shutil
from pathlib import Path

from textual.widgets import Static

from workbench.app.screens.lab import LabScreen
from workbench.app.screens.lab_segments import SegmentTable
from workbench.app.widgets.ranking_editor import RankingEditor
from workbench.engine.pipeline import RunResult, run_scenario
from workbench.engine.scenario import load_scenario
from workbench.engine.segment_compare import NOTHING_MOVED, SHOWN_METRICS, compare_segments, moved_line, wide
from workbench.engine.segments import BYS
from workbench.engine.units import fmt_value

from .conftest import ROOT, SIZE, offline_app, screen_lines, wait_for, widget_text

CROWDED = ROOT / "scenarios" / "crowded-market.toml"


def small_crowded(folder: Path) -> Path:
    """The crowded market (several categories, regions, partners and task types) at 3,000 requests."""
    (folder / "data").mkdir()
    shutil.copy(ROOT / "scenarios" / "data" / "crowded-market.json", folder / "data")
    text = CROWDED.read_text(encoding="utf-8")
    assert "\nrequests = 20000\n" in text
    path = folder / "crowded-market.toml"
    path.write_text(text.replace("\nrequests = 20000\n", "\nrequests = 3000\n"), encoding="utf-8")
    return path


def shown_rows(lab: LabScreen) -> list[list[str]]:
    table = lab.query_one("#lab-segments", SegmentTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def expected_rows(base: RunResult, variant: RunResult, by: str) -> list[list[str]]:
    """The engine's figures for two separate runs, as a person reads them (money without its currency:
    the tab's note names it; rates in per cent, their deltas in points)."""
    rows = []
    for row in wide(compare_segments(base, variant, by)).iter_rows(named=True):
        cells = [row["segment"]]
        for m in SHOWN_METRICS:
            cells += [
                fmt_value(m, row[f"{m}_baseline"], percent=True),
                fmt_value(m, row[f"{m}_variant"], percent=True),
                fmt_value(m, row[f"{m}_delta"], percent=True, signed=True),
            ]
        rows.append(cells)
    return rows


def tab_row(app) -> str:
    return next(line for line in screen_lines(app) if "Slot share" in line and "Gate failures" in line)


async def test_segments_read_the_engine_and_follow_a_changed_weight(tmp_path: Path) -> None:
    path = small_crowded(tmp_path)
    base = run_scenario(load_scenario(path))
    variant = run_scenario(load_scenario(path, ["ranking.weights.bid=0.3"]))
    app = offline_app(path)
    async with app.run_test(size=SIZE) as pilot:
        lab = app.screen
        assert isinstance(lab, LabScreen)
        await wait_for(pilot, lambda: lab.outcome is not None, "the baseline's first result")
        await pilot.pause()
        moved = lab.query_one("#lab-moved-most", Static)
        assert widget_text(app, moved) == NOTHING_MOVED  # the scenario's own settings against themselves
        assert "Segments" not in tab_row(app) and "g Segments" in screen_lines(app)[-1]

        await pilot.press("g")
        await pilot.pause()
        assert lab.segment_by == "category" and "Segments" in tab_row(app)
        assert shown_rows(lab) == expected_rows(base, base, "category")
        note = widget_text(app, lab.query_one("#lab-segments-note", Static))
        assert note.startswith("category: the request's category;") and "Money in USD." in note

        await pilot.press("g")
        await pilot.pause()
        assert lab.segment_by == "region"
        field = lab.query_one(RankingEditor).field("weights", "bid")
        field.focus()
        await pilot.pause()
        await pilot.press(*"0.3", "enter")
        await wait_for(pilot, lambda: lab.outcome.run.cfg.weights.bid == 0.3, "the re-ranked result")
        await pilot.pause()
        assert shown_rows(lab) == expected_rows(base, variant, "region")
        assert "EU+UK" in [row[0] for row in shown_rows(lab)]
        line = moved_line({by: compare_segments(base, variant, by) for by in BYS}, "USD")
        assert line.startswith("moved most: ") and line != NOTHING_MOVED
        assert widget_text(app, moved) == line

        lab.query_one("#lab-kpis").focus()
        for by in ("partner", "task_type"):
            await pilot.press("g")
            await pilot.pause()
            assert shown_rows(lab) == expected_rows(base, variant, by)
        await pilot.press("g")  # off: the tab goes, the line stays
        await pilot.pause()
        assert lab.segment_by is None and "Segments" not in tab_row(app)
        assert widget_text(app, moved) == line
