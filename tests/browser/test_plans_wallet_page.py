"""/plans-wallet in headless chromium: a top-up credited at once (no Stripe), and with Stripe (the local
server speaking Stripe's wire format, ``server/mocks/stripe.py``) and API keys: the operator key asked for
once and kept for the tab, the redirect to ``checkoutUrl``, paying there, and the return that confirms.

Each result is read in the page and through the API.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from server.mocks.stripe import StripeMock
from tests.e2e.test_api_keys import AGENT, OPERATOR, toml_keys
from tests.support import ServerProcess, uid
from tests.support import expect as answer

from .conftest import number, serve

STRIPE_KEY = "sk_test_pages_0123456789abcdef"


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Default mode, no Stripe, no keys: a top-up credits the wallet at once (201 with the wallet)."""
    process = serve(tmp_path_factory.mktemp("plain-server"))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def stripe() -> Iterator[StripeMock]:
    mock = StripeMock(api_key=STRIPE_KEY).serve()
    yield mock
    mock.stop()


@pytest.fixture(scope="module")
def stripe_server(tmp_path_factory: pytest.TempPathFactory, stripe: StripeMock) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("stripe-server")
    keys = folder / "api-keys.toml"
    keys.write_text(toml_keys(OPERATOR, AGENT), encoding="utf-8")
    process = serve(folder, {
        "STRIPE_SECRET_KEY": STRIPE_KEY, "STRIPE_API_BASE": stripe.base_url, "STRIPE_CURRENCY": "eur",
        "STRIPE_PRICE_PER_CREDIT_CENTS": "25", "API_KEYS_FILE": str(keys), "API_KEYS_PROTECT_READS": "1",
    })  # fmt: skip
    yield process
    process.stop()


def wallet(base_url: str, workspace: str, key: str | None = None) -> dict:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return answer(httpx.get(f"{base_url}/wallet", params={"workspaceId": workspace}, headers=headers), 200)


def ledger(base_url: str, workspace: str, key: str | None = None) -> list[dict]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return answer(
        httpx.get(f"{base_url}/wallet/ledger", params={"workspaceId": workspace}, headers=headers), 200
    )


def test_a_top_up_without_stripe_credits_at_once(page: Page, plain_server: ServerProcess) -> None:
    workspace = uid("ws")
    page.goto(f"{plain_server.base_url}/plans-wallet?workspaceId={workspace}")
    expect(page.locator("#wallet-workspace")).to_have_text(workspace)
    expect(page.locator("#wallet-available")).to_have_text("100")  # the promotional grant of a new wallet
    expect(page.locator("#plan-rows tr")).to_have_count(4)
    plans = answer(httpx.get(f"{plain_server.base_url}/plans"), 200)
    assert page.locator("#plan-rows th").all_inner_texts() == [p["name"] for p in plans]

    page.get_by_label("Credits to buy").fill("25")
    page.get_by_label("Credits to buy").press("Enter")
    expect(page.get_by_role("status")).to_have_text(
        f"Credited 25 credits to {workspace}. The balance is now 125 credits."
    )
    expect(page.locator("#wallet-available")).to_have_text("125")
    stored = wallet(plain_server.base_url, workspace)
    assert stored["availableCredits"] == number(page.locator("#wallet-available").inner_text()) == 125.0
    newest = ledger(plain_server.base_url, workspace)[0]
    first_row = page.locator("#ledger-rows tr").first
    assert first_row.get_attribute("data-entry-id") == newest["entryId"]
    assert first_row.locator("td").all_inner_texts()[1:4] == ["top_up", "+25", "125"]
    assert (newest["entryType"], newest["amount"], newest["balanceAfter"]) == ("top_up", 25.0, 125.0)

    # A refused top-up: the server's message in the alert region, nothing credited.
    page.get_by_label("Credits to buy").evaluate("input => input.removeAttribute('max')")
    page.get_by_label("Credits to buy").fill("1000001")
    page.get_by_role("button", name="Top up").click()
    expect(page.get_by_role("alert")).to_contain_text("→ 400: ")
    expect(page.get_by_role("alert")).to_contain_text("credits")
    assert wallet(plain_server.base_url, workspace)["availableCredits"] == 125.0


def test_stripe_checkout_with_the_operator_key_asked_once(
    page: Page, stripe_server: ServerProcess, stripe: StripeMock
) -> None:
    base, workspace = stripe_server.base_url, uid("ws")
    page.goto(f"{base}/plans-wallet?workspaceId={workspace}")
    # Reads need a key on this server: the page's three reads wait on one question.
    expect(page.get_by_label("Operator key")).to_be_focused()
    expect(page.locator("#key-form")).to_have_count(1)
    expect(page.locator("#key-form")).to_contain_text("This endpoint needs an API key")
    page.keyboard.type(AGENT["key"])  # an agent key reads, but cannot top up
    page.keyboard.press("Enter")
    expect(page.locator("#wallet-available")).to_have_text("100")
    expect(page.locator("#key-form")).to_have_count(0)

    page.get_by_label("Credits to buy").fill("40")
    page.get_by_label("Credits to buy").press("Enter")
    expect(page.locator("#key-form")).to_contain_text("has the agent role")  # asked again: the role is wrong
    expect(page.locator("#key-state")).to_have_text("")  # the refused key is forgotten
    page.get_by_label("Operator key").fill(OPERATOR["key"])
    page.get_by_role("button", name="Use this key").click()

    # Off to Checkout (the local Stripe's hosted page), paid there, and back.
    page.wait_for_url(f"{stripe.base_url}/pay/*")
    session_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("heading")).to_have_text("Pay 10.00 EUR")  # 40 credits at 25 cents
    assert wallet(base, workspace, OPERATOR["key"])["availableCredits"] == 100.0  # nothing before payment
    page.get_by_role("button", name="Pay").click()

    page.wait_for_url(
        f"{base}/plans-wallet?workspaceId={workspace}"
    )  # confirmed: the session left the address
    expect(page.get_by_role("status")).to_have_text(
        f"Payment confirmed: 40 credits added to {workspace}. The balance is now 140 credits."
    )
    expect(page.locator("#wallet-available")).to_have_text("140")
    expect(page.locator("#key-form")).to_have_count(0)  # the key was kept for the tab: not asked again
    assert page.evaluate("sessionStorage.getItem('promotion-agent.operator-key')") == OPERATOR["key"]
    expect(page.locator("#key-state")).to_contain_text("Operator key kept for this tab.")
    assert wallet(base, workspace, OPERATOR["key"])["availableCredits"] == 140.0
    entries = [(e["entryType"], e["amount"], e["source"]) for e in ledger(base, workspace, OPERATOR["key"])]
    assert entries[0] == ("top_up", 40.0, f"stripe.checkout:{session_id}")
    expect(page.locator("#ledger-rows tr").first.locator("code")).to_have_text(
        f"stripe.checkout:{session_id}"
    )

    # Coming back to the same return address again credits nothing more.
    page.goto(f"{base}/plans-wallet?checkout=success&workspaceId={workspace}&session_id={session_id}")
    expect(page.get_by_role("status")).to_have_text(
        "This payment was credited already (40 credits). The balance is 140 credits."
    )
    assert wallet(base, workspace, OPERATOR["key"])["availableCredits"] == 140.0


def test_cancelling_the_key_question_does_nothing_and_says_so(
    page: Page, stripe_server: ServerProcess
) -> None:
    page.goto(f"{stripe_server.base_url}/dlq.html")
    expect(page.locator("#key-form")).to_contain_text("The server refused GET /settlements/dlq")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("alert")).to_have_text(
        "GET /settlements/dlq needs an operator key; nothing was done."
    )
    expect(page.locator("#key-form")).to_have_count(0)
    assert page.evaluate("sessionStorage.length") == 0

    page.reload()  # not kept: asked again
    page.get_by_label("Operator key").fill(OPERATOR["key"])
    page.get_by_label("Operator key").press("Enter")
    expect(page.locator("#dlq-rows")).to_have_text("No dead letters match these filters.")
    expect(page.get_by_role("alert")).to_be_hidden()


def test_the_pages_are_open_on_a_keyed_server_and_stay_out_of_the_openapi_document(
    stripe_server: ServerProcess,
) -> None:
    with httpx.Client(base_url=stripe_server.base_url, timeout=20) as client:
        assert client.get("/wallet").status_code == 401  # reads need a key on this server
        for path in ("/dlq.html", "/audit.html", "/plans-wallet"):
            page = client.get(path)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), path
            assert "default-src 'self'" in page.headers["content-security-policy"]
            assert "<script" in page.text and "http" not in page.text.replace("http-equiv", "")  # no CDN
        script = client.get("/static/operator.js")
        assert script.status_code == 200 and "sessionStorage" in script.text
        assert client.get("/static/missing.js").status_code == 404
        documented = answer(client.get("/schema/openapi.json"), 200)["paths"]
        assert not [p for p in documented if p.startswith("/static") or p in ("/dlq.html", "/audit.html")]
        assert "/plans-wallet" not in documented
