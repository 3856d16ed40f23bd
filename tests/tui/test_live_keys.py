"""Keys on the live screen: esc leaves a text field, and a key press is acted on while a replay runs."""

from __future__ import annotations

from pathlib import Path

import httpx
from textual.widgets import DataTable, Input, Label, ProgressBar

from tests.support import ServerProcess
from workbench.app.application import WorkbenchApp
from workbench.app.screens.help import HelpScreen
from workbench.app.screens.lab import LabScreen
from workbench.app.screens.live import LiveScreen
from workbench.app.screens.reports import ReportsScreen

from .conftest import SIZE, offline_app, scenario_copy, wait_for


async def test_esc_leaves_the_trace_filter_and_the_screen_keys_work_again() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        live = app.screen
        assert isinstance(live, LiveScreen)
        trace = live.query_one("#live-trace", Input)
        await pilot.press("slash")
        assert app.focused is trace
        await pilot.press(*"trace-12")  # in the field, 1 and 2 are characters of the trace id
        assert trace.value == "trace-12" and app.screen is live

        await pilot.press("escape")
        assert app.focused is live.query_one("#live-audit", DataTable)  # the table the filter is for
        assert trace.value == ""  # never applied (enter applies): the field shows the filter in force
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("2")
        assert isinstance(app.screen, LabScreen)

        await pilot.press("3", "slash", *"t-1", "enter")  # applied: esc keeps it
        assert live.trace_filter == "t-1"
        await pilot.press("slash", *"xyz", "escape")
        assert trace.value == "t-1" and live.trace_filter == "t-1"
        await pilot.press("4")
        assert isinstance(app.screen, ReportsScreen)


async def test_esc_leaves_a_lab_field_too() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.lab_result is not None, "the lab's first result")
        await pilot.press("w", *"0.3")
        assert isinstance(app.focused, Input)
        await pilot.press("escape")
        assert isinstance(app.focused, DataTable)
        await pilot.press("3")
        assert isinstance(app.screen, LiveScreen)


def receipts_stored(server: ServerProcess) -> int:
    counts = httpx.get(f"{server.base_url}/dashboard", timeout=10.0).json()["eventCounts"]
    return sum(counts.values())


async def test_keys_are_acted_on_while_a_replay_plans_and_sends(server: ServerProcess, tmp_path: Path):
    """A replay of 100,000 requests: planning its traffic alone takes seconds of computing, sending it
    minutes. Keys pressed meanwhile switch screens at once, before the replay has even reported its plan,
    and ``x`` stops it (the server receives nothing more)."""
    app = WorkbenchApp(api_url=server.base_url, scenario_path=scenario_copy(tmp_path, requests=100_000))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.profile != "connecting…", "the runtime profile")
        await pilot.press("3")
        live = app.screen
        assert isinstance(live, LiveScreen)
        bar = live.query_one("#live-progress", ProgressBar)
        status = live.query_one("#live-replay-status", Label)

        # Keys go in as the terminal sends them (Pilot.press would also wait for the process to be idle).
        app.simulate_key("r")
        await wait_for(pilot, lambda: "planning" in str(status.render()), "the replay to start planning")
        app.simulate_key("2")
        await wait_for(pilot, lambda: isinstance(app.screen, LabScreen), "the lab")
        assert bar.total is None  # the replay has not reported its plan yet: the key did not wait for it
        app.simulate_key("3")
        await wait_for(pilot, lambda: app.screen is live, "the live screen")

        await wait_for(pilot, lambda: (bar.progress or 0) > 0, "the first requests sent", timeout=120)
        app.simulate_key("2")  # while it sends
        await wait_for(pilot, lambda: isinstance(app.screen, LabScreen), "the lab")
        assert bar.progress < bar.total
        await pilot.press("3", "x")
        assert "cancelled" in str(status.render())

        last = [receipts_stored(server)]

        def still() -> bool:
            now = receipts_stored(server)
            steady, last[0] = now == last[0], now
            return steady

        await wait_for(pilot, still, "the replay to stop sending")
        await pilot.pause(1.0)
        assert receipts_stored(server) == last[0]
        assert "cancelled" in str(status.render())


async def test_the_audit_title_keeps_its_counts_whole_beside_the_trace_filter_and_the_wallets() -> None:
    """At 120 columns the audit pane shares its row with the wallets and its title with the trace filter:
    the title's figures must still show whole (the filter field is the one that is narrow)."""
    from workbench.app.widgets.paged_list import set_text

    from .conftest import screen_lines

    app = offline_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        live = app.screen
        assert isinstance(live, LiveScreen)
        title = "Audit trail · entity all · rows 1–50 of 2,090"
        set_text(live.query_one("#live-audit-title", Label), title)
        await pilot.pause()
        assert any(title in line for line in screen_lines(app)), "\n".join(screen_lines(app))
