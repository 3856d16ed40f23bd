"""API keys (issue #9, point 4): operators and agents, over HTTP against real server processes.

A keys file with an operator and an agent key; anonymous calls, the wrong role, both header
forms, unknown keys; reads open by default and closed with API_KEYS_PROTECT_READS; the key's
name as the audit trail's actorId; and the start-up refusals (no keys off loopback, a bad file).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import (
    REPO_ROOT,
    SERVER_ENV_VARS,
    ServerProcess,
    campaign_draft,
    error_body,
    expect,
    free_port,
    opportunity,
    receipt,
)

from .conftest import StartServer

OPERATOR = {"name": "ops-alice", "key": "op-e2e-0123456789abcdef", "role": "operator"}
AGENT = {"name": "buyer-bot", "key": "ag-e2e-0123456789abcdef", "role": "agent"}
AGENT_ROUTES = {("post", "/opportunities/evaluate"), ("post", "/events/receipts")}
# Authenticated by a signature over the body, never by a key (Stripe cannot send one).
SIGNED_ROUTES = {("post", "/webhooks/stripe")}


def toml_keys(*entries: dict[str, str]) -> str:
    return "".join(
        f'[[keys]]\nname = "{e["name"]}"\nkey = "{e["key"]}"\nrole = "{e["role"]}"\n\n' for e in entries
    )


def bearer(entry: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {entry['key']}"}


def header_key(entry: dict[str, str]) -> dict[str, str]:
    return {"x-api-key": entry["key"]}


def assert_unauthorized(response: httpx.Response) -> str:
    assert response.status_code == 401, f"{response.status_code}: {response.text[:300]}"
    assert response.headers.get("www-authenticate", "").startswith("Bearer")
    return error_body(response)["message"]


def assert_forbidden(response: httpx.Response, needed: str = "operator") -> str:
    assert response.status_code == 403, f"{response.status_code}: {response.text[:300]}"
    message = error_body(response)["message"]
    assert f"needs an {needed} API key" in message
    return message


def actors(api: httpx.Client, trace_id: str) -> dict[str, str]:
    """Audit action → actorId for one trace."""
    page = expect(api.get("/audit-trail", params={"traceId": trace_id, "pageSize": 100}), 200)
    return {e["action"]: e["actorId"] for e in page["items"]}


@pytest.fixture(scope="module")
def keys_toml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "api-keys.toml"
    path.write_text(toml_keys(OPERATOR, AGENT), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def keyed_server(module_server_factory: StartServer, keys_toml: Path) -> ServerProcess:
    return module_server_factory({"API_KEYS_FILE": str(keys_toml)})


@pytest.fixture(scope="module")
def keyed(keyed_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=keyed_server.base_url, timeout=15.0) as client:
        yield client


def new_campaign(api: httpx.Client) -> str:
    created = expect(api.post("/campaigns", json=campaign_draft(), headers=bearer(OPERATOR)), 201)
    return created["campaign"]["campaignId"]


# ---------------------------------------------------------------------------
# Roles
# ---------------------------------------------------------------------------


def test_activating_a_campaign_needs_an_operator_key(keyed: httpx.Client) -> None:
    campaign_id = new_campaign(keyed)
    path = f"/campaigns/{campaign_id}/activate"
    message = assert_unauthorized(keyed.post(path))
    assert "operator" in message and "Authorization: Bearer" in message and "x-api-key" in message
    message = assert_forbidden(keyed.post(path, headers=bearer(AGENT)))
    assert "'buyer-bot' has the agent role" in message
    body = expect(keyed.post(path, headers=bearer(OPERATOR)), 200)
    assert body["activated"] is True and body["campaign"]["status"] == "active"


def test_receipts_and_evaluations_need_an_agent_or_operator_key(keyed: httpx.Client) -> None:
    assert_unauthorized(keyed.post("/events/receipts", json=receipt()))
    assert_unauthorized(keyed.post("/opportunities/evaluate", json=opportunity()))
    assert expect(keyed.post("/events/receipts", json=receipt(), headers=bearer(AGENT)), 201)["receipt"]
    assert expect(keyed.post("/opportunities/evaluate", json=opportunity(), headers=bearer(AGENT)), 200)
    # an operator may do what an agent may
    expect(keyed.post("/events/receipts", json=receipt(), headers=header_key(OPERATOR)), 201)


def test_both_header_forms_are_accepted(keyed: httpx.Client) -> None:
    for headers in (bearer(AGENT), header_key(AGENT), {"authorization": f"bearer {AGENT['key']}"}):
        expect(keyed.post("/events/receipts", json=receipt(), headers=headers), 201)
    for headers in (bearer(OPERATOR), header_key(OPERATOR)):
        expect(keyed.post("/settlements/retry-queue/process", json={"limit": 1}, headers=headers), 200)


@pytest.mark.parametrize(
    ("headers", "said"),
    [
        ({"Authorization": "Bearer op-e2e-0123456789abcdeX"}, "not known to this server"),  # one off
        ({"x-api-key": "not-a-key-of-this-server"}, "not known to this server"),
        ({"Authorization": f"Bearer {OPERATOR['key']}x"}, "not known to this server"),
        ({"Authorization": f"Bearer {OPERATOR['key'][:-1]}"}, "not known to this server"),
        ({"Authorization": "Basic b3BzOnNlY3JldA=="}, "the Authorization header does not read `Bearer KEY`"),
        ({"Authorization": "Bearer"}, "the Authorization header does not read `Bearer KEY`"),
    ],
)
def test_a_wrong_key_is_401(keyed: httpx.Client, headers: dict[str, str], said: str) -> None:
    for response in (
        keyed.post("/events/receipts", json=receipt(), headers=headers),
        keyed.post("/campaigns", json=campaign_draft(), headers=headers),
    ):
        assert said in assert_unauthorized(response)
        if "not known" in said:
            assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_every_mutating_endpoint_is_protected(keyed: httpx.Client) -> None:
    """The rule is general: every non-GET route in the document needs an operator key, except the agents'
    and the signed webhook's."""
    document = expect(keyed.get("/schema/openapi.json"), 200)
    mutating = [(m, p) for p, ops in document["paths"].items() for m in ops if m not in ("get", "head")]
    assert {
        ("post", "/campaigns"),
        ("post", "/campaigns/{campaign_id}/review"),
        ("post", "/agent-leads/{lead_id}/status"),
        ("post", "/settlements/dlq/{dlq_entry_id}/resolve"),
        ("post", "/wallet/top-ups/checkout"),
        *AGENT_ROUTES,
        *SIGNED_ROUTES,
    } <= set(mutating), mutating
    for method, template in mutating:
        path = re.sub(r"\{[^}]+\}", "x_unknown", template)
        if (method, template) in SIGNED_ROUTES:  # no key needed: refused for its missing signature instead
            anonymous = keyed.request(method, path, json={})
            assert anonymous.status_code == 400 and "stripe-signature" in error_body(anonymous)["message"]
            assert "security" not in document["paths"][template][method]
            continue
        assert_unauthorized(keyed.request(method, path, json={}))
        agent = keyed.request(method, path, json={}, headers=bearer(AGENT))
        if (method, template) in AGENT_ROUTES:
            assert agent.status_code not in (401, 403), f"{method} {template}: {agent.text[:200]}"
        else:
            assert_forbidden(agent)
            operator = keyed.request(method, path, json={}, headers=bearer(OPERATOR))
            assert operator.status_code not in (401, 403), f"{method} {template}: {operator.text[:200]}"


def test_reads_stay_open_by_default(keyed: httpx.Client) -> None:
    for path in (
        "/health",
        "/campaigns",
        "/audit-trail",
        "/settlements/dlq",
        "/dashboard",
        "/wallet",
        "/wallet/ledger",
        "/schema/openapi.json",
    ):
        expect(keyed.get(path), 200)
    # a wrong key on an open endpoint is not held against the caller
    expect(keyed.get("/campaigns", headers={"x-api-key": "not-a-key-of-this-server"}), 200)


# ---------------------------------------------------------------------------
# The audit trail names the key
# ---------------------------------------------------------------------------


def test_an_operators_actions_are_audited_under_the_keys_name(keyed: httpx.Client) -> None:
    created = expect(
        keyed.post(
            "/campaigns",
            json=campaign_draft(product={"claims": ["100% guaranteed uptime"]}),
            headers=header_key(OPERATOR),
        ),
        201,
    )
    assert created["policyCheck"]["decision"] == "manual_review"
    campaign_id = created["campaign"]["campaignId"]
    body = {"decision": "approve", "note": "Checked by hand.", "actorId": "someone-else"}
    expect(keyed.post(f"/campaigns/{campaign_id}/review", json=body, headers=bearer(OPERATOR)), 200)
    audited = actors(keyed, campaign_id)
    assert audited["campaign.review.approve"] == "ops-alice"  # the key, not what the body claims
    assert audited["campaign.created"] == "ops-alice"
    assert set(audited.values()) == {"ops-alice"}


def test_an_agents_receipt_is_audited_under_the_keys_name(keyed: httpx.Client) -> None:
    body = receipt(buyerAgentId="agent-claimed-in-body")
    created = expect(keyed.post("/events/receipts", json=body, headers=bearer(AGENT)), 201)
    assert created["settlement"] is not None
    audited = actors(keyed, body["intentId"])
    assert audited["receipt.offer.shortlisted"] == "buyer-bot"
    assert audited["settlement.created"] == "buyer-bot"  # every event the request wrote
    # the same receipt again: deduplicated, still the key's name
    expect(keyed.post("/events/receipts", json=body, headers=header_key(AGENT)), 200)
    assert actors(keyed, body["intentId"])["receipt.deduplicated"] == "buyer-bot"


def test_concurrent_callers_keep_their_own_names(keyed: httpx.Client) -> None:
    """Writes from many requests are committed together on SQLite; each event still names its own key."""
    sent = [(entry, receipt()) for _ in range(12) for entry in (AGENT, OPERATOR)]

    def send(item: tuple[dict[str, str], dict[str, Any]]) -> int:
        entry, body = item
        return keyed.post("/events/receipts", json=body, headers=bearer(entry)).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(send, sent)) == {201}
    for entry, body in sent:
        assert set(actors(keyed, body["intentId"]).values()) == {entry["name"]}, entry["name"]


# ---------------------------------------------------------------------------
# The OpenAPI document
# ---------------------------------------------------------------------------


def test_the_document_declares_the_keys(keyed: httpx.Client) -> None:
    doc = expect(keyed.get("/schema/openapi.json"), 200)
    schemes = doc["components"]["securitySchemes"]
    assert {"type": "http", "scheme": "bearer"}.items() <= next(
        s for s in schemes.values() if s["type"] == "http"
    ).items()
    assert {"type": "apiKey", "in": "header", "name": "x-api-key"}.items() <= next(
        s for s in schemes.values() if s["type"] == "apiKey"
    ).items()
    activate = doc["paths"]["/campaigns/{campaign_id}/activate"]["post"]
    assert {name for requirement in activate["security"] for name in requirement} == set(schemes)
    assert {"401", "403"} <= set(activate["responses"])
    receipts = doc["paths"]["/events/receipts"]["post"]
    assert "401" in receipts["responses"] and "403" not in receipts["responses"]
    assert receipts["security"]
    for path in ("/campaigns", "/health"):
        get = doc["paths"][path]["get"]
        assert "security" not in get and "401" not in get["responses"]
    # every documented 401/403 promises the real error body
    error_schema = activate["responses"]["401"]["content"]["application/json"]["schema"]
    ref = error_schema["$ref"].split("/")[-1]
    assert "message" in doc["components"]["schemas"][ref]["properties"]


# ---------------------------------------------------------------------------
# Protected reads, a JSON keys file, non-loopback with keys
# ---------------------------------------------------------------------------


def test_protected_reads_with_a_json_keys_file(start_server: StartServer, tmp_path: Path) -> None:
    keys = tmp_path / "api-keys.json"
    keys.write_text(json.dumps({"keys": [OPERATOR, AGENT]}), encoding="utf-8")
    server = start_server({"API_KEYS_FILE": str(keys), "API_KEYS_PROTECT_READS": "1", "HOST": "0.0.0.0"})
    with httpx.Client(base_url=server.base_url, timeout=15.0) as api:
        for path in (
            "/campaigns",
            "/audit-trail",
            "/settlements",
            "/dashboard",
            "/system/runtime-profile",
            "/wallet",
            "/wallet/ledger",
        ):
            message = assert_unauthorized(api.get(path))
            assert "an API key (agent or operator)" in message
            assert_unauthorized(api.get(path, headers={"x-api-key": "not-a-key-of-this-server"}))
            expect(api.get(path, headers=header_key(AGENT)), 200)
            expect(api.get(path, headers=bearer(OPERATOR)), 200)
        expect(api.get("/health"), 200)
        expect(api.get("/schema/openapi.json"), 200)
        assert api.get("/schema/swagger").status_code == 200
        # the JSON file's keys work for writes too
        assert_forbidden(api.post("/settlements/retry-queue/process", json={}, headers=header_key(AGENT)))
        expect(api.post("/events/receipts", json=receipt(), headers=header_key(AGENT)), 201)
        doc = expect(api.get("/schema/openapi.json"), 200)
        assert doc["paths"]["/campaigns"]["get"]["security"]
        assert "security" not in doc["paths"]["/health"]["get"]


# ---------------------------------------------------------------------------
# Start-up refusals: one line, no traceback, non-zero exit
# ---------------------------------------------------------------------------


def serve(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_VARS}
    clean["PORT"] = str(free_port())
    clean["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/refused.sqlite3"
    return subprocess.run(
        [sys.executable, "-m", "server", "serve"],
        cwd=REPO_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3"])
def test_without_keys_the_server_refuses_to_listen_off_loopback(tmp_path: Path, host: str) -> None:
    result = serve({"HOST": host}, tmp_path)
    assert result.returncode == 2
    assert one_line(result) == (
        f"promotion-agent: refusing to listen on {host} without API keys: "
        "set API_KEYS_FILE (see README) or HOST=127.0.0.1"
    )
    assert not (tmp_path / "refused.sqlite3").exists()  # refused before touching the database


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        (None, None, "the file does not exist"),
        ("keys.toml", toml_keys({**AGENT, "role": "admin"}), "key #1 ('buyer-bot'): role must be operator"),
        ("keys.toml", toml_keys(OPERATOR, {**AGENT, "key": OPERATOR["key"]}), "has the same key as key #1"),
        ("keys.json", json.dumps([OPERATOR, {**AGENT, "name": OPERATOR["name"]}]), "name is also used by"),
        ("keys.json", json.dumps([{**AGENT, "key": ""}]), "has an empty key"),
        ("keys.json", json.dumps([{**AGENT, "key": "too-short"}]), "at least 16 are needed"),
        ("keys.toml", "[[keys]\n", "not valid TOML"),
    ],
)
def test_a_bad_keys_file_stops_the_start_with_one_line(
    tmp_path: Path, name: str | None, text: str | None, problem: str
) -> None:
    path = tmp_path / (name or "missing.toml")
    if text is not None:
        path.write_text(text, encoding="utf-8")
    result = serve({"API_KEYS_FILE": str(path), "HOST": "127.0.0.1"}, tmp_path)
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith(f"promotion-agent: API_KEYS_FILE {path}: "), line
    assert problem in line
    assert OPERATOR["key"] not in line and AGENT["key"] not in line


def test_protecting_reads_without_keys_is_refused(tmp_path: Path) -> None:
    line = one_line(serve({"API_KEYS_PROTECT_READS": "1", "HOST": "127.0.0.1"}, tmp_path))
    assert "API_KEYS_PROTECT_READS is set but API_KEYS_FILE is not" in line


def test_no_key_is_written_to_the_log(keyed_server: ServerProcess) -> None:
    log = keyed_server.output()
    assert "keys=api-keys(1 operator, 1 agent; reads open)" in log
    assert OPERATOR["key"] not in log and AGENT["key"] not in log
