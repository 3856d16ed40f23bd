"""Partners: the buyer agents offers are shown through (list; operator upsert)."""

from __future__ import annotations

from litestar import Controller, HttpMethod, Response, get, post, route
from litestar.openapi import ResponseSpec

from ..domain.models import PartnerAgent, PartnerView
from ..services import partners
from ..services.context import Services
from .errors import documented
from .params import ProvenanceQuery, comma_list


class PartnersController(Controller):
    path = "/partners"
    tags = ["leads and partners"]

    @route("/", http_method=[HttpMethod.OPTIONS], include_in_schema=False, status_code=204)
    async def allowed_methods(self) -> Response[None]:
        # As for /campaigns: one OPTIONS handler for the path its GET and POST handlers share.
        return Response(None, status_code=204, headers={"Allow": "GET, OPTIONS, POST"})

    @get("/", responses=documented())
    async def list_partners(self, svc: Services, provenance: ProvenanceQuery = None) -> list[PartnerView]:
        return await partners.list_partners(svc, comma_list(provenance))

    @post(
        "/",
        status_code=201,
        responses={
            **documented(413),
            200: ResponseSpec(
                data_container=PartnerAgent,
                description="A partner with this `partnerId` existed: it now equals the body (unchanged "
                "when it already did).",
                generate_examples=False,
            ),
        },
        description="Operator: create a partner, or update the one with the same `partnerId` (idempotent): "
        "201 created, 200 updated or unchanged.",
    )
    async def upsert_partner(self, svc: Services, data: PartnerAgent) -> Response[PartnerAgent]:
        partner, created = await partners.upsert_partner(svc, data)
        return Response(partner, status_code=201 if created else 200)
