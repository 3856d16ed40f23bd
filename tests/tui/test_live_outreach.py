"""Live: the outreach state of each lead, read from the rendered screen and compared with
``GET /outreach-targets`` of a real server sending to a real SMTP server; an open counted through the
pixel shows at the next refresh."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ServerProcess, ServerStartError, start_server
from tests.support import expect as answer
from tests.support.smtp import SmtpServer
from workbench.app.application import WorkbenchApp
from workbench.app.screens.live import LiveScreen

from .conftest import BASELINE, SIZE, wait_for, widget_text


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server(tmp_path: Path, smtp: SmtpServer) -> Iterator[ServerProcess]:
    try:
        process = start_server(tmp_path / "server", smtp.env())
    except ServerStartError as exc:
        pytest.fail(f"could not start the server: {exc}", pytrace=False)
    yield process
    process.stop()


def rendered_outreach(app: WorkbenchApp, live: LiveScreen) -> dict[str, dict[str, int]]:
    """Lead → {figure: n}, as the terminal shows the outreach line ("lead: 2 sent, 1 opened, …")."""
    text = widget_text(app, live.query_one("#live-outreach"))
    assert text.startswith("Outreach — "), text
    shown: dict[str, dict[str, int]] = {}
    for part in text.removeprefix("Outreach — ").split(" · "):
        lead, _, figures = part.partition(": ")
        shown[lead] = {name: int(n) for n, name in (f.split(" ") for f in figures.split(", "))}
    return shown


async def api_outreach(api: httpx.AsyncClient) -> dict[str, dict[str, int]]:
    """The same figures, counted here from the API's answer (zeros left out, as on the screen, but sent)."""
    found: dict[str, dict[str, int]] = {}
    for t in answer(await api.get("/outreach-targets"), 200):
        row = found.setdefault(t["leadId"], {"sent": 0})
        sent = t["status"] == "sent"
        for name, n in (
            ("sent", int(sent)),
            ("opened", int(sent and t["openCount"] > 0)),
            ("opens", t["openCount"] if sent else 0),
            ("retry", int(t["status"] == "retry_scheduled")),
            ("bounced", int(t["status"] == "bounced")),
            ("draft", int(t["status"] == "draft")),
        ):
            if n:
                row[name] = row.get(name, 0) + n
    return found


async def target(api: httpx.AsyncClient, lead: str, contact: str) -> str:
    body = {
        "channel": "email",
        "contactPoint": contact,
        "subjectLine": "Hello {{providerOrg}}",
        "messageTemplate": "Dear {{providerOrg}}, shall we talk?",
    }
    return answer(await api.post(f"/agent-leads/{lead}/outreach", json=body), 201)["targetId"]


async def send(api: httpx.AsyncClient, target_id: str) -> dict[str, Any]:
    return answer(await api.post(f"/outreach-targets/{target_id}/send"), 200)


async def test_the_live_screen_shows_each_leads_outreach_as_the_api_reports(
    smtp_server: ServerProcess, smtp: SmtpServer
) -> None:
    app = WorkbenchApp(api_url=smtp_server.base_url, scenario_path=BASELINE, start_server=False)
    async with (
        httpx.AsyncClient(base_url=smtp_server.base_url, timeout=20) as api,
        app.run_test(size=SIZE) as pilot,
    ):
        opened = await target(api, "lead_crm_eu", "bizdev@procurepilot.ai")
        await send(api, opened)
        await send(api, await target(api, "lead_crm_eu", "ceo@procurepilot.ai"))
        await target(api, "lead_crm_eu", "sales@procurepilot.ai")  # stays a draft
        for _ in range(2):
            assert (await api.get(f"/outreach/open/{opened}/pixel.gif")).status_code == 200
        smtp.answer(rcpt="451 4.7.1 Try again later")
        assert (await send(api, await target(api, "lead_crm_cn", "partners@growthdesk.ai")))[
            "smtpCode"
        ] == 451
        smtp.answer(rcpt="550 5.1.1 No such user")
        assert (await send(api, await target(api, "lead_crm_cn", "gone@growthdesk.ai")))[
            "status"
        ] == "bounced"

        await wait_for(pilot, lambda: app.profile != "connecting…", "the runtime profile")
        await pilot.press("3")
        live = app.screen
        assert isinstance(live, LiveScreen)
        line = live.query_one("#live-outreach")
        await wait_for(pilot, lambda: "lead_crm_cn" in widget_text(app, line), "the outreach line")
        shown = rendered_outreach(app, live)
        assert shown == await api_outreach(api)
        assert shown == {
            "lead_crm_eu": {"sent": 2, "opened": 1, "opens": 2, "draft": 1},
            "lead_crm_cn": {"sent": 0, "retry": 1, "bounced": 1},
        }

        # Another open through the pixel: the next refresh shows it.
        assert (await api.get(f"/outreach/open/{opened}/pixel.gif")).status_code == 200
        await wait_for(
            pilot, lambda: rendered_outreach(app, live)["lead_crm_eu"]["opens"] == 3, "the third open"
        )
        assert rendered_outreach(app, live) == await api_outreach(api)
