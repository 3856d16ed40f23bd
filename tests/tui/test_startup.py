"""Start-up: connect to the server at --api, or start one on embedded SQLite and stop it on exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import SERVER_ENV_VARS, ServerProcess, free_port
from workbench.app.application import WorkbenchApp
from workbench.app.screens.lab import LabScreen

from .conftest import BASELINE, SIZE, wait_for


async def test_start_up_connects_to_a_running_server_and_shows_its_profile(server: ServerProcess) -> None:
    app = WorkbenchApp(api_url=server.base_url, scenario_path=BASELINE)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.profile != "connecting…", "the runtime profile")
        assert app.profile == "mode default · sqlite · memory · billing simulated"
        assert app.server_profile is not None and app.server_profile["mode"] == "default"
        expected = f"baseline · {server.base_url} · mode default · sqlite · memory · billing simulated"
        assert app.sub_title == expected
        assert app.server is not None and not app.server.started  # already running: left alone
        assert isinstance(app.screen, LabScreen)
        await wait_for(pilot, lambda: app.screen.outcome is not None, "the baseline's result")
    assert server.process.poll() is None


async def test_start_up_starts_a_local_server_when_nothing_answers_and_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SERVER_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/workbench.sqlite3")
    api = f"http://127.0.0.1:{free_port()}"
    app = WorkbenchApp(api_url=api, scenario_path=BASELINE)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot, lambda: app.profile != "connecting…", "the started server's profile", timeout=60
        )
        assert app.profile == "mode default · sqlite · memory · billing simulated", app.profile
        assert api in app.sub_title
        assert app.server is not None and app.server.started
        process = app.server.process
        assert process is not None and process.poll() is None
    assert process.poll() is not None, "the server the workbench started is stopped when it exits"
    assert (tmp_path / "workbench.sqlite3").exists()


async def test_an_unreachable_server_is_reported_in_the_header() -> None:
    app = WorkbenchApp(api_url="http://127.0.0.1:9", scenario_path=BASELINE, start_server=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.profile != "connecting…", "the failed profile request")
        assert app.profile == "unreachable"
        assert app.sub_title == "baseline · http://127.0.0.1:9 · unreachable"
        assert any("cannot reach the server" in n.message for n in app._notifications)
