"""The Live screen's ``l``: the scenario itself on a private server, reconciled with the batch engine.

What the dialog shows is read from the screen and compared with the reconciliation's own figures
(``workbench live`` computes the same); the connected server is not touched (the app is offline).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.app.application import WorkbenchApp
from workbench.app.screens.live import LiveScreen
from workbench.app.screens.live_run_view import LiveRunScreen

from .conftest import OFFLINE_API, SIZE, scenario_copy, wait_for, widget_text

LIVE_RUN_WAIT_S = 120.0


def fast_billing(path: Path) -> Path:
    """No retryable failures (their 15 s / 30 s retry waits), terminal ones often enough to show."""
    text = path.read_text(encoding="utf-8")
    text = text.replace("retryable_failure_rate = 0.05", "retryable_failure_rate = 0")
    text = text.replace("terminal_failure_rate = 0.01", "terminal_failure_rate = 0.3")
    path.write_text(text, encoding="utf-8")
    return path


async def test_l_runs_the_scenario_live_and_shows_its_reconciliation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LiveScreen, "LIVE_RUN_REQUESTS", 40)
    scenario = fast_billing(scenario_copy(tmp_path))
    app = WorkbenchApp(api_url=OFFLINE_API, scenario_path=scenario, start_server=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.scenario is not None, "the scenario")
        await pilot.press("3")
        live = app.screen
        assert isinstance(live, LiveScreen)
        await pilot.press("l")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, LiveRunScreen),
            "the live run's reconciliation",
            timeout=LIVE_RUN_WAIT_S,
        )
        result = live.last_live_run
        assert result.requests == 40 and result.mismatches == [] and result.drained
        settled_live = result.settlements["live"]
        assert sum(settled_live.values()) == sum(result.settlements["batch"].values()) > 0
        assert settled_live.get("failed", 0) >= 1  # the provider failed some, as the scenario asks
        await pilot.pause()
        shown = widget_text(app, app.screen.query_one("#live-run-body"))
        assert "40 compared with the batch engine, 0 mismatches" in shown
        assert f"({result.slots['live']} slots live, {result.slots['batch']} in the batch)" in shown
        title = widget_text(app, app.screen.query_one("#live-run-title"))
        assert "no shortlist mismatch" in title
        await pilot.press("escape")
        assert app.screen is live
        status = str(live.query_one("#live-replay-status").render())
        assert "Live run: 40 requests, no mismatch" in status
