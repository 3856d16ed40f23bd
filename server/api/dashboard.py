"""Dashboard and audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get

from ..domain.models import AuditEvent, Base
from ..services import dashboard
from ..services.context import Services
from .errors import documented
from .exchange import comma_list
from .params import EntityIdQuery, ListFilter, PageQuery, PageSizeQuery, ProvenanceQuery, TraceIdQuery


class AuditPage(Base, kw_only=True):
    items: list[AuditEvent]
    total: int
    page: int
    page_size: int
    has_next_page: bool
    has_previous_page: bool


class DashboardController(Controller):
    tags = ["dashboard and audit"]

    @get("/dashboard", responses=documented())
    async def dashboard(self, svc: Services) -> dashboard.Dashboard:
        return await dashboard.dashboard(svc)

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
    ) -> AuditPage:
        result = await dashboard.audit_trail(
            svc, trace_id, entity_id, entity_type, comma_list(provenance), page, page_size
        )
        return AuditPage(**{f: getattr(result, f) for f in result.__struct_fields__})


DASHBOARD_CONTROLLERS: list[Any] = [DashboardController]
