"""The audit trail: every change and decision, by trace, entity or provenance, page by page."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get

from ..services import dashboard
from ..services.context import Services
from .errors import documented
from .params import (
    EntityIdQuery,
    ListFilter,
    PageQuery,
    PageSizeQuery,
    ProvenanceQuery,
    TraceIdQuery,
    comma_list,
)


class AuditController(Controller):
    tags = ["dashboard and audit"]

    @get("/audit-trail", responses=documented())
    async def audit_trail(
        self,
        svc: Services,
        trace_id: TraceIdQuery = None,
        entity_id: EntityIdQuery = None,
        entity_type: Annotated[str | None, ListFilter("entityType", "only events about this entity")] = None,
        provenance: ProvenanceQuery = None,
        page: PageQuery = 1,
        page_size: PageSizeQuery = 20,
    ) -> dashboard.AuditPage:
        return await dashboard.audit_trail(
            svc, trace_id, entity_id, entity_type, comma_list(provenance), page, page_size
        )
