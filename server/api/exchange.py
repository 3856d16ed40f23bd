"""Core exchange endpoints: health, runtime profile, leads, partners, campaigns, opportunities, receipts."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, HttpMethod, Request, Response, get, post, route
from litestar.openapi import ResponseSpec
from litestar.params import Body

from ..domain.models import (
    AgentLead,
    Base,
    Campaign,
    CampaignDraft,
    CampaignStatus,
    EventReceipt,
    OpportunityRequest,
    OpportunityResponse,
    PartnerAgent,
    PartnerView,
    PolicyCheckResult,
)
from ..modes import IMPLIES
from ..services import campaigns, exchange, partners, receipts
from ..services.context import Services
from .errors import documented
from .params import CampaignId, LeadId, ListFilter, ProvenanceQuery, StatusQuery, TextQuery
from .ranking_config import RankingConfigController
from .strict import OptionalBody


def comma_list(value: str | None) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()] if value else []


class _OccurredAtText(Base, kw_only=True):
    occurred_at: str | None = None


_occurred_at_text = msgspec.json.Decoder(_OccurredAtText)


class Health(Base, kw_only=True):
    ok: bool
    service: str
    persistence: str
    hot_state: str
    billing_mode: str


class RuntimeProfile(Base, kw_only=True):
    mode: str
    persistence: str
    hot_state: str
    billing_mode: str
    demo_enabled: bool
    real_data_only: bool
    default_lead_filter: list[str]
    # What the mode means for this server, in a sentence (server/modes.py).
    implies: str = ""


def runtime_profile(svc: Services) -> RuntimeProfile:
    return RuntimeProfile(
        mode=svc.settings.mode,
        persistence=svc.store.kind,
        hot_state=svc.hot.kind,
        billing_mode=svc.gateway.mode,
        demo_enabled=svc.settings.demo_enabled,
        real_data_only=svc.settings.real_data_only,
        default_lead_filter=svc.settings.default_lead_filter,
        implies=IMPLIES[svc.settings.mode],
    )


class ActivationRefused(Base, kw_only=True):
    """The 409 of ``POST /campaigns/{id}/activate`` (documentation only: both refusals fit it)."""

    activated: bool
    message: str
    field: str | None = None
    status: CampaignStatus | None = None
    campaign: Campaign | None = None
    policy_check: PolicyCheckResult | None = None


class SystemController(Controller):
    tags = ["system"]

    @get("/health")
    async def health(self, svc: Services) -> Health:
        return Health(
            ok=True,
            service="promotion-agent",
            persistence=svc.store.kind,
            hot_state=svc.hot.kind,
            billing_mode=svc.gateway.mode,
        )

    @get("/system/runtime-profile")
    async def profile(self, svc: Services) -> RuntimeProfile:
        return runtime_profile(svc)


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
        provenances = comma_list(provenance) or svc.settings.default_lead_filter
        return await partners.list_leads(
            svc,
            partners.LeadFilter(
                statuses=comma_list(status),
                source_types=comma_list(source_type),
                origins=comma_list(data_origin),
                provenances=provenances,
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


class CampaignsController(Controller):
    path = "/campaigns"
    tags = ["campaigns"]

    @route("/", http_method=[HttpMethod.OPTIONS], include_in_schema=False, status_code=204)
    async def allowed_methods(self) -> Response[None]:
        # Litestar's automatic OPTIONS answer for a path served by two handlers lists only the methods of
        # the handler registered first. Handlers register in name order: this one ("allowed_…") comes
        # before "create" and "list_campaigns", so the path has its OPTIONS handler and gets no automatic one.
        return Response(None, status_code=204, headers={"Allow": "GET, OPTIONS, POST"})

    @get("/", responses=documented())
    async def list_campaigns(self, svc: Services, provenance: ProvenanceQuery = None) -> list[Campaign]:
        return await campaigns.list_campaigns(svc, comma_list(provenance))

    @get("/{campaign_id:str}", responses=documented(404))
    async def get_campaign(self, svc: Services, campaign_id: CampaignId) -> Campaign:
        return await campaigns.get_campaign(svc, campaign_id)

    @get("/{campaign_id:str}/policy-check", responses=documented(404))
    async def policy_check(self, svc: Services, campaign_id: CampaignId) -> PolicyCheckResult:
        return await campaigns.latest_policy_check(svc, campaign_id)

    @post(
        "/",
        status_code=201,
        responses={
            **documented(409, 413),
            200: ResponseSpec(
                data_container=campaigns.CampaignCreated,
                description="The draft names a `campaignId` that exists with the same content: that campaign "
                "(as it is now) and its latest policy check; nothing is created.",
                generate_examples=False,
            ),
        },
        description="Create a campaign from a draft; it is reviewed at once (201). A draft may give its own "
        "`campaignId`: sending the same draft again answers 200 with the same campaign, another draft with "
        "that id 409.",
    )
    async def create(self, svc: Services, data: CampaignDraft) -> Response[campaigns.CampaignCreated]:
        result, created = await campaigns.create_campaign(svc, data)
        return Response(result, status_code=201 if created else 200)

    @post(
        "/{campaign_id:str}/review",
        status_code=200,
        responses=documented(404, 409, 413),
        operation_class=OptionalBody,
    )
    async def review(
        self,
        svc: Services,
        campaign_id: CampaignId,
        data: campaigns.OperatorReview | None = Body(default=None),
    ) -> PolicyCheckResult:
        return await campaigns.review_campaign(svc, campaign_id, data)

    @post(
        "/{campaign_id:str}/activate",
        status_code=200,
        responses={
            **documented(404),
            409: ResponseSpec(
                data_container=ActivationRefused,
                description="Not activated: `activated` is false and `message` says why; with the "
                "campaign and its policy check, or, for a rejected campaign, its `status`.",
                generate_examples=False,
            ),
        },
    )
    async def activate(self, svc: Services, campaign_id: CampaignId) -> Response[campaigns.ActivationResult]:
        result = await campaigns.activate_campaign(svc, campaign_id)
        return Response(result, status_code=200 if result.activated else 409)


class OpportunitiesController(Controller):
    tags = ["exchange"]

    @post(
        "/opportunities/evaluate",
        status_code=200,
        responses=documented(413),
        description="Rank the eligible sponsored offers for a buyer agent's intent. "
        "`explain: true` also lists every rejected candidate with the gates it failed.",
    )
    async def evaluate(self, svc: Services, data: OpportunityRequest) -> Response[OpportunityResponse]:
        body = await exchange.evaluate_opportunity(svc, data)
        return Response(content=body, media_type="application/json", status_code=200)

    @post(
        "/events/receipts",
        status_code=201,
        responses={
            **documented(413, 422),
            200: ResponseSpec(
                data_container=receipts.ReceiptResult,
                description="A repeat of a recorded receipt: `deduplicated` is true; the stored receipt "
                "and settlement.",
                generate_examples=False,
            ),
        },
        description="Record a receipt from a buyer agent: 201 when new, 200 with deduplicated=true for a repeat.",
    )
    async def receipt(
        self, svc: Services, data: EventReceipt, request: Request
    ) -> Response[receipts.ReceiptResult]:
        text = None
        if svc.settings.receipt_verification == "signed":
            # A signature may cover occurredAt exactly as written; the decoded time has lost that form.
            text = _occurred_at_text.decode(await request.body()).occurred_at
        result = await receipts.record_receipt(svc, data, occurred_at_text=text)
        return Response(result, status_code=200 if result.deduplicated else 201)


EXCHANGE_CONTROLLERS: list[Any] = [
    SystemController,
    RankingConfigController,
    LeadsController,
    PartnersController,
    CampaignsController,
    OpportunitiesController,
]
