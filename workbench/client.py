"""A small async client for the exchange's HTTP API, as the workbench uses it.

Every failure becomes an ``ApiError`` whose message a person can act on: the
server's own ``message`` for a 4xx, or "cannot reach …" when nothing answers.
Every request carries the key in ``PROMOTION_AGENT_API_KEY`` (when set) as
``Authorization: Bearer``; a 401 or 403 names that variable.
"""

from __future__ import annotations

import os
from typing import Any

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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = api_key_headers(api_key)
        self._client = client or httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def close(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> "ApiClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
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
        if not response.content:
            return None
        return response.json()

    # -- system --------------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        return await self._call("GET", "/health")

    async def runtime_profile(self) -> dict[str, Any]:
        return await self._call("GET", "/system/runtime-profile")

    async def dashboard(self) -> dict[str, Any]:
        return await self._call("GET", "/dashboard")

    # -- exchange ------------------------------------------------------------
    async def evaluate(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", "/opportunities/evaluate", json=request)

    async def post_receipt(self, receipt: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", "/events/receipts", json=receipt)

    async def campaigns(self) -> list[dict[str, Any]]:
        return await self._call("GET", "/campaigns")

    # -- settlements ---------------------------------------------------------
    async def settlements(self, status: str | None = None) -> list[dict[str, Any]]:
        params = {"status": status} if status else None
        return await self._call("GET", "/settlements", params=params)

    async def retry_jobs(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return await self._call("GET", "/settlements/retry-jobs", params=params)

    async def process_queue(self, limit: int = 10) -> dict[str, Any]:
        return await self._call("POST", "/settlements/retry-queue/process", json={"limit": limit})

    async def dead_letters(self, status: str | None = None, page: int = 1, page_size: int = 50) -> dict[str, Any]:
        params: dict[str, Any] = {"page": page, "pageSize": page_size}
        if status:
            params["status"] = status
        return await self._call("GET", "/settlements/dlq", params=params)

    async def replay_dead_letter(self, dlq_entry_id: str, note: str | None = None) -> dict[str, Any]:
        return await self._call(
            "POST", f"/settlements/dlq/{dlq_entry_id}/replay", json={"resolutionNote": note} if note else {}
        )

    async def resolve_dead_letter(self, dlq_entry_id: str, status: str, note: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"status": status}
        if note:
            body["resolutionNote"] = note
        return await self._call("POST", f"/settlements/dlq/{dlq_entry_id}/resolve", json=body)

    async def audit_trail(self, trace_id: str | None = None, page: int = 1, page_size: int = 50) -> dict[str, Any]:
        params: dict[str, Any] = {"page": page, "pageSize": page_size}
        if trace_id:
            params["traceId"] = trace_id
        return await self._call("GET", "/audit-trail", params=params)
