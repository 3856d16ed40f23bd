"""Partner outreach over HTTP (api.md "Outreach") against real server processes on SQLite and PostgreSQL,
sending real e-mail to an aiosmtpd server on 127.0.0.1 (with AUTH): draft targets, placeholder and
malformed input refused, other channels 409 on send, one message for any number of concurrent sends,
451 retry and 550 bounce stored, the open pixel (no key, nothing revealed, opens counted), the audit
trail, API keys, the SMTP password nowhere, and ``promotion-agent outreach send --lead``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.support import REPO_ROOT, SERVER_ENV_VARS, ServerProcess, error_body, expect
from tests.support.smtp import SmtpServer, text_and_html

from .conftest import StartServer
from .test_api_keys import AGENT, OPERATOR, bearer, toml_keys

PASSWORD = "smtp-auth-code-e2e-4f3a2b1c"
TRACKING = "https://track.promotion-agent.test"
LEAD = "lead_crm_eu"
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer("none", user="outreach@promotion-agent.test", password=PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def outreach_server(
    module_server_factory: StartServer, smtp: SmtpServer, tmp_path_factory: pytest.TempPathFactory
) -> ServerProcess:
    keys = tmp_path_factory.mktemp("keys") / "api-keys.toml"
    keys.write_text(toml_keys(OPERATOR, AGENT), encoding="utf-8")
    return module_server_factory(
        {
            **smtp.env(),
            "OUTREACH_TRACKING_BASE_URL": TRACKING,
            "OUTREACH_SMTP_REPLY_TO": "partners@promotion-agent.test",
            "API_KEYS_FILE": str(keys),
            "API_KEYS_PROTECT_READS": "1",
        }
    )


@pytest.fixture(scope="module")
def api(outreach_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=outreach_server.base_url, timeout=20, headers=bearer(OPERATOR)) as client:
        yield client


@pytest.fixture(autouse=True)
def _answers_normally(smtp: SmtpServer) -> None:
    smtp.answer()


def body(**changes: Any) -> dict[str, Any]:
    return {
        "channel": "email",
        "contactPoint": "bizdev@procurepilot.ai",
        "subjectLine": "HubFlow on {{providerOrg}}'s shortlists",
        "messageTemplate": "Dear {{providerOrg}},\n\n{{productName}} would like to work with you.\n\nBest",
        "campaignId": "cmp_hubflow",
        **changes,
    }


def create(api: httpx.Client, lead: str = LEAD, **changes: Any) -> dict[str, Any]:
    return expect(api.post(f"/agent-leads/{lead}/outreach", json=body(**changes)), 201)


def messages_to(smtp: SmtpServer, target_id: str) -> list[Any]:
    return [m for m in smtp.messages if m.message["X-Outreach-Target"] == target_id]


def test_a_draft_is_sent_once_as_a_real_email(api: httpx.Client, smtp: SmtpServer) -> None:
    draft = create(api)
    assert (draft["status"], draft["leadId"], draft["attempts"], draft["openCount"]) == ("draft", LEAD, 0, 0)
    assert draft["targetId"].startswith("otg_")
    sent = expect(api.post(f"/outreach-targets/{draft['targetId']}/send"), 200)
    assert (sent["status"], sent["resultCode"], sent["smtpCode"], sent["senderMode"]) == (
        "sent",
        "SMTP_SENT",
        250,
        "smtp",
    )
    [received] = messages_to(smtp, draft["targetId"])
    message = received.message
    assert str(message["Message-ID"]).strip() == sent["messageId"]
    assert message["Subject"] == "HubFlow on ProcurePilot's shortlists"
    assert message["From"] == "Outreach <outreach@promotion-agent.test>"
    assert message["Reply-To"] == "partners@promotion-agent.test"
    campaign = expect(api.get("/campaigns/cmp_hubflow"), 200)
    text, html = text_and_html(message)
    assert text.startswith(f"Dear ProcurePilot,\n\n{campaign['offer']['title']} would like to work with you.")
    assert campaign["disclosureText"] in text and campaign["disclosureText"] in html
    assert campaign["proofBundle"]["references"][0]["url"] in html
    assert f'<img src="{TRACKING}/outreach/open/{draft["targetId"]}/pixel.gif" width="1" height="1"' in html
    again = api.post(f"/outreach-targets/{draft['targetId']}/send")
    assert "not sent twice" in error_body(again)["message"] and again.status_code == 409
    assert again.json()["target"]["status"] == "sent"
    assert len(messages_to(smtp, draft["targetId"])) == 1
    trail = expect(api.get("/audit-trail", params={"entityId": draft["targetId"], "pageSize": 20}), 200)
    assert [(e["action"], e["details"].get("to")) for e in reversed(trail["items"])] == [
        ("outreach.target_created", "draft"),
        ("outreach.sending", "sending"),
        ("outreach.sent", "sent"),
    ]
    assert {e["actorId"] for e in trail["items"]} == {OPERATOR["name"]}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"contactPoint": "partners@example.com"}, "contactPoint"),
        ({"contactPoint": "bd@example.org"}, "contactPoint"),
        ({"contactPoint": ""}, "contactPoint"),
        ({"contactPoint": "not an address"}, "contactPoint"),
        ({"subjectLine": "Hello\r\nBcc: everyone@elsewhere.test"}, "subjectLine"),
        ({"contactPoint": "bizdev@procurepilot.ai\r\nBcc: everyone@elsewhere.test"}, "contactPoint"),
        ({"messageTemplate": "Hi {{firstName}}"}, "messageTemplate"),
        ({"campaignId": "cmp_nobody"}, "campaignId"),
        ({"channel": "E-Mail!"}, "channel"),
        ({"subjectLine": 7}, "subjectLine"),
    ],
)
def test_bad_drafts_are_400_naming_the_field(api: httpx.Client, changes: dict[str, Any], field: str) -> None:
    refused = api.post(f"/agent-leads/{LEAD}/outreach", json=body(**changes))
    assert refused.status_code == 400 and error_body(refused)["field"] == field, refused.text


def test_unknown_ids_are_404_and_bad_filters_400(api: httpx.Client) -> None:
    assert "lead_nobody" in error_body(api.post("/agent-leads/lead_nobody/outreach", json=body()))["message"]
    assert api.post("/agent-leads/lead_nobody/outreach", json=body()).status_code == 404
    assert api.post("/outreach-targets/otg_nobody/send").status_code == 404
    assert api.get("/outreach-targets/otg_nobody").status_code == 404
    bad = api.get("/outreach-targets", params={"status": "delivered"})
    assert bad.status_code == 400 and error_body(bad)["field"] == "status"


def test_other_channels_are_kept_but_409_on_send(api: httpx.Client, smtp: SmtpServer) -> None:
    target = create(api, channel="linkedin", contactPoint="https://www.linkedin.com/company/procurepilot")
    refused = api.post(f"/outreach-targets/{target['targetId']}/send")
    assert refused.status_code == 409 and "only email and partner_intro" in error_body(refused)["message"]
    assert expect(api.get(f"/outreach-targets/{target['targetId']}"), 200)["status"] == "draft"
    intro = create(api, channel="partner_intro")
    assert expect(api.post(f"/outreach-targets/{intro['targetId']}/send"), 200)["status"] == "sent"
    assert messages_to(smtp, target["targetId"]) == [] and len(messages_to(smtp, intro["targetId"])) == 1


def test_concurrent_sends_deliver_exactly_one_message(api: httpx.Client, smtp: SmtpServer) -> None:
    target = create(api)
    smtp.answer(delay_s=0.3)
    url = f"/outreach-targets/{target['targetId']}/send"
    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(lambda _: api.post(url).status_code, range(8)))
    assert statuses == [200] + [409] * 7
    assert len(messages_to(smtp, target["targetId"])) == 1
    stored = expect(api.get(f"/outreach-targets/{target['targetId']}"), 200)
    assert (stored["status"], stored["attempts"]) == ("sent", 1)


def test_a_451_is_scheduled_for_retry_and_a_550_bounces(api: httpx.Client, smtp: SmtpServer) -> None:
    lead = "lead_crm_cn"
    later, gone = create(api, lead), create(api, lead, contactPoint="nobody@growthdesk.ai")
    smtp.answer(rcpt="451 4.7.1 Greylisted, come back later")
    retry = expect(api.post(f"/outreach-targets/{later['targetId']}/send"), 200)
    assert (retry["status"], retry["resultCode"], retry["smtpCode"]) == (
        "retry_scheduled",
        "SMTP_RETRYABLE",
        451,
    )
    assert "Greylisted" in retry["smtpReply"] and retry["nextAttemptAt"] > retry["updatedAt"]
    smtp.answer(rcpt="550 5.1.1 <nobody@growthdesk.ai>: no such user")
    bounced = expect(api.post(f"/outreach-targets/{gone['targetId']}/send"), 200)
    assert (bounced["status"], bounced["resultCode"], bounced["smtpCode"]) == ("bounced", "SMTP_BOUNCED", 550)
    assert "no such user" in bounced["smtpReply"]
    assert api.post(f"/outreach-targets/{gone['targetId']}/send").status_code == 409
    smtp.answer()
    assert expect(api.post(f"/outreach-targets/{later['targetId']}/send"), 200)["status"] == "sent"
    listed = expect(api.get("/outreach-targets", params={"leadId": lead}), 200)
    assert {t["targetId"]: t["status"] for t in listed} == {
        later["targetId"]: "sent",
        gone["targetId"]: "bounced",
    }
    only = expect(api.get("/outreach-targets", params={"leadId": lead, "status": "bounced"}), 200)
    assert [t["targetId"] for t in only] == [gone["targetId"]]
    trail = expect(api.get("/audit-trail", params={"entityId": later["targetId"]}), 200)
    assert [e["action"] for e in reversed(trail["items"])] == [
        "outreach.target_created",
        "outreach.sending",
        "outreach.retry_scheduled",
        "outreach.sending",
        "outreach.sent",
    ]


def test_the_pixel_counts_opens_needs_no_key_and_reveals_nothing(
    api: httpx.Client, outreach_server: ServerProcess
) -> None:
    target = create(api)
    expect(api.post(f"/outreach-targets/{target['targetId']}/send"), 200)
    with httpx.Client(base_url=outreach_server.base_url, timeout=20) as anonymous:  # reads need a key here
        assert anonymous.get("/outreach-targets").status_code == 401
        real = [anonymous.get(f"/outreach/open/{target['targetId']}/pixel.gif") for _ in range(2)]
        unknown = anonymous.get("/outreach/open/otg_nobody/pixel.gif")
        odd = anonymous.get("/outreach/open/" + "x" * 300 + "/pixel.gif")
    for response in (*real, unknown, odd):
        assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
        assert response.content.startswith(b"GIF89a") and response.content[6:10] == b"\x01\x00\x01\x00"
        assert "no-store" in response.headers["cache-control"] and response.headers["pragma"] == "no-cache"
    assert len({r.content for r in (*real, unknown, odd)}) == 1
    assert set(real[0].headers) == set(unknown.headers)  # the same headers, whether the id exists or not
    opened = expect(api.get(f"/outreach-targets/{target['targetId']}"), 200)
    assert opened["openCount"] == 2 and opened["firstOpenedAt"] <= opened["lastOpenedAt"]


def test_operator_keys_are_needed_and_the_password_is_shown_nowhere(
    api: httpx.Client, outreach_server: ServerProcess
) -> None:
    with httpx.Client(base_url=outreach_server.base_url, timeout=20) as anonymous:
        assert anonymous.post(f"/agent-leads/{LEAD}/outreach", json=body()).status_code == 401
        assert (
            anonymous.post(f"/agent-leads/{LEAD}/outreach", json=body(), headers=bearer(AGENT)).status_code
            == 403
        )
        assert anonymous.post("/outreach-targets/otg_x/send", headers=bearer(AGENT)).status_code == 403
        expect(anonymous.get("/outreach-targets", headers=bearer(AGENT)), 200)
    target = create(api)
    expect(api.post(f"/outreach-targets/{target['targetId']}/send"), 200)
    answers = [
        api.get("/outreach-targets").text,
        api.get("/audit-trail", params={"pageSize": 100}).text,
        api.get("/system/runtime-profile").text,
        api.get("/schema/openapi.json").text,
    ]
    assert all(PASSWORD not in text for text in answers)
    assert PASSWORD not in outreach_server.output()


def test_the_cli_sends_a_leads_due_targets(
    api: httpx.Client, outreach_server: ServerProcess, smtp: SmtpServer
) -> None:
    first, second = create(api, "lead_crm_cn"), create(api, "lead_crm_cn", channel="partner_intro")
    create(api, "lead_crm_cn", channel="linkedin", contactPoint="https://www.linkedin.com/company/growthdesk")
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_VARS and not k.startswith("OUTREACH_")}
    env.update(outreach_server.env)
    env.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{outreach_server.database_path}")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "server", "outreach", "send", *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = run("--lead", "lead_crm_cn")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert any(
        line.startswith(f"{first['targetId']} email ") and " sent SMTP_SENT 250 <" in line for line in lines
    )
    assert any(line.startswith(f"{second['targetId']} partner_intro ") and " sent " in line for line in lines)
    assert lines[-1] == "lead_crm_cn: 2 sent (smtp sender)"
    assert len(messages_to(smtp, first["targetId"])) == len(messages_to(smtp, second["targetId"])) == 1
    assert expect(api.get(f"/outreach-targets/{first['targetId']}"), 200)["status"] == "sent"
    again = run("--lead", "lead_crm_cn")
    assert again.returncode == 0 and "no outreach target is due" in again.stdout
    unknown = run("--lead", "lead_nobody")
    assert (
        unknown.returncode == 2
        and unknown.stderr.strip() == "promotion-agent: Agent lead lead_nobody was not found."
    )
    assert PASSWORD not in done.stdout + done.stderr


def test_real_test_refuses_an_explicit_simulated_sender_at_start(tmp_path: Any) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_VARS}
    env.update(
        APP_MODE="real_test",
        OUTREACH_SENDER_MODE="simulated",
        HOST="127.0.0.1",
        PORT="0",
        DATABASE_URL=f"sqlite:///{tmp_path}/rt.sqlite3",
        REDIS_URL="redis://127.0.0.1:9/0",
        BILLING_ADAPTER_URL="http://127.0.0.1:9",
    )
    refused = subprocess.run(
        [sys.executable, "-m", "server", "serve"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert (
        refused.stderr.strip()
        .splitlines()[-1]
        .startswith("promotion-agent: OUTREACH_SENDER_MODE=simulated is refused in real_test mode")
    )
