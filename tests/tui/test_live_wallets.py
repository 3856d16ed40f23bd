"""Live: the wallets of the scenario's workspaces, read from the rendered screen and compared with
``GET /wallet``; a top-up made through the API shows at the next refresh."""

from __future__ import annotations

import httpx
from textual.widgets import DataTable

from tests.support import ServerProcess
from tests.support import expect as answer
from workbench.app.application import WorkbenchApp
from workbench.app.screens.live import LiveScreen
from workbench.engine.scenario import scenario_workspaces

from .conftest import ROOT, SIZE, wait_for, widget_text

CROWDED = ROOT / "scenarios" / "crowded-market.toml"  # its campaigns are in five workspaces


def rendered_wallets(app: WorkbenchApp, live: LiveScreen) -> dict[str, tuple[float, float]]:
    """Workspace → (available, owed), as the terminal shows the wallet pane's rows."""
    table = live.query_one("#live-wallets", DataTable)
    words = widget_text(app, table).split()
    assert words[:3] == ["workspace", "available", "owed"], words
    cells = words[3:]
    return {
        cells[i]: (float(cells[i + 1].replace(",", "")), float(cells[i + 2].replace(",", "")))
        for i in range(0, len(cells), 3)
    }


async def api_wallets(api: httpx.AsyncClient, workspaces: list[str]) -> dict[str, tuple[float, float]]:
    found = {}
    for workspace in workspaces:
        wallet = answer(await api.get("/wallet", params={"workspaceId": workspace}), 200)
        found[workspace] = (round(wallet["availableCredits"], 2), round(wallet["owedCredits"], 2))
    return found


async def top_up(api: httpx.AsyncClient, workspace: str, credits: int) -> None:
    """Without Stripe (default mode) a top-up credits the wallet at once."""
    body = {"workspaceId": workspace, "credits": credits}
    answer(await api.post("/wallet/top-ups/checkout", json=body), 201)


async def test_the_live_screen_shows_the_wallets_the_api_reports(server: ServerProcess) -> None:
    app = WorkbenchApp(api_url=server.base_url, scenario_path=CROWDED, start_server=False)
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=20) as api,
        app.run_test(size=SIZE) as pilot,
    ):
        await top_up(api, "ws_globex", 50)
        await wait_for(pilot, lambda: app.profile != "connecting…", "the runtime profile")
        await pilot.press("3")
        live = app.screen
        assert isinstance(live, LiveScreen)
        table = live.query_one("#live-wallets", DataTable)
        await wait_for(pilot, lambda: table.row_count == 5, "a wallet for each of the five workspaces")
        await pilot.pause()
        workspaces = list(scenario_workspaces(app.scenario))
        assert sorted(workspaces) == ["ws_globex", "ws_hooli", "ws_initech", "ws_northwind", "ws_umbrella"]
        shown = rendered_wallets(app, live)
        assert list(shown) == workspaces
        assert shown == await api_wallets(api, workspaces)
        assert shown["ws_globex"] == (150.0, 0.0)
        assert "Wallets — 5 workspaces" in widget_text(app, live.query_one("#live-wallets-title"))

        # A top-up through the API: the pane's next refresh shows it.
        await top_up(api, "ws_globex", 1234)
        await wait_for(
            pilot, lambda: rendered_wallets(app, live)["ws_globex"] == (1384.0, 0.0), "the new balance"
        )
        assert rendered_wallets(app, live) == await api_wallets(api, workspaces)
        assert "1,384.00" in widget_text(app, table)
