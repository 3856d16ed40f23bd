"""Settlements and the retry queue (the dead-letter queue is ``dlq``)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Body

from ..domain.models import Base, SettlementReceipt, SettlementRetryJob
from ..services import pages, settlements
from ..services.context import Services
from .errors import documented
from .params import (
    PAGING_HEADERS,
    CampaignIdQuery,
    CursorQuery,
    LimitQuery,
    ProvenanceQuery,
    SettlementId,
    SettlementIdQuery,
    StatusQuery,
    TraceIdQuery,
    comma_list,
    paged,
)
from .strict import OptionalBody


class ProcessRequest(Base, kw_only=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10


class DisputeRequest(Base, kw_only=True):
    reason: str | None = None


class SettlementsController(Controller):
    path = "/settlements"
    tags = ["settlements"]

    @get(
        "/",
        responses=documented(),
        response_headers=PAGING_HEADERS,
        description="Settlements, newest first, as an array; follow the `Link` header for the next page.",
    )
    async def list_settlements(
        self,
        request: Request,
        svc: Services,
        status: StatusQuery = None,
        campaign_id: CampaignIdQuery = None,
        provenance: ProvenanceQuery = None,
        limit: Annotated[int, LimitQuery(pages.SETTLEMENTS_DEFAULT_LIMIT)] = pages.SETTLEMENTS_DEFAULT_LIMIT,
        cursor: CursorQuery = None,
    ) -> Response[list[SettlementReceipt]]:
        page = await pages.page_settlements(
            svc, comma_list(status), campaign_id, comma_list(provenance), limit, cursor
        )
        return paged(request, page, limit)

    @get(
        "/retry-jobs",
        responses=documented(),
        response_headers=PAGING_HEADERS,
        description="Retry jobs, newest first, as an array; follow the `Link` header for the next page.",
    )
    async def retry_jobs(
        self,
        request: Request,
        svc: Services,
        status: StatusQuery = None,
        settlement_id: SettlementIdQuery = None,
        trace_id: TraceIdQuery = None,
        limit: Annotated[int, LimitQuery(pages.RETRY_JOBS_DEFAULT_LIMIT)] = pages.RETRY_JOBS_DEFAULT_LIMIT,
        cursor: CursorQuery = None,
    ) -> Response[list[SettlementRetryJob]]:
        page = await pages.page_retry_jobs(svc, comma_list(status), settlement_id, trace_id, limit, cursor)
        return paged(request, page, limit)

    @post("/retry-queue/process", status_code=200, responses=documented(413), operation_class=OptionalBody)
    async def process(
        self, svc: Services, data: ProcessRequest | None = Body(default=None)
    ) -> settlements.ProcessResult:
        return await settlements.process_queue(svc, (data or ProcessRequest()).limit)

    @post(
        "/{settlement_id:str}/dispute",
        status_code=200,
        responses=documented(404, 409, 413),
        operation_class=OptionalBody,
    )
    async def dispute(
        self, svc: Services, settlement_id: SettlementId, data: DisputeRequest | None = Body(default=None)
    ) -> SettlementReceipt:
        return await settlements.dispute(svc, settlement_id, data.reason if data else None)
