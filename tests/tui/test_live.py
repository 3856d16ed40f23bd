"""Live: a replay against a real server shows settlements; a dead letter is replayed from the keyboard."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from textual.widgets import DataTable, Label

from tests.support import BillingStub, ServerProcess, ServerStartError, receipt, roomy_seed, start_server
from workbench.app.application import WorkbenchApp
from workbench.app.screens.confirm import ConfirmScreen
from workbench.app.screens.live import LiveScreen

from .conftest import SIZE, scenario_copy, wait_for

REPLAY_WAIT_S = 90.0


def count(live: LiveScreen, status: str) -> int:
    table = live.query_one("#live-settlements", DataTable)
    if table.row_count == 0:
        return 0
    return int(table.get_row(status)[1])


def dead_letters(live: LiveScreen) -> dict[str, str]:
    """Entry id → status, as the DLQ pane shows them."""
    table = live.query_one("#live-dlq", DataTable)
    return {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[2]) for i in range(table.row_count)}


async def replayed(pilot, app: WorkbenchApp) -> LiveScreen:
    """Open the live screen and replay the working scenario from the keyboard."""
    await wait_for(pilot, lambda: app.profile != "connecting…", "the runtime profile")
    await pilot.press("3")
    live = app.screen
    assert isinstance(live, LiveScreen)
    await pilot.press("r")
    status = live.query_one("#live-replay-status", Label)
    await wait_for(
        pilot, lambda: "done" in str(status.render()), "the replay to finish", timeout=REPLAY_WAIT_S
    )
    return live


async def test_a_replay_shows_settlements_appearing(server: ServerProcess, tmp_path: Path) -> None:
    app = WorkbenchApp(api_url=server.base_url, scenario_path=scenario_copy(tmp_path, requests=12))
    async with app.run_test(size=SIZE) as pilot:
        live = await replayed(pilot, app)
        assert "12 requests" in str(live.query_one("#live-replay-status", Label).render())
        stored = httpx.get(f"{server.base_url}/settlements", params={"status": "pending", "limit": 1})
        pending = int(stored.headers["x-total-count"])  # what the server holds once the replay is done
        assert pending > 0
        # The panes refresh on their own clock: wait for the refresh that follows the replay's last receipt.
        await wait_for(
            pilot,
            lambda: (
                count(live, "pending") == pending
                and live.query_one("#live-retry", DataTable).row_count == pending
            ),
            "the pending settlements and their open retry jobs in the panes",
        )

        await pilot.press("p")  # process the queue once: the simulated gateway settles them
        await wait_for(pilot, lambda: count(live, "settled") > 0, "settled settlements in the pane")
        assert count(live, "pending") < pending
    dashboard = httpx.get(f"{server.base_url}/dashboard").json()
    assert dashboard["settlementsByStatus"].get("settled", 0) > 0


@pytest.fixture
def failing_server(tmp_path: Path, billing_stub: BillingStub):
    billing_stub.respond(200, {"status": "failed", "code": "FAILED", "message": "Account closed."})
    env = {"BILLING_ADAPTER_URL": billing_stub.url, "BILLING_ADAPTER_TIMEOUT_MS": "2000"}
    try:
        process = start_server(tmp_path / "server", env)
    except ServerStartError as exc:
        pytest.fail(f"could not start the server: {exc}", pytrace=False)
    yield process
    process.stop()


async def test_a_dead_letter_is_replayed_from_the_keyboard_with_a_confirmation(
    failing_server: ServerProcess, billing_stub: BillingStub, tmp_path: Path
) -> None:
    app = WorkbenchApp(api_url=failing_server.base_url, scenario_path=scenario_copy(tmp_path, requests=6))
    async with app.run_test(size=SIZE) as pilot:
        live = await replayed(pilot, app)
        await pilot.press("p")  # the provider refuses every settlement: they become dead letters
        await wait_for(pilot, lambda: dead_letters(live), "dead letters in the DLQ pane")
        await wait_for(pilot, lambda: set(dead_letters(live).values()) == {"open"}, "open dead letters")

        dlq = live.query_one("#live-dlq", DataTable)
        for _ in range(5):  # move the focus to the DLQ pane from the keyboard
            if app.focused is dlq:
                break
            await pilot.press("tab")
        assert app.focused is dlq
        entry = str(dlq.get_row_at(dlq.cursor_row)[0])

        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        assert entry in str(app.screen.query_one("#confirm-question", Label).render())
        await pilot.press("y")
        await wait_for(
            pilot, lambda: dead_letters(live).get(entry) == "replayed", "the entry marked replayed"
        )

        # the provider is back: processing the queue settles the replayed settlement and resolves the entry
        billing_stub.respond(200, {"status": "settled", "code": "SETTLED"})
        await pilot.press("p")
        await wait_for(pilot, lambda: dead_letters(live).get(entry) == "resolved", "the entry resolved")
        assert count(live, "settled") >= 1

    page = httpx.get(f"{failing_server.base_url}/settlements/dlq", params={"pageSize": 100}).json()
    (found,) = [e for e in page["items"] if e["dlqEntryId"] == entry]
    assert found["status"] == "resolved"


@pytest.fixture
def keyed_server(tmp_path: Path):
    keys = tmp_path / "keys.toml"
    keys.write_text(
        '[[keys]]\nname = "tui-agent"\nkey = "ag-tui-0123456789abcdef"\nrole = "agent"\n', encoding="utf-8"
    )
    try:
        process = start_server(tmp_path / "server", {"API_KEYS_FILE": str(keys)})
    except ServerStartError as exc:
        pytest.fail(f"could not start the server: {exc}", pytrace=False)
    yield process
    process.stop()


async def test_the_api_key_comes_from_the_environment_and_a_refusal_is_a_notification(
    keyed_server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMOTION_AGENT_API_KEY", "ag-tui-0123456789abcdef")
    app = WorkbenchApp(
        api_url=keyed_server.base_url, scenario_path=scenario_copy(tmp_path, requests=4), start_server=False
    )
    async with app.run_test(size=SIZE) as pilot:
        live = await replayed(pilot, app)  # evaluate and receipts: the agent key is enough
        assert "4 requests" in str(live.query_one("#live-replay-status", Label).render())
        await pilot.press("p")  # processing the queue needs an operator key
        await wait_for(pilot, lambda: any("403" in n.message for n in app._notifications), "the refusal")
        (refusal,) = [n for n in app._notifications if "403" in n.message]
        assert refusal.severity == "error"
        assert "needs an operator API key" in refusal.message and "PROMOTION_AGENT_API_KEY" in refusal.message


def _title(live: LiveScreen, selector: str) -> str:
    return str(live.query_one(selector, Label).render())


@pytest.fixture
def roomy_server(tmp_path: Path):
    """A server whose campaigns' budgets hold hundreds of settlements."""
    try:
        process = start_server(tmp_path / "roomy", {"SEED_PATH": str(roomy_seed(tmp_path))})
    except ServerStartError as exc:
        pytest.fail(f"could not start the server: {exc}", pytrace=False)
    yield process
    process.stop()


async def test_the_live_figures_come_from_every_page(
    roomy_server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """250 settlements: the counts by status are the server's, the amounts are summed over every page
    (read 100 at a time), and the retry queue shows a page of them and says how many there are."""
    server = roomy_server
    with httpx.Client(base_url=server.base_url, timeout=15.0) as api:
        for _ in range(250):
            response = api.post("/events/receipts", json=receipt(eventType="shortlisted"))
            assert response.status_code == 201, response.text
        first_page = api.get("/settlements", params={"limit": 100})
        assert len(first_page.json()) == 100 and first_page.headers["x-total-count"] == "250"
    monkeypatch.setattr(LiveScreen, "AMOUNT_PAGE_ROWS", 100)
    monkeypatch.setattr(LiveScreen, "AMOUNT_EVERY_S", 0.0)
    app = WorkbenchApp(api_url=server.base_url, scenario_path=scenario_copy(tmp_path, requests=6))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.profile != "connecting…", "the runtime profile")
        await pilot.press("3")
        live = app.screen
        assert isinstance(live, LiveScreen)
        await wait_for(pilot, lambda: count(live, "pending") == 250, "250 pending settlements in the pane")
        assert "250 settlements" in _title(live, "#live-settlements-title")

        def amount(status: str) -> str:
            return str(live.query_one("#live-settlements", DataTable).get_row(status)[2])

        # HubFlow pays 120 per shortlist
        await wait_for(pilot, lambda: amount("pending") == f"{250 * 120:,.2f} USD", "the amount of 250")
        retry = "#live-retry-title"
        await wait_for(pilot, lambda: "rows 1–50 of 250" in _title(live, retry), "the retry title")
        assert "status open" in _title(live, "#live-retry-title")
        assert live.query_one("#live-retry", DataTable).row_count == 50

        await pilot.press("p")  # settles 50 (the queue processes 50 at a time): the figures follow
        await wait_for(pilot, lambda: count(live, "settled") == 50, "50 settled settlements in the pane")
        assert count(live, "pending") == 200
        await wait_for(pilot, lambda: amount("settled") == f"{50 * 120:,.2f} USD", "the settled amount")
        assert amount("pending") == f"{200 * 120:,.2f} USD"
