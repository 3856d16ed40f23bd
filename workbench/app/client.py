"""A small async client for the exchange's HTTP API, as the workbench uses it.

Every failure becomes an ``ApiError`` whose message a person can act on: the
server's own ``message`` for a 4xx, or "cannot reach …" when nothing answers.
Every request carries the key in ``PROMOTION_AGENT_API_KEY`` (when set) as
``Authorization: Bearer``; a 401 or 403 names that variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

API_KEY_ENV = "PROMOTION_AGENT_API_KEY"


def api_key_headers(api_key: str | None = None) -> dict[str, str]:
    """The header carrying ``api_key`` (default: ``PROMOTION_AGENT_API_KEY``); empty without a key."""
    key = (os.environ.get(API_KEY_ENV, "") if api_key is None else api_key).strip()
    return {"authorization": f"Bearer {key}"} if key else {}


def _key_hint(status: int, has_key: bool) -> str:
    if status == 403:
        return f"{API_KEY_ENV} needs a key with that role"
    if has_key:
        return f"check {API_KEY_ENV}"
    return f"set {API_KEY_ENV} to one of the server's keys"


# Following the pages of a list stops after this many rows (the live view's panes stay responsive).
DEFAULT_ROW_CAP = 10_000

Progress = Callable[[int, int], None]  # (rows loaded so far, rows in total)


@dataclass
class Listing:
    """Rows gathered from one or more pages: ``total`` is what the server counts, ``complete`` whether
    every page was read (False when the row cap stopped the reading)."""

    items: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    complete: bool = True
    pages: int = 0


@dataclass
class Page:
    """One page of a list as the server answered it.

    ``total`` counts every row matching the filters (``X-Total-Count`` or the page object's ``total``);
    ``next`` is what asks for the following page (the opaque ``cursor`` of the ``Link: rel="next"`` URL,
    or the next page number), None on the last page.
    """

    items: list[dict[str, Any]]
    total: int
    next: str | int | None


class ApiError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    @property
    def unreachable(self) -> bool:
        return self.status is None

    @property
    def refused_key(self) -> bool:
        """The server wants another API key (401/403): retrying with the same one cannot help."""
        return self.status in (401, 403)


class ApiClient:
    def __init__(
        self,
        base_url: str,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = dict(headers) if headers is not None else api_key_headers(api_key)
        self._client = client or httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def close(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, path, headers=self._headers, **kwargs)
        except httpx.TimeoutException:
            raise ApiError(f"the server at {self.base_url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach the server at {self.base_url} ({exc.__class__.__name__})") from None
        if response.status_code >= 400:
            try:
                message = response.json().get("message") or response.text
            except ValueError:
                message = response.text or f"HTTP {response.status_code}"
            if response.status_code in (401, 403):  # the workbench sends the key itself: say how to change it
                message = str(message).split("; send it as")[0].rstrip(".")
                message = f"{message} — {_key_hint(response.status_code, bool(self._headers))}"
            raise ApiError(f"{method} {path} → {response.status_code}: {message}", response.status_code)
        return response

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._request(method, path, **kwargs)
        if not response.content:
            return None
        return response.json()

    @property
    def headers(self) -> dict[str, str]:
        """The headers every request carries (the API key): ``ApiClient(url, headers=…)`` makes a twin."""
        return dict(self._headers)

    async def _cursor_page(self, path: str, params: dict[str, Any]) -> Page:
        """One page of an array list paged with ``limit`` and ``cursor`` (``Link``, ``X-Total-Count``)."""
        response = await self._request("GET", path, params={k: v for k, v in params.items() if v is not None})
        items = response.json()
        following = response.links.get("next", {}).get("url")
        cursor = parse_qs(urlsplit(following).query).get("cursor", [None])[0] if following else None
        return Page(items, int(response.headers.get("x-total-count", len(items))), cursor)

    async def _follow_pages(
        self, path: str, params: dict[str, Any], cap: int, progress: Progress | None
    ) -> Listing:
        """GET ``path`` and every page its ``Link: <…>; rel="next"`` header leads to, up to ``cap`` rows."""
        listing = Listing()
        url: str = path
        query: dict[str, Any] | None = params
        while True:
            response = await self._request("GET", url, params=query)
            listing.items.extend(response.json())
            listing.pages += 1
            listing.total = int(response.headers.get("x-total-count", len(listing.items)))
            if progress is not None:
                progress(len(listing.items), listing.total)
            following = response.links.get("next", {}).get("url")
            if not following:
                return listing
            if len(listing.items) >= cap:
                listing.complete = False
                return listing
            url, query = following, None  # the next URL carries the filters, the limit and the cursor

    # -- system --------------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        return await self._call("GET", "/health")

    async def runtime_profile(self) -> dict[str, Any]:
        return await self._call("GET", "/system/runtime-profile")

    async def dashboard(self) -> dict[str, Any]:
        return await self._call("GET", "/dashboard")

    async def ranking_config(self) -> dict[str, Any]:
        """The RankingConfig and evaluation clock the server ranks with (``GET /system/ranking-config``)."""
        return await self._call("GET", "/system/ranking-config")

    # -- provisioning (operator) ---------------------------------------------
    async def upsert_partner(self, partner: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """``POST /partners``: the partner as stored, and whether it was created (201) rather than updated."""
        response = await self._request("POST", "/partners", json=partner)
        return response.json(), response.status_code == 201

    async def create_campaign(self, draft: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """``POST /campaigns``: ``{campaign, policyCheck}`` and whether it was created (201), not found."""
        response = await self._request("POST", "/campaigns", json=draft)
        return response.json(), response.status_code == 201

    async def review_campaign(self, campaign_id: str, decision: str, note: str) -> dict[str, Any]:
        body = {"decision": decision, "note": note}
        return await self._call("POST", f"/campaigns/{campaign_id}/review", json=body)

    async def activate_campaign(self, campaign_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/campaigns/{campaign_id}/activate")

    # -- exchange ------------------------------------------------------------
    async def evaluate(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", "/opportunities/evaluate", json=request)

    async def post_receipt(self, receipt: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", "/events/receipts", json=receipt)

    async def campaigns(self) -> list[dict[str, Any]]:
        return await self._call("GET", "/campaigns")

    # -- wallets -------------------------------------------------------------
    async def wallet(self, workspace_id: str) -> dict[str, Any]:
        """``GET /wallet``: the workspace's credits (the server creates the wallet on its first read)."""
        return await self._call("GET", "/wallet", params={"workspaceId": workspace_id})

    # -- outreach ------------------------------------------------------------
    async def outreach_targets(
        self, lead_id: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """``GET /outreach-targets``: the outreach targets (of one lead, in some statuses), oldest first."""
        params = {k: v for k, v in (("leadId", lead_id), ("status", status)) if v}
        return await self._call("GET", "/outreach-targets", params=params)

    # -- settlements ---------------------------------------------------------
    async def settlements(
        self,
        status: str | None = None,
        *,
        limit: int = 500,
        cap: int = DEFAULT_ROW_CAP,
        progress: Progress | None = None,
    ) -> Listing:
        """Settlements, newest first, from every page (up to ``cap`` rows)."""
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return await self._follow_pages("/settlements", params, cap, progress)

    async def settlements_page(
        self, status: str | None = None, *, limit: int = 50, cursor: str | None = None
    ) -> Page:
        """One page of settlements, newest first; ``status`` may be a comma list."""
        return await self._cursor_page("/settlements", {"status": status, "limit": limit, "cursor": cursor})

    async def retry_jobs_page(
        self, status: str | None = None, *, limit: int = 50, cursor: str | None = None
    ) -> Page:
        """One page of retry jobs, newest first; ``status`` may be a comma list."""
        params = {"status": status, "limit": limit, "cursor": cursor}
        return await self._cursor_page("/settlements/retry-jobs", params)

    async def retry_jobs(
        self,
        status: str | None = None,
        *,
        limit: int = 200,
        cap: int = DEFAULT_ROW_CAP,
        progress: Progress | None = None,
    ) -> Listing:
        """Retry jobs, newest first, from every page (up to ``cap`` rows); ``status`` may be a comma list."""
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return await self._follow_pages("/settlements/retry-jobs", params, cap, progress)

    async def process_queue(self, limit: int = 10) -> dict[str, Any]:
        return await self._call("POST", "/settlements/retry-queue/process", json={"limit": limit})

    async def dead_letters(
        self, status: str | None = None, page: int = 1, page_size: int = 50
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"page": page, "pageSize": page_size}
        if status:
            params["status"] = status
        return await self._call("GET", "/settlements/dlq", params=params)

    async def dead_letters_page(
        self, status: str | None = None, *, page: int = 1, page_size: int = 50
    ) -> Page:
        """One page of dead-letter entries, newest first (``pageSize`` at most 100)."""
        body = await self.dead_letters(status=status, page=page, page_size=page_size)
        return Page(body["items"], body["total"], page + 1 if body["hasNextPage"] else None)

    async def all_dead_letters(
        self,
        status: str | None = None,
        *,
        page_size: int = 100,
        cap: int = DEFAULT_ROW_CAP,
        progress: Progress | None = None,
    ) -> Listing:
        """Dead-letter entries, newest first, from every page (up to ``cap`` rows)."""
        listing = Listing()
        page = 1
        while True:
            body = await self.dead_letters(status=status, page=page, page_size=page_size)
            listing.items.extend(body["items"])
            listing.total = body["total"]
            listing.pages += 1
            if progress is not None:
                progress(len(listing.items), listing.total)
            if not body["hasNextPage"]:
                return listing
            if len(listing.items) >= cap:
                listing.complete = False
                return listing
            page += 1

    async def replay_dead_letter(self, dlq_entry_id: str, note: str | None = None) -> dict[str, Any]:
        return await self._call(
            "POST", f"/settlements/dlq/{dlq_entry_id}/replay", json={"resolutionNote": note} if note else {}
        )

    async def resolve_dead_letter(
        self, dlq_entry_id: str, status: str, note: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"status": status}
        if note:
            body["resolutionNote"] = note
        return await self._call("POST", f"/settlements/dlq/{dlq_entry_id}/resolve", json=body)

    async def audit_trail(
        self,
        trace_id: str | None = None,
        page: int = 1,
        page_size: int = 50,
        entity_type: str | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"page": page, "pageSize": page_size}
        if trace_id:
            params["traceId"] = trace_id
        if entity_type:
            params["entityType"] = entity_type
        return await self._call("GET", "/audit-trail", params=params)

    async def audit_page(
        self,
        trace_id: str | None = None,
        entity_type: str | None = None,
        *,
        page: int = 1,
        page_size: int = 50,
    ) -> Page:
        """One page of the audit trail, newest first (``pageSize`` at most 100)."""
        body = await self.audit_trail(trace_id, page=page, page_size=page_size, entity_type=entity_type)
        return Page(body["items"], body["total"], page + 1 if body["hasNextPage"] else None)
