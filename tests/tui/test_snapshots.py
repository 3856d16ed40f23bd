"""Snapshots of the main screens at a fixed terminal size (pytest-textual-snapshot).

Deterministic by construction: an offline app (nothing listens on its --api port, so
the header reads "unreachable"), the shipped baseline scenario by a relative path
(no machine-specific folder in the picture), results waited for, notifications
cleared, the focus on a table rather than in a blinking input.
Update after an intended change with ``pytest tests/tui --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, DirectoryTree

from workbench.app.application import WorkbenchApp

from .conftest import OFFLINE_API, ROOT, SIZE, wait_for


@pytest.fixture(autouse=True)
def in_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def app() -> WorkbenchApp:
    return WorkbenchApp(
        api_url=OFFLINE_API, scenario_path=Path("scenarios/baseline.toml"), start_server=False
    )


def tables_laid_out(workbench: WorkbenchApp) -> bool:
    """Every table on every open screen has sized its columns to its rows.

    A DataTable sizes its columns when the app is next idle after rows change; on a loaded machine
    that can come after the result is in, and a picture taken between shows the header at its old
    widths (as CI once did).
    """
    return all(
        not table._require_update_dimensions and not table._updated_cells  # textual has no public "laid out"
        for screen in workbench.screen_stack
        for table in screen.query(DataTable)
    )


async def laid_out(pilot: Pilot) -> None:
    await wait_for(pilot, lambda: tables_laid_out(pilot.app), "the tables' column widths")
    await pilot.wait_for_scheduled_animations()
    # A screen under a dialog is drawn from what its widgets last rendered: a table that lost the
    # focus to the dialog may not have been drawn again yet. Draw every screen's widgets now.
    for screen in pilot.app.screen_stack:
        for widget in screen.query("*"):
            widget.refresh()
    await pilot.pause()


def settled(*keys: str, then: Iterable = ()):
    """A ``run_before`` that waits for the first result, presses ``keys``, waits for what ``then`` names."""

    async def run_before(pilot: Pilot) -> None:
        workbench = pilot.app
        await wait_for(pilot, lambda: workbench.profile == "unreachable", "the offline profile")
        await wait_for(pilot, lambda: workbench.lab_result is not None, "the lab's first result")
        workbench.clear_notifications()  # before a dialog opens: it would show them too
        await laid_out(pilot)  # before a dialog covers the lab: a screen below one is not drawn again
        for key in keys:
            await pilot.press(key)
        for what, condition in then:
            await wait_for(pilot, lambda condition=condition: condition(workbench), what)
        await pilot.pause(0.2)
        workbench.clear_notifications()
        await laid_out(pilot)

    return run_before


def test_lab_at_start_up(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE, run_before=settled())


def test_lab_after_a_stricter_relevance_floor(snap_compare) -> None:
    run_before = settled(
        "f",
        *"0.98",
        "enter",
        "escape",
        then=[("the re-ranked result", lambda a: a.lab_result.run.cfg.floors.relevance == 0.98)],
    )
    assert snap_compare(app(), terminal_size=SIZE, run_before=run_before)


def test_lab_slot_share_chart_and_gate_failures(snap_compare) -> None:
    run_before = settled(
        "f",
        *"0.98",
        "enter",
        "escape",
        "c",
        "t",
        then=[("the re-ranked result", lambda a: a.lab_result.run.cfg.floors.relevance == 0.98)],
    )
    assert snap_compare(app(), terminal_size=SIZE, run_before=run_before)


def test_lab_invalid_weight(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settled("w", *"abc", "enter")(pilot)
        pilot.app.screen.query_one("#lab-kpis").focus()  # out of the field: no blinking cursor
        await laid_out(pilot)

    assert snap_compare(app(), terminal_size=SIZE, run_before=run_before)


def test_save_dialog(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settled("s")(pilot)
        pilot.app.screen.query_one("#save-ok").focus()
        await laid_out(pilot)

    assert snap_compare(app(), terminal_size=SIZE, run_before=run_before)


def test_reports_campaigns(snap_compare) -> None:
    run_before = settled(
        "4",
        "right_square_bracket",
        then=[("the reports' tables", lambda a: a.screen.result is not None)],
    )
    assert snap_compare(app(), terminal_size=SIZE, run_before=run_before)


def test_scenario_screen(snap_compare) -> None:
    def loaded(a: WorkbenchApp) -> bool:
        tree = a.screen.query_one(DirectoryTree)
        return bool(tree.root.children) and not tree.root.is_collapsed

    run_before = settled("1", then=[("the scenarios folder", loaded)])
    assert snap_compare(app(), terminal_size=SIZE, run_before=run_before)
