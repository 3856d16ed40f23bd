"""GET /settlements and GET /settlements/retry-jobs: arrays, a page at a time, newest first.

``limit`` rows per page (settlements: 100 by default; retry jobs: 50; at most
1,000), ``X-Total-Count`` for every row matching the filters, and ``Link: <…>;
rel="next"`` (the same filters and limit, the next cursor) until the last page.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support import error_body, expect, receipt, roomy_seed, uid

HUBFLOW = {"campaignId": "cmp_hubflow", "offerId": "offer_hubflow", "eventType": "shortlisted"}  # CPQR: 120
SIGNALSTACK = {
    "campaignId": "cmp_signalstack",
    "offerId": "offer_signalstack",
    "eventType": "conversion",
}  # CPA


def _bill(api: httpx.Client, n: int, **fields) -> list[str]:
    """``n`` billable receipts, each a new settlement (and retry job); their settlement ids in creation order."""
    ids = []
    for _ in range(n):
        body = expect(api.post("/events/receipts", json=receipt(intentId=uid("intent_page"), **fields)), 201)
        ids.append(body["settlement"]["settlementId"])
    return ids


def _pages(api: httpx.Client, path: str, params: dict | None) -> list[httpx.Response]:
    """Every page, following ``Link: <…>; rel="next"`` from the first (``params=None`` keeps a URL's query)."""
    pages = [api.get(path, params=params)]
    while "next" in pages[-1].links:
        assert pages[-1].status_code == 200, pages[-1].text
        pages.append(api.get(pages[-1].links["next"]["url"]))
        assert len(pages) < 50, "the Link headers never end"
    assert pages[-1].status_code == 200, pages[-1].text
    return pages


@pytest.fixture
def fresh_api(start_server, tmp_path: Path) -> Iterator[httpx.Client]:
    """A server of its own whose campaigns' budgets hold every settlement these tests bill."""
    server = start_server({"SEED_PATH": str(roomy_seed(tmp_path))})
    with httpx.Client(base_url=server.base_url, timeout=30) as api:
        yield api


@pytest.fixture
def billed(fresh_api: httpx.Client) -> dict[str, list[str]]:
    """250 settlements: 170 HubFlow shortlists (20 of them ops_manual), 80 SignalStack conversions."""
    api = fresh_api
    return {
        "hubflow": _bill(api, 150, **HUBFLOW),
        "signalstack": _bill(api, 80, **SIGNALSTACK),
        "manual": _bill(api, 20, dataProvenance="ops_manual", **HUBFLOW),
    }


def test_settlements_page_through_without_duplicates_or_gaps(
    fresh_api: httpx.Client, billed: dict[str, list[str]]
) -> None:
    api = fresh_api
    created = billed["hubflow"] + billed["signalstack"] + billed["manual"]
    pages = _pages(api, "/settlements", {"limit": 100})
    assert [len(p.json()) for p in pages] == [100, 100, 50]
    assert {p.headers["x-total-count"] for p in pages} == {"250"}
    assert "link" not in pages[-1].headers
    listed = [s["settlementId"] for p in pages for s in p.json()]
    assert listed == list(reversed(created))  # newest first, each exactly once

    # The Link carries the limit and the cursor, and is a full URL.
    following = urlsplit(pages[0].links["next"]["url"])
    assert following.scheme == "http" and following.netloc and following.path == "/settlements"
    assert parse_qs(following.query)["limit"] == ["100"] and parse_qs(following.query)["cursor"]

    # The default page is 100 rows.
    first = api.get("/settlements")
    assert len(first.json()) == 100 and first.headers["x-total-count"] == "250" and "next" in first.links


def test_new_settlements_do_not_disturb_a_client_paging_through(
    fresh_api: httpx.Client, billed: dict[str, list[str]]
) -> None:
    api = fresh_api
    first = api.get("/settlements", params={"limit": 100})
    _bill(api, 5, **HUBFLOW)  # written while the client is on page 1
    rest = _pages(api, first.links["next"]["url"], None)
    listed = [s["settlementId"] for p in [first, *rest] for s in p.json()]
    created = billed["hubflow"] + billed["signalstack"] + billed["manual"]
    assert listed == list(reversed(created))


def test_filters_are_kept_across_pages(fresh_api: httpx.Client, billed: dict[str, list[str]]) -> None:
    api = fresh_api
    hubflow = billed["hubflow"] + billed["manual"]
    pages = _pages(api, "/settlements", {"campaignId": "cmp_hubflow", "status": "pending", "limit": 60})
    assert [len(p.json()) for p in pages] == [60, 60, 50]
    assert {p.headers["x-total-count"] for p in pages} == {"170"}
    for page in pages[:-1]:
        query = parse_qs(urlsplit(page.links["next"]["url"]).query)
        assert (
            query["campaignId"] == ["cmp_hubflow"]
            and query["status"] == ["pending"]
            and query["limit"] == ["60"]
        )
    assert [s["settlementId"] for p in pages for s in p.json()] == list(reversed(hubflow))
    assert {s["campaignId"] for p in pages for s in p.json()} == {"cmp_hubflow"}

    manual = _pages(api, "/settlements", {"provenance": "ops_manual", "limit": 7})
    assert [len(p.json()) for p in manual] == [7, 7, 6]
    assert {p.headers["x-total-count"] for p in manual} == {"20"}
    assert [s["settlementId"] for p in manual for s in p.json()] == list(reversed(billed["manual"]))

    none = api.get("/settlements", params={"status": "settled"})
    assert none.json() == [] and none.headers["x-total-count"] == "0" and "link" not in none.headers


def test_retry_jobs_page_through_the_same_way(fresh_api: httpx.Client, billed: dict[str, list[str]]) -> None:
    api = fresh_api
    created = billed["hubflow"] + billed["signalstack"] + billed["manual"]
    first = api.get("/settlements/retry-jobs")
    assert len(first.json()) == 50 and first.headers["x-total-count"] == "250"  # 50 by default
    pages = _pages(api, "/settlements/retry-jobs", {"status": "queued", "limit": 100})
    assert [len(p.json()) for p in pages] == [100, 100, 50]
    assert {p.headers["x-total-count"] for p in pages} == {"250"}
    assert [j["settlementId"] for p in pages for j in p.json()] == list(reversed(created))
    for page in pages[:-1]:
        assert parse_qs(urlsplit(page.links["next"]["url"]).query)["status"] == ["queued"]

    one = billed["signalstack"][0]
    only = api.get("/settlements/retry-jobs", params={"settlementId": one})
    assert [j["settlementId"] for j in only.json()] == [one] and only.headers["x-total-count"] == "1"


@pytest.mark.parametrize("path", ["/settlements", "/settlements/retry-jobs"])
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "!!!!!!!!!!!"}, "cursor"),
        ({"cursor": ""}, "cursor"),
    ],
)
def test_bad_paging_parameters_are_400(api: httpx.Client, path: str, params: dict, field: str) -> None:
    response = api.get(path, params=params)
    assert response.status_code == 400, response.text
    assert error_body(response).get("field") == field, response.text


@pytest.mark.parametrize("path", ["/settlements", "/settlements/retry-jobs"])
def test_limit_1000_is_accepted(api: httpx.Client, path: str) -> None:
    response = api.get(path, params={"limit": 1000})
    assert response.status_code == 200 and int(response.headers["x-total-count"]) == len(response.json())
