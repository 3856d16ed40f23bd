"""Regenerate the operator pages' screenshots (docs/dlq.png, docs/audit.png, docs/plans-wallet.png).

    .venv/bin/python docs/screenshots.py [--out docs]

Starts a real server on 127.0.0.1 (its own SQLite file in a temporary folder) whose billing provider
refuses every settlement and whose Stripe is the local stand-in (``server/mocks/stripe.py``), seeds it
through the API (dead letters, one replayed, one resolved and one ignored with notes; receipts that
consume credits), then opens each page in Debian's headless chromium (``/usr/bin/chromium``, driven by
Playwright) and saves it. The wallet is topped up through the page: Stripe Checkout, Pay, and back.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from playwright.sync_api import Page, ViewportSize, sync_playwright  # noqa: E402

from server.mocks.stripe import StripeMock  # noqa: E402
from tests.support import BillingStub, receipt, start_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
STRIPE_KEY = "sk_test_screenshots_0123456789"
VIEWPORT: ViewportSize = {"width": 1400, "height": 760}


def seed(api: httpx.Client) -> str:
    """Eight dead letters (three acted on) and a few receipts that consume credits; a trace id to show."""
    for _ in range(8):
        api.post("/events/receipts", json=receipt(eventType="shortlisted")).raise_for_status()
    for event in ("presented", "viewed", "interacted"):
        api.post("/events/receipts", json=receipt(eventType=event)).raise_for_status()
    api.post("/settlements/retry-queue/process", json={"limit": 50}).raise_for_status()
    entries = api.get("/settlements/dlq", params={"pageSize": 50}).json()["items"]
    replay, resolve, ignore = (e["dlqEntryId"] for e in entries[:3])
    body = {"resolutionNote": "account reopened"}
    api.post(f"/settlements/dlq/{replay}/replay", json=body).raise_for_status()
    body = {"status": "resolved", "resolutionNote": "paid by bank transfer"}
    api.post(f"/settlements/dlq/{resolve}/resolve", json=body).raise_for_status()
    body = {"status": "ignored", "resolutionNote": "duplicate receipt"}
    api.post(f"/settlements/dlq/{ignore}/resolve", json=body).raise_for_status()
    return entries[0]["traceId"]


def top_up_through_stripe(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/plans-wallet?workspaceId=workspace_default")
    page.get_by_label("Credits to buy").fill("500")
    page.get_by_label("Credits to buy").press("Enter")
    page.wait_for_url("**/pay/*")
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(f"{base_url}/plans-wallet?workspaceId=workspace_default")
    page.get_by_text("Payment confirmed").wait_for()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the operator pages' screenshots.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the PNG files go (docs/)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    billing = BillingStub()
    billing.respond(200, {"status": "failed", "code": "FAILED", "message": "Account closed."})
    stripe = StripeMock(api_key=STRIPE_KEY).serve()
    with tempfile.TemporaryDirectory() as folder:
        env = {"BILLING_ADAPTER_URL": billing.url, "STRIPE_SECRET_KEY": STRIPE_KEY,
               "STRIPE_API_BASE": stripe.base_url, "STRIPE_PRICE_PER_CREDIT_CENTS": "10"}  # fmt: skip
        server = start_server(Path(folder), env)
        try:
            with httpx.Client(base_url=server.base_url, timeout=20) as api:
                trace_id = seed(api)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM)
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(f"{server.base_url}/dlq.html?pageSize=10")
                page.locator("#dlq-rows tr[data-entry-id]").first.wait_for()
                page.screenshot(path=args.out / "dlq.png", full_page=True)
                page.goto(f"{server.base_url}/audit.html?traceId={trace_id}&page=1&pageSize=20")
                page.locator("#audit-rows tr[data-event-id]").first.wait_for()
                page.screenshot(path=args.out / "audit.png", full_page=True)
                top_up_through_stripe(page, server.base_url)
                page.locator("#plan-rows tr").first.wait_for()
                page.screenshot(path=args.out / "plans-wallet.png", full_page=True)
                browser.close()
        finally:
            server.stop()
            stripe.stop()
            billing.stop()
    for name in ("dlq.png", "audit.png", "plans-wallet.png"):
        print(args.out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
