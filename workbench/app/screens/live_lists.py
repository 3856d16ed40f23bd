"""The live screen's four lists: their columns, their filters and how each asks the API for a page.

Settlements and retry jobs page with ``limit`` and the opaque ``cursor`` of the
``Link: rel="next"`` header; dead letters and the audit trail with ``page`` and
``pageSize`` (at most 100). Each filter is the API's own: ``status`` (a comma list
for settlements and retry jobs, one status for dead letters) or, for the audit
trail, which has no status filter, ``entityType``.
"""

from __future__ import annotations

from typing import Any

from server.domain.settlement import DLQ_STATUSES, RETRY_JOB_STATUSES, SETTLEMENT_STATUSES
from workbench.app.client import ApiClient, Page
from workbench.app.widgets.paged_list import ListSpec
from workbench.engine.units import fmt_money

OPEN_JOB_STATUSES = "queued,processing,retry_scheduled"
AUDIT_ENTITY_TYPES = (
    "campaign",
    "policy_check",
    "opportunity",
    "delivery",
    "receipt",
    "settlement",
    "idempotency",
    "cache",
)


def _time(value: Any) -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM:SS`` (the API's times are UTC)."""
    return str(value or "")[:19].replace("T", " ")


async def _settlements(client: ApiClient, status: str | None, token: Any, rows: int, _: dict) -> Page:
    return await client.settlements_page(status, limit=rows, cursor=token)


async def _retry_jobs(client: ApiClient, status: str | None, token: Any, rows: int, _: dict) -> Page:
    return await client.retry_jobs_page(status, limit=rows, cursor=token)


async def _dead_letters(client: ApiClient, status: str | None, token: Any, rows: int, _: dict) -> Page:
    return await client.dead_letters_page(status, page=int(token or 1), page_size=min(rows, 100))


async def _audit(client: ApiClient, entity: str | None, token: Any, rows: int, extra: dict) -> Page:
    return await client.audit_page(
        extra.get("trace_id"), entity, page=int(token or 1), page_size=min(rows, 100)
    )


SETTLEMENTS = ListSpec(
    name="Settlements",
    columns=("settlement", "status", "amount", "campaign", "partner", "event", "updated"),
    filters=(("all", None), *((s, s) for s in SETTLEMENT_STATUSES)),
    fetch=_settlements,
    key=lambda s: s["settlementId"],
    row=lambda s: (
        s["settlementId"],
        s["status"],
        fmt_money(s["amount"], s["currency"]),
        s["campaignId"],
        s["partnerId"],
        s["eventType"],
        _time(s["updatedAt"]),
    ),
)

RETRY_JOBS = ListSpec(
    name="Retry queue",
    columns=("job", "settlement", "status", "attempts", "next run"),
    filters=(("open", OPEN_JOB_STATUSES), ("all", None), *((s, s) for s in RETRY_JOB_STATUSES)),
    fetch=_retry_jobs,
    key=lambda j: j["retryJobId"],
    row=lambda j: (
        j["retryJobId"],
        j["settlementId"],
        j["status"],
        str(j["attempts"]),
        _time(j["nextRunAt"]),
    ),
)

DEAD_LETTERS = ListSpec(
    name="Dead letters",
    columns=("entry", "settlement", "status", "reason", "last error"),
    filters=(("all", None), *((s, s) for s in DLQ_STATUSES)),
    fetch=_dead_letters,
    key=lambda e: e["dlqEntryId"],
    row=lambda e: (e["dlqEntryId"], e["settlementId"], e["status"], e["reason"], (e["lastError"] or "")[:60]),
    paging="number",
)

AUDIT = ListSpec(
    name="Audit trail",
    columns=("time", "trace", "entity", "entity id", "action", "status"),
    filters=(("all", None), *((t, t) for t in AUDIT_ENTITY_TYPES)),
    fetch=_audit,
    key=lambda e: e["auditEventId"],
    row=lambda e: (
        _time(e["occurredAt"])[11:],
        e["traceId"],
        e["entityType"],
        e["entityId"],
        e["action"],
        e["status"],
    ),
    paging="number",
    filter_name="entity",
)
