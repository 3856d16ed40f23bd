"""The dead-letter queue: settlements that ran out of attempts, and what an operator does with them."""

from __future__ import annotations

from typing import Literal

from litestar import Controller, get, post
from litestar.params import Body

from ..domain.models import Base, DeadLetterEntry, DlqStatus
from ..services import settlements
from ..services.context import Services
from .errors import documented
from .params import DlqEntryId, PageQuery, PageSizeQuery, SettlementIdQuery, TraceIdQuery
from .strict import OptionalBody


class ReplayRequest(Base, kw_only=True):
    resolution_note: str | None = None


class ResolveRequest(Base, kw_only=True):
    status: Literal["resolved", "ignored"]
    resolution_note: str | None = None


class DeadLetterController(Controller):
    path = "/settlements"
    tags = ["settlements"]

    @get("/dlq", responses=documented())
    async def dlq(
        self,
        svc: Services,
        status: DlqStatus | None = None,
        trace_id: TraceIdQuery = None,
        settlement_id: SettlementIdQuery = None,
        page: PageQuery = 1,
        page_size: PageSizeQuery = 20,
    ) -> settlements.DeadLetterPage:
        return await settlements.page_dead_letters(svc, status, trace_id, settlement_id, page, page_size)

    @post(
        "/dlq/{dlq_entry_id:str}/replay",
        status_code=200,
        responses=documented(404, 409, 413),
        operation_class=OptionalBody,
    )
    async def replay(
        self, svc: Services, dlq_entry_id: DlqEntryId, data: ReplayRequest | None = Body(default=None)
    ) -> settlements.ReplayResult:
        return await settlements.replay_dead_letter(svc, dlq_entry_id, data.resolution_note if data else None)

    @post("/dlq/{dlq_entry_id:str}/resolve", status_code=200, responses=documented(404, 409, 413))
    async def resolve(self, svc: Services, dlq_entry_id: DlqEntryId, data: ResolveRequest) -> DeadLetterEntry:
        return await settlements.resolve_dead_letter(svc, dlq_entry_id, data.status, data.resolution_note)
