"""Agent leads: the discovery pipeline's leads, their status and their promotion to partners."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.params import Body

from ..domain.models import AgentLead, PartnerAgent
from ..services import partners
from ..services.context import Services
from .errors import documented
from .params import LeadId, ListFilter, ProvenanceQuery, StatusQuery, TextQuery, comma_list
from .strict import OptionalBody


class LeadsController(Controller):
    tags = ["leads and partners"]

    @get("/agents/leads", responses=documented())
    async def all_leads(self, svc: Services) -> list[AgentLead]:
        return await partners.list_leads(svc)

    @get("/agent-leads", responses=documented())
    async def filtered_leads(
        self,
        svc: Services,
        status: StatusQuery = None,
        source_type: Annotated[str | None, ListFilter("sourceType", "comma-separated source types")] = None,
        data_origin: Annotated[str | None, ListFilter("dataOrigin", "comma-separated data origins")] = None,
        provenance: ProvenanceQuery = None,
        vertical: TextQuery = None,
        geo: TextQuery = None,
        owner: TextQuery = None,
    ) -> list[AgentLead]:
        return await partners.filtered_leads(
            svc,
            partners.LeadFilter(
                statuses=comma_list(status),
                source_types=comma_list(source_type),
                origins=comma_list(data_origin),
                provenances=comma_list(provenance),
                vertical=vertical,
                geo=geo,
                owner=owner,
            ),
        )

    @get("/agent-leads/{lead_id:str}", responses=documented(404))
    async def one_lead(self, svc: Services, lead_id: LeadId) -> AgentLead:
        return await partners.get_lead(svc, lead_id)

    @post("/agent-leads/{lead_id:str}/status", status_code=200, responses=documented(404, 409, 413))
    async def lead_status(self, svc: Services, lead_id: LeadId, data: partners.LeadStatusChange) -> AgentLead:
        return await partners.change_lead_status(svc, lead_id, data)

    @post(
        "/agent-leads/{lead_id:str}/promote",
        status_code=201,
        responses=documented(404, 409, 413),
        operation_class=OptionalBody,
    )
    async def promote(
        self, svc: Services, lead_id: LeadId, data: partners.PromoteLead | None = Body(default=None)
    ) -> PartnerAgent:
        return await partners.promote_lead(svc, lead_id, data)
