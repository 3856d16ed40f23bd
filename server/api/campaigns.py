"""Campaigns: drafts, review, policy checks and activation."""

from __future__ import annotations

from litestar import Controller, HttpMethod, Response, get, post, route
from litestar.openapi import ResponseSpec
from litestar.params import Body

from ..domain.models import Base, Campaign, CampaignDraft, CampaignStatus, PolicyCheckResult
from ..services import campaigns
from ..services.context import Services
from .errors import documented
from .params import CampaignId, ProvenanceQuery, comma_list
from .strict import OptionalBody


class ActivationRefused(Base, kw_only=True):
    """The 409 of ``POST /campaigns/{id}/activate`` (documentation only: both refusals fit it)."""

    activated: bool
    message: str
    field: str | None = None
    status: CampaignStatus | None = None
    campaign: Campaign | None = None
    policy_check: PolicyCheckResult | None = None


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
