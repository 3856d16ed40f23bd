"""Wallet top-ups with Stripe (api.md "Wallet and Stripe"), against real server processes on SQLite and
PostgreSQL and a local Stripe on 127.0.0.1 speaking Stripe's wire format (``server/mocks/stripe.py``),
which the server's real ``stripe`` library reaches through ``STRIPE_API_BASE``.

The Checkout Session as the contract says; confirm refusing an unpaid session, another workspace's and
an unknown one; fifty confirms and webhooks at once crediting a session once; webhook signatures made
here the way Stripe makes them (bad ones 400, no API key needed); the hosted page's signed webhook;
and without Stripe: default credits at once, real_test answers 503.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.mocks.stripe import StripeMock
from tests.support import ServerProcess, error_body, expect, uid

from .conftest import StartServer
from .test_api_keys import AGENT, OPERATOR, bearer, toml_keys

SECRET_KEY = "sk_test_e2e_0123456789abcdef"
WEBHOOK_SECRET = "whsec_e2e_0123456789abcdef"
PRICE_CENTS = 25


def stripe_signature(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """``Stripe-Signature`` as Stripe computes it: ``t=…,v1=hex HMAC-SHA256(secret, "{t}.{payload}")``."""
    t = int(time.time()) if at is None else at
    v1 = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={v1}"


def completed(session: dict[str, Any], event_type: str = "checkout.session.completed") -> bytes:
    event = {"id": uid("evt"), "object": "event", "type": event_type, "created": int(time.time()),
             "livemode": False, "data": {"object": session}}  # fmt: skip
    return json.dumps(event).encode()


def webhook(api: httpx.Client, payload: bytes, signature: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["stripe-signature"] = signature
    return api.post("/webhooks/stripe", content=payload, headers=headers)


@pytest.fixture(scope="module")
def stripe() -> Iterator[StripeMock]:
    mock = StripeMock(api_key=SECRET_KEY).serve()
    yield mock
    mock.stop()


@pytest.fixture(scope="module")
def stripe_server(
    module_server_factory: StartServer, stripe: StripeMock, tmp_path_factory: pytest.TempPathFactory
) -> ServerProcess:
    keys = tmp_path_factory.mktemp("keys") / "api-keys.toml"
    keys.write_text(toml_keys(OPERATOR, AGENT), encoding="utf-8")
    return module_server_factory({
        "STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_API_BASE": stripe.base_url,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_PRICE_PER_CREDIT_CENTS": str(PRICE_CENTS), "STRIPE_CURRENCY": "eur",
        "STRIPE_TOP_UP_PRODUCT_NAME": "Exchange credits", "API_KEYS_FILE": str(keys),
    })  # fmt: skip


@pytest.fixture(scope="module")
def stripe_api(stripe_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stripe_server.base_url, timeout=20) as client:
        yield client


def checkout(api: httpx.Client, workspace: str, credits: int) -> dict[str, Any]:
    body = {"workspaceId": workspace, "credits": credits}
    return expect(api.post("/wallet/top-ups/checkout", json=body, headers=bearer(OPERATOR)), 201)


def balance(api: httpx.Client, workspace: str) -> float:
    return expect(api.get("/wallet", params={"workspaceId": workspace}), 200)["availableCredits"]


def top_up_entries(api: httpx.Client, workspace: str) -> list[tuple[str, float, str]]:
    entries = expect(api.get("/wallet/ledger", params={"workspaceId": workspace}), 200)
    return [(e["entryType"], e["amount"], e["source"]) for e in entries if e["entryType"] == "top_up"]


def test_checkout_creates_the_session_the_contract_describes(
    stripe_api: httpx.Client, stripe: StripeMock, stripe_server: ServerProcess
) -> None:
    workspace = uid("ws")
    started = checkout(stripe_api, workspace, 40)
    assert started["provider"] == "stripe" and started["sessionId"].startswith("cs_test_")
    assert started["checkoutUrl"] == f"{stripe.base_url}/pay/{started['sessionId']}"
    sent = stripe.created[-1]  # what the stripe library put on the wire, form-decoded
    assert sent["mode"] == "payment"
    assert sent["line_items"] == [{
        "quantity": "1",
        "price_data": {"currency": "eur", "unit_amount": str(40 * PRICE_CENTS),
                       "product_data": {"name": "Exchange credits"}},
    }]  # fmt: skip
    assert sent["metadata"] == {"workspaceId": workspace, "credits": "40", "kind": "wallet_top_up"}
    assert sent["success_url"] == (
        f"{stripe_server.base_url}/plans-wallet?checkout=success&workspaceId={workspace}"
        "&session_id={CHECKOUT_SESSION_ID}"
    )
    assert stripe.sessions[started["sessionId"]]["amount_total"] == 1000
    assert balance(stripe_api, workspace) == 100.0  # nothing is credited before Stripe says it is paid


def test_checkout_needs_an_operator_key_and_whole_credits(stripe_api: httpx.Client) -> None:
    body = {"workspaceId": uid("ws"), "credits": 10}
    assert stripe_api.post("/wallet/top-ups/checkout", json=body).status_code == 401
    assert stripe_api.post("/wallet/top-ups/checkout", json=body, headers=bearer(AGENT)).status_code == 403
    for credits in (0, -5, 1.5, "10", 1_000_001):
        body = {"credits": credits}
        bad = stripe_api.post("/wallet/top-ups/checkout", json=body, headers=bearer(OPERATOR))
        assert bad.status_code == 400 and error_body(bad)["field"] == "credits", (credits, bad.text)


def test_confirm_refuses_an_unpaid_session_another_workspace_and_an_unknown_one(
    stripe_api: httpx.Client, stripe: StripeMock
) -> None:
    workspace = uid("ws")
    session_id = checkout(stripe_api, workspace, 30)["sessionId"]
    params = {"sessionId": session_id, "workspaceId": workspace}
    unpaid = stripe_api.get("/wallet/top-ups/confirm", params=params)
    assert unpaid.status_code == 409 and error_body(unpaid)["paymentStatus"] == "unpaid", unpaid.text
    stripe.pay(session_id)
    other = stripe_api.get("/wallet/top-ups/confirm", params={**params, "workspaceId": uid("ws")})
    assert other.status_code == 409 and error_body(other)["field"] == "workspaceId", other.text
    unknown = stripe_api.get("/wallet/top-ups/confirm", params={**params, "sessionId": "cs_test_none"})
    assert unknown.status_code == 404 and error_body(unknown)["field"] == "sessionId"
    assert balance(stripe_api, workspace) == 100.0 and top_up_entries(stripe_api, workspace) == []

    confirmed = expect(stripe_api.get("/wallet/top-ups/confirm", params=params), 200)
    assert (confirmed["credited"], confirmed["credits"]) == (True, 30)
    assert confirmed["wallet"]["availableCredits"] == 130.0
    again = expect(stripe_api.get("/wallet/top-ups/confirm", params=params), 200)
    assert (again["credited"], again["wallet"]["availableCredits"]) == (False, 130.0)


async def test_fifty_confirms_and_webhooks_at_once_credit_a_session_once(
    stripe_api: httpx.Client, stripe: StripeMock, stripe_server: ServerProcess
) -> None:
    workspace = uid("ws")
    session_id = checkout(stripe_api, workspace, 75)["sessionId"]
    session = stripe.pay(session_id)
    payload = completed(session)
    params = {"sessionId": session_id, "workspaceId": workspace}
    headers = {"content-type": "application/json", "stripe-signature": stripe_signature(payload)}
    async with httpx.AsyncClient(base_url=stripe_server.base_url, timeout=60) as client:
        calls = [client.get("/wallet/top-ups/confirm", params=params) for _ in range(25)]
        calls += [client.post("/webhooks/stripe", content=payload, headers=headers) for _ in range(25)]
        answers = await asyncio.gather(*calls)
    refused = [a.text[:200] for a in answers if a.status_code != 200]
    assert not refused, refused
    assert sum(a.json()["credited"] for a in answers) == 1
    assert balance(stripe_api, workspace) == 175.0
    assert top_up_entries(stripe_api, workspace) == [("top_up", 75.0, f"stripe.checkout:{session_id}")]


def test_a_webhook_needs_a_good_signature_and_no_api_key(
    stripe_api: httpx.Client, stripe: StripeMock
) -> None:
    workspace = uid("ws")
    session = stripe.pay(checkout(stripe_api, workspace, 20)["sessionId"])
    payload = completed(session)
    tampered = payload.replace(b'"20"', b'"2000"')
    assert tampered != payload
    for body, signature in [
        (payload, stripe_signature(payload, secret="whsec_someone_else")),
        (tampered, stripe_signature(payload)),
        (payload, stripe_signature(payload, at=int(time.time()) - 3600)),  # replayed an hour later
        (payload, "not a signature"),
    ]:
        refused = webhook(stripe_api, body, signature)
        assert refused.status_code == 400 and error_body(refused)["field"] == "Stripe-Signature", refused.text
    missing = webhook(stripe_api, payload, None)
    assert missing.status_code == 400 and "stripe-signature" in error_body(missing)["message"]
    assert balance(stripe_api, workspace) == 100.0

    # No key (the server has API keys): Stripe's signature is the authentication.
    accepted = expect(webhook(stripe_api, payload, stripe_signature(payload)), 200)
    assert accepted == {**accepted, "eventType": "checkout.session.completed", "credited": True}
    assert balance(stripe_api, workspace) == 120.0
    # Other verified events are acknowledged and change nothing; so is a session that is not paid yet.
    other = completed(session, "checkout.session.expired")
    assert expect(webhook(stripe_api, other, stripe_signature(other)), 200)["credited"] is False
    unpaid_session = stripe.sessions[checkout(stripe_api, workspace, 5)["sessionId"]]
    unpaid = completed(unpaid_session)
    ignored = expect(webhook(stripe_api, unpaid, stripe_signature(unpaid)), 200)
    assert ignored["credited"] is False and "not paid" in ignored["ignoredReason"]
    assert balance(stripe_api, workspace) == 120.0


def test_paying_on_the_hosted_page_sends_the_buyer_back_and_a_signed_webhook(
    stripe_api: httpx.Client, stripe: StripeMock, stripe_server: ServerProcess
) -> None:
    workspace = uid("ws")
    started = checkout(stripe_api, workspace, 12)
    page = httpx.get(started["checkoutUrl"])
    assert page.status_code == 200 and "Pay 3.00 EUR" in page.text
    stripe.webhook_url, stripe.webhook_secret = f"{stripe_server.base_url}/webhooks/stripe", WEBHOOK_SECRET
    try:
        paid = httpx.post(started["checkoutUrl"])
    finally:
        stripe.webhook_url = None
    assert paid.status_code == 303
    assert paid.headers["location"] == (
        f"{stripe_server.base_url}/plans-wallet?checkout=success&workspaceId={workspace}"
        f"&session_id={started['sessionId']}"
    )
    assert balance(stripe_api, workspace) == 112.0  # credited by the webhook, before the buyer is back
    params = {"sessionId": started["sessionId"], "workspaceId": workspace}
    assert expect(stripe_api.get("/wallet/top-ups/confirm", params=params), 200)["credited"] is False


# ---------------------------------------------------------------------------
# Without Stripe
# ---------------------------------------------------------------------------


def test_without_stripe_default_mode_credits_at_once(api: httpx.Client) -> None:
    workspace = uid("ws")
    wallet = expect(api.post("/wallet/top-ups/checkout", json={"workspaceId": workspace, "credits": 15}), 201)
    assert (wallet["workspaceId"], wallet["availableCredits"]) == (workspace, 115.0)
    expect(api.post("/wallet/top-ups/checkout", json={"workspaceId": workspace, "credits": 15}), 201)
    entries = top_up_entries(api, workspace)
    assert [(t, amount) for t, amount, _ in entries] == [("top_up", 15.0), ("top_up", 15.0)]
    assert len({source for *_, source in entries}) == 2
    confirm = api.get("/wallet/top-ups/confirm", params={"sessionId": "cs_test_x"})
    assert confirm.status_code == 404 and "STRIPE_SECRET_KEY" in error_body(confirm)["message"]
    payload = completed({"id": "cs_test_x"})
    assert webhook(api, payload, stripe_signature(payload)).status_code == 404


def test_without_stripe_real_test_answers_503(
    start_server: StartServer, tmp_path: Path, redis_url: str
) -> None:
    # real_test starts only with all its backends named (nothing here bills: the provider is never called)
    server = start_server(
        {
            "PROMOTION_AGENT_MODE": "real_test",
            "REDIS_URL": redis_url,
            "BILLING_ADAPTER_URL": "http://127.0.0.1:9/settlements",
        }
    )
    with httpx.Client(base_url=server.base_url, timeout=20) as client:
        refused = client.post("/wallet/top-ups/checkout", json={"workspaceId": "ws_real", "credits": 10})
        assert refused.status_code == 503 and "STRIPE_SECRET_KEY" in error_body(refused)["message"]
        assert balance(client, "ws_real") == 100.0
