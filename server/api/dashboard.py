"""Dashboard and audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get
from litestar.params import QueryParameter

from ..domain.models import AuditEvent, Base
from ..services import dashboard
from ..services.context import Services
from .errors import documented
from .exchange import ProvenanceQuery, comma_list
from .settlements import PageQuery, PageSizeQuery, check_page


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
        trace_id: Annotated[str | None, QueryParameter(name="traceId")] = None,
        entity_id: Annotated[str | None, QueryParameter(name="entityId")] = None,
        entity_type: Annotated[str | None, QueryParameter(name="entityType")] = None,
        provenance: ProvenanceQuery = None,
        page: PageQuery = 1,
        page_size: PageSizeQuery = 20,
    ) -> AuditPage:
        check_page(page, page_size)
        result = await dashboard.audit_trail(
            svc, trace_id, entity_id, entity_type, comma_list(provenance), page, page_size
        )
        return AuditPage(**{f: getattr(result, f) for f in result.__struct_fields__})


DASHBOARD_CONTROLLERS: list[Any] = [DashboardController]
