"""Live lists page with the server's own paging and filter by status (a real server with 135 dead letters)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from textual.widgets import DataTable, Label

from tests.support import BillingStub, ServerProcess, ServerStartError, receipt, roomy_seed, start_server
from workbench.app.application import WorkbenchApp
from workbench.app.screens.live import LiveScreen

from .conftest import SIZE, scenario_copy, wait_for

DEAD_LETTERS = 135


@pytest.fixture(scope="module")
def dlq_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose billing provider refuses every settlement, holding 135 dead letters."""
    folder = tmp_path_factory.mktemp("dlq")
    stub = BillingStub()
    stub.respond(200, {"status": "failed", "code": "FAILED", "message": "Account closed."})
    env = {
        "BILLING_ADAPTER_URL": stub.url,
        "BILLING_ADAPTER_TIMEOUT_MS": "2000",
        "SEED_PATH": str(roomy_seed(folder)),
    }
    try:
        server = start_server(folder / "server", env)
    except ServerStartError as exc:
        stub.stop()
        pytest.fail(f"could not start the server: {exc}", pytrace=False)
    try:
        with httpx.Client(base_url=server.base_url, timeout=30.0) as api:
            for _ in range(DEAD_LETTERS):
                assert api.post("/events/receipts", json=receipt(eventType="shortlisted")).status_code == 201
            for _ in range(2):  # each job fails for good: its settlement becomes a dead letter
                assert api.post("/settlements/retry-queue/process", json={"limit": 100}).status_code == 200
            page = api.get("/settlements/dlq", params={"pageSize": 1}).json()
            assert page["total"] == DEAD_LETTERS
        yield server
    finally:
        server.stop()
        stub.stop()


def title(live: LiveScreen, selector: str) -> str:
    return str(live.query_one(selector, Label).render())


def shown(live: LiveScreen, selector: str) -> list[tuple[str, str]]:
    """(id, status) of every row the table shows."""
    table = live.query_one(selector, DataTable)
    return [(str(table.get_row_at(i)[0]), str(table.get_row_at(i)[2])) for i in range(table.row_count)]


def workbench(server: ServerProcess, folder: Path) -> WorkbenchApp:
    scenario = scenario_copy(folder, requests=4)
    return WorkbenchApp(api_url=server.base_url, scenario_path=scenario, start_server=False)


async def titled(pilot, live: LiveScreen, selector: str, text: str) -> None:
    """Wait until the title ``selector`` (a list's) says ``text``."""
    await wait_for(pilot, lambda: text in title(live, f"{selector}-title"), f"{text!r} in {selector}'s title")


async def live_screen(pilot, app: WorkbenchApp) -> LiveScreen:
    await wait_for(pilot, lambda: app.profile != "connecting…", "the runtime profile")
    await pilot.press("3")
    live = app.screen
    assert isinstance(live, LiveScreen)
    return live


async def focus(pilot, app: WorkbenchApp, table: DataTable) -> None:
    for _ in range(8):  # from the keyboard, as a person would
        if app.focused is table:
            return
        await pilot.press("tab")
    assert app.focused is table


async def test_every_dead_letter_is_reachable_page_by_page(dlq_server: ServerProcess, tmp_path: Path) -> None:
    app = workbench(dlq_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        live = await live_screen(pilot, app)
        await titled(pilot, live, "#live-dlq", "rows 1–50 of 135")
        await focus(pilot, app, live.query_one("#live-dlq", DataTable))
        seen = [entry for entry, _ in shown(live, "#live-dlq")]
        assert len(seen) == 50

        await pilot.press("right_square_bracket")
        await titled(pilot, live, "#live-dlq", "rows 51–100 of 135")
        seen += [entry for entry, _ in shown(live, "#live-dlq")]
        await pilot.press("right_square_bracket")
        await titled(pilot, live, "#live-dlq", "rows 101–135 of 135")
        last_page = [entry for entry, _ in shown(live, "#live-dlq")]
        assert len(last_page) == 35
        seen += last_page

        everything = []
        for number in (1, 2):
            params = {"pageSize": 100, "page": number}
            everything += httpx.get(f"{dlq_server.base_url}/settlements/dlq", params=params).json()["items"]
        assert seen == [e["dlqEntryId"] for e in everything]  # each entry once, newest first

        await pilot.press("right_square_bracket")  # past the last page: nothing moves, a note says so
        await wait_for(pilot, lambda: any("last" in n.message for n in app._notifications), "the note")
        assert "rows 101–135 of 135" in title(live, "#live-dlq-title")
        await pilot.press("left_square_bracket")
        await titled(pilot, live, "#live-dlq", "rows 51–100 of 135")
        assert [entry for entry, _ in shown(live, "#live-dlq")] == seen[50:100]


async def test_the_status_filter_goes_to_the_api(dlq_server: ServerProcess, tmp_path: Path) -> None:
    with httpx.Client(base_url=dlq_server.base_url, timeout=15.0) as api:
        items = api.get("/settlements/dlq", params={"pageSize": 100, "status": "open"}).json()["items"]
        for entry in items[:3]:
            answer = api.post(f"/settlements/dlq/{entry['dlqEntryId']}/resolve", json={"status": "ignored"})
            assert answer.status_code == 200, answer.text
        ignored = api.get("/settlements/dlq", params={"pageSize": 100, "status": "ignored"}).json()["total"]
        still_open = api.get("/settlements/dlq", params={"status": "open"}).json()["total"]
    app = workbench(dlq_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        live = await live_screen(pilot, app)
        await titled(pilot, live, "#live-dlq", "status all · rows 1–50 of 135")
        await focus(pilot, app, live.query_one("#live-dlq", DataTable))

        await pilot.press("s")  # all → open
        await titled(pilot, live, "#live-dlq", f"status open · rows 1–50 of {still_open}")
        assert {status for _, status in shown(live, "#live-dlq")} == {"open"}
        for _ in range(3):  # open → replayed → resolved → ignored
            await pilot.press("s")
        await titled(pilot, live, "#live-dlq", f"status ignored · rows 1–{ignored} of {ignored}")
        assert {status for _, status in shown(live, "#live-dlq")} == {"ignored"}

        # the settlements: enter on a status of the summary lists the settlements of that status
        summary = live.query_one("#live-settlements", DataTable)
        await wait_for(pilot, lambda: summary.row_count and summary.get_row("failed")[1] == "135", "failed")
        summary.focus()
        summary.move_cursor(row=list(summary.rows).index("failed"))
        await pilot.press("enter")
        listing = "#live-settlement-list"
        await titled(pilot, live, listing, "status failed · rows 1–50 of 135")
        assert {status for _, status in shown_settlements(live)} == {"failed"}
        await pilot.press("s")  # failed → all
        await titled(pilot, live, listing, "status all · rows 1–50 of 135")


def shown_settlements(live: LiveScreen) -> list[tuple[str, str]]:
    table = live.query_one("#live-settlement-list", DataTable)
    return [(str(table.get_row_at(i)[0]), str(table.get_row_at(i)[1])) for i in range(table.row_count)]
