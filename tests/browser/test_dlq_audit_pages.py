"""The dead-letter and audit pages in headless chromium, against a real server whose billing provider
refuses every settlement: twelve dead letters to filter, page through and act on, and their audit trail.

Each result is read twice: in the page (what the operator sees) and through the API.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support import BillingStub, ServerProcess, receipt
from tests.support import expect as answer

from .conftest import serve, status_text

DEAD_LETTERS = 12


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, failing_billing: BillingStub) -> Iterator[ServerProcess]:
    process = serve(tmp_path_factory.mktemp("dlq-server"), {"BILLING_ADAPTER_URL": failing_billing.url})
    with httpx.Client(base_url=process.base_url, timeout=20) as client:
        for _ in range(DEAD_LETTERS):
            answer(client.post("/events/receipts", json=receipt(eventType="shortlisted")), 201)
        assert (
            answer(client.post("/settlements/retry-queue/process", json={"limit": 50}), 200)["failedCount"]
            == 12
        )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=20) as client:
        yield client


def dlq(api: httpx.Client, **params: Any) -> dict[str, Any]:
    return answer(api.get("/settlements/dlq", params=params), 200)


def entry(api: httpx.Client, dlq_entry_id: str) -> dict[str, Any]:
    (found,) = [e for e in dlq(api, pageSize=100)["items"] if e["dlqEntryId"] == dlq_entry_id]
    return found


def shown_ids(page: Page) -> list[str]:
    return page.locator("#dlq-rows tr[data-entry-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.entryId)"
    )


def row(page: Page, dlq_entry_id: str):
    return page.locator(f"#row-{dlq_entry_id}")


def test_the_dlq_page_filters_and_pages_like_the_api(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    page.goto(f"{server.base_url}/dlq.html?pageSize=10")
    expect(page.locator("#pager")).to_contain_text("Page 1 of 2 (12 entries)")
    assert shown_ids(page) == [e["dlqEntryId"] for e in dlq(api, page=1, pageSize=10)["items"]]

    page.get_by_role("link", name="Next page").click()
    expect(page.locator("#pager")).to_contain_text("Page 2 of 2 (12 entries)")
    assert shown_ids(page) == [e["dlqEntryId"] for e in dlq(api, page=2, pageSize=10)["items"]]

    # The filter form, from the keyboard: a trace id, 50 rows a page, Enter.
    wanted = dlq(api, page=1, pageSize=20)["items"][3]
    page.get_by_label("Rows per page").select_option("50")
    page.get_by_label("Trace id").fill(wanted["traceId"])
    page.get_by_label("Trace id").press("Enter")
    expect(page.locator("#pager")).to_contain_text("Page 1 of 1 (1 entry)")
    assert shown_ids(page) == [wanted["dlqEntryId"]]
    assert "traceId=" in page.url and "pageSize=50" in page.url

    page.goto(f"{server.base_url}/dlq.html?status=resolved&pageSize=50")
    expected = dlq(api, status="resolved", pageSize=50)
    expect(page.locator("#pager")).to_contain_text(f"({expected['total']} entries)")
    assert shown_ids(page) == [e["dlqEntryId"] for e in expected["items"]]


def test_replay_resolve_and_ignore_update_their_rows_in_place(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    page.goto(f"{server.base_url}/dlq.html?status=open&pageSize=50")
    expect(page.locator("#dlq-rows tr[data-entry-id]").first).to_be_visible()
    first, second, third = shown_ids(page)[:3]
    rows_before = len(shown_ids(page))
    page.evaluate("window.notReloaded = true")

    row(page, first).get_by_label(f"Note for {first}").fill("account reopened")
    row(page, first).get_by_role("button", name=f"Replay {first}").click()
    expect(row(page, first).locator(".status-cell")).to_have_text("replayed")
    assert status_text(page).startswith(f"{first} replayed. Settlement ")
    replayed = answer(api.post(f"/settlements/dlq/{first}/replay"), 409)  # it is not open any more
    assert "only an open entry" in replayed["message"]
    assert entry(api, first)["status"] == "replayed"
    assert entry(api, first)["resolutionNote"] == "account reopened"
    expect(row(page, first).get_by_role("button", name=f"Replay {first}")).to_be_disabled()

    note = "paid <b>by</b> bank transfer"  # shown as written: text, never markup
    row(page, second).get_by_label(f"Note for {second}").fill(note)
    row(page, second).get_by_role("button", name=f"Resolve {second}").click()
    expect(row(page, second).locator(".status-cell")).to_have_text("resolved")
    expect(row(page, second).locator(".note-cell")).to_have_text(note)
    expect(row(page, second).locator(".note-cell b")).to_have_count(0)
    assert (entry(api, second)["status"], entry(api, second)["resolutionNote"]) == ("resolved", note)

    # Keyboard only: the note, then Tab past Replay and Resolve to Ignore, and Enter.
    note = row(page, third).get_by_label(f"Note for {third}")
    note.focus()
    page.keyboard.type("duplicate of another receipt")
    for _ in range(3):
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == f"Ignore {third}"
    page.keyboard.press("Enter")
    expect(row(page, third).locator(".status-cell")).to_have_text("ignored")
    expect(page.get_by_role("status")).to_have_text(f"{third} ignored.")
    assert entry(api, third)["status"] == "ignored"

    assert len(shown_ids(page)) == rows_before  # updated in place: no row went, the page was not reloaded
    assert page.evaluate("window.notReloaded") is True
    expect(page.get_by_role("alert")).to_be_hidden()


def test_a_refusal_from_the_api_shows_in_the_alert_region(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    page.goto(f"{server.base_url}/dlq.html?status=open&pageSize=50")
    expect(page.locator("#dlq-rows tr[data-entry-id]").first).to_be_visible()
    target = shown_ids(page)[0]
    answer(
        api.post(f"/settlements/dlq/{target}/resolve", json={"status": "resolved"}), 200
    )  # behind its back

    row(page, target).get_by_role("button", name=f"Ignore {target}").click()
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text(f"409: Dead-letter entry {target} is already resolved.")
    expect(row(page, target).locator(".status-cell")).to_have_text("open")  # unchanged: nothing was done
    assert entry(api, target)["status"] == "resolved"


def test_the_audit_page_pages_and_a_trace_link_opens_the_full_trace(
    page: Page, server: ServerProcess, api: httpx.Client
) -> None:
    page.goto(f"{server.base_url}/audit.html?page=1&pageSize=10")
    first_page = answer(api.get("/audit-trail", params={"page": 1, "pageSize": 10}), 200)
    expect(page.locator("#audit-caption")).to_have_text(
        f"Audit trail: {first_page['total']:,} events, newest first."
    )
    shown = page.locator("#audit-rows tr").evaluate_all("rows => rows.map(r => r.dataset.eventId)")
    assert shown == [e["auditEventId"] for e in first_page["items"]]

    page.get_by_role("link", name="Next page").click()
    second_page = answer(api.get("/audit-trail", params={"page": 2, "pageSize": 10}), 200)
    expect(page.locator("#pager")).to_contain_text("Page 2 of")
    shown = page.locator("#audit-rows tr").evaluate_all("rows => rows.map(r => r.dataset.eventId)")
    assert shown == [e["auditEventId"] for e in second_page["items"]]

    # From a dead letter to its trace: the link in the DLQ page, then the audit page's own trace link.
    dead = dlq(api, pageSize=1)["items"][0]
    page.goto(f"{server.base_url}/dlq.html?pageSize=10")
    row(page, dead["dlqEntryId"]).get_by_role("link", name=dead["traceId"]).click()
    trace = answer(api.get("/audit-trail", params={"traceId": dead["traceId"], "pageSize": 20}), 200)
    assert trace["total"] >= 2  # the receipt and its settlement's failure at least
    expect(page.locator("#audit-caption")).to_have_text(
        f"Trace {dead['traceId']}: {trace['total']} events, newest first."
    )
    assert page.url.endswith(f"/audit.html?traceId={dead['traceId']}&page=1&pageSize=20")
    actions = page.locator("#audit-rows td.action").all_inner_texts()
    assert actions == [e["action"] for e in trace["items"]]
    traces = set(page.locator("#audit-rows a.trace").all_inner_texts())
    assert traces == {dead["traceId"]}
    expect(page.get_by_label("Trace id")).to_have_value(dead["traceId"])
