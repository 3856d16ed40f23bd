"""Settlements, the retry queue and the dead-letter queue."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.params import Body, QueryParameter

from ..adapters.store.repository import Page
from ..domain.errors import ValidationFailed
from ..domain.models import Base, DeadLetterEntry, SettlementReceipt, SettlementRetryJob
from ..services import settlements
from ..services.context import Services
from .errors import documented
from .exchange import ProvenanceQuery, comma_list


class ProcessRequest(Base, kw_only=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10


class DisputeRequest(Base, kw_only=True):
    reason: str | None = None


class ReplayRequest(Base, kw_only=True):
    resolution_note: str | None = None


class ResolveRequest(Base, kw_only=True):
    status: str
    resolution_note: str | None = None


class DeadLetterPage(Base, kw_only=True):
    items: list[DeadLetterEntry]
    total: int
    page: int
    page_size: int
    has_next_page: bool
    has_previous_page: bool


def check_page(page: int, page_size: int) -> None:
    if page < 1:
        raise ValidationFailed(f"page must be 1 or more, got {page}.", field="page")
    if page_size < 1 or page_size > 100:
        raise ValidationFailed(f"pageSize must be between 1 and 100, got {page_size}.", field="pageSize")


PageQuery = Annotated[int, QueryParameter(name="page")]
PageSizeQuery = Annotated[int, QueryParameter(name="pageSize")]


class SettlementsController(Controller):
    path = "/settlements"
    tags = ["settlements"]

    @get("/", responses=documented())
    async def list_settlements(
        self,
        svc: Services,
        status: str | None = None,
        campaign_id: Annotated[str | None, QueryParameter(name="campaignId")] = None,
        provenance: ProvenanceQuery = None,
    ) -> list[SettlementReceipt]:
        return await settlements.list_settlements(svc, comma_list(status), campaign_id, comma_list(provenance))

    @get("/retry-jobs", responses=documented())
    async def retry_jobs(
        self,
        svc: Services,
        status: str | None = None,
        settlement_id: Annotated[str | None, QueryParameter(name="settlementId")] = None,
        trace_id: Annotated[str | None, QueryParameter(name="traceId")] = None,
        limit: int = 50,
    ) -> list[SettlementRetryJob]:
        if limit < 1 or limit > 100:
            raise ValidationFailed(f"limit must be between 1 and 100, got {limit}.", field="limit")
        return await settlements.list_retry_jobs(svc, comma_list(status), settlement_id, trace_id, limit)

    @post("/retry-queue/process", status_code=200, responses=documented())
    async def process(
        self, svc: Services, data: ProcessRequest | None = Body(default=None)
    ) -> settlements.ProcessResult:
        return await settlements.process_queue(svc, (data or ProcessRequest()).limit)

    @post("/{settlement_id:str}/dispute", status_code=200, responses=documented(404, 409))
    async def dispute(
        self, svc: Services, settlement_id: str, data: DisputeRequest | None = Body(default=None)
    ) -> SettlementReceipt:
        return await settlements.dispute(svc, settlement_id, data.reason if data else None)

    @get("/dlq", responses=documented())
    async def dlq(
        self,
        svc: Services,
        status: str | None = None,
        trace_id: Annotated[str | None, QueryParameter(name="traceId")] = None,
        settlement_id: Annotated[str | None, QueryParameter(name="settlementId")] = None,
        page: PageQuery = 1,
        page_size: PageSizeQuery = 20,
    ) -> DeadLetterPage:
        check_page(page, page_size)
        result: Page = await settlements.page_dead_letters(svc, status, trace_id, settlement_id, page, page_size)
        return DeadLetterPage(**{f: getattr(result, f) for f in result.__struct_fields__})

    @post("/dlq/{dlq_entry_id:str}/replay", status_code=200, responses=documented(404, 409))
    async def replay(
        self, svc: Services, dlq_entry_id: str, data: ReplayRequest | None = Body(default=None)
    ) -> settlements.ReplayResult:
        return await settlements.replay_dead_letter(svc, dlq_entry_id, data.resolution_note if data else None)

    @post("/dlq/{dlq_entry_id:str}/resolve", status_code=200, responses=documented(404, 409))
    async def resolve(self, svc: Services, dlq_entry_id: str, data: ResolveRequest) -> DeadLetterEntry:
        return await settlements.resolve_dead_letter(svc, dlq_entry_id, data.status, data.resolution_note)


SETTLEMENT_CONTROLLERS: list[Any] = [SettlementsController]
