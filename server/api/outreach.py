"""Partner outreach (api.md "Outreach"): draft targets, sending, listing, and the open-tracking pixel."""

from __future__ import annotations

import base64
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import Parameter, QueryParameter

from ..domain.outreach import OutreachDraft, OutreachTarget
from ..services import outreach
from ..services.context import Services
from .errors import ErrorBody, documented
from .params import IdFilter, IdPath, LeadId


def comma_list(value: str | None) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()] if value else []


TargetId = Annotated[str, IdPath("outreach target")]
LeadIdQuery = Annotated[str | None, IdFilter("leadId", "lead")]
_STATUS = "(?:" + "|".join(outreach.STATUSES) + ")"
OutreachStatusQuery = Annotated[
    str | None,
    QueryParameter(
        name="status",
        description=f"comma-separated statuses: {', '.join(outreach.STATUSES)}",
        max_length=200,
        pattern=f"^{_STATUS}(?:,{_STATUS})*$",
    ),
]
# The smallest transparent GIF (1x1, one transparent colour).
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}

SEND_REFUSED = ResponseSpec(
    data_container=ErrorBody,
    description="Not sent: the target's channel is not sent by this server (only email and partner_intro), "
    "it is sent or bounced already, or another request is sending it. The body's `target` is the target.",
    generate_examples=False,
)
SEND_UNAVAILABLE = ResponseSpec(
    data_container=ErrorBody,
    description="real_test mode without OUTREACH_SENDER_MODE=smtp: nothing was sent.",
    generate_examples=False,
)


class OutreachController(Controller):
    tags = ["outreach"]

    @post(
        "/agent-leads/{lead_id:str}/outreach",
        status_code=201,
        responses=documented(404, 413),
        description="Create a draft outreach target for the lead: `channel` (email, partner_intro, or "
        "another, kept but not sent), `contactPoint` (an e-mail address for email and partner_intro; "
        "placeholder contacts such as @example.com are refused), `subjectLine`, `messageTemplate` (may "
        "name fields as `{{providerOrg}}`), optional `campaignId` (its disclosure and proof go with the "
        "message).",
    )
    async def create(self, svc: Services, lead_id: LeadId, data: OutreachDraft) -> OutreachTarget:
        return await outreach.create_target(svc, lead_id, data)

    @post(
        "/outreach-targets/{target_id:str}/send",
        status_code=200,
        responses={**documented(404), 409: SEND_REFUSED, 503: SEND_UNAVAILABLE},
        description="Send the target once: in SMTP mode as a real e-mail (text and HTML, the campaign's "
        "disclosure, an open-tracking image when OUTREACH_TRACKING_BASE_URL is set), in simulated mode "
        "recorded only. The result is stored on the target: `sent` (`SMTP_SENT`, or `SIMULATED_SENT`), "
        "`retry_scheduled` (a 4xx reply; `nextAttemptAt`) or `bounced` (a 5xx reply or a refused recipient).",
    )
    async def send(self, svc: Services, target_id: TargetId) -> OutreachTarget:
        return await outreach.send_target(svc, target_id)

    @get("/outreach-targets", responses=documented())
    async def list_targets(
        self, svc: Services, lead_id: LeadIdQuery = None, status: OutreachStatusQuery = None
    ) -> list[OutreachTarget]:
        return await outreach.list_targets(svc, lead_id, comma_list(status))

    @get("/outreach-targets/{target_id:str}", responses=documented(404))
    async def one_target(self, svc: Services, target_id: TargetId) -> OutreachTarget:
        return await outreach.get_target(svc, target_id)

    @get(
        "/outreach/open/{target_id:str}/pixel.gif",
        media_type="image/gif",
        responses=documented(),
        description="A 1x1 transparent GIF, the same for any id, never cached; counts an open of a sent "
        "target. Needs no API key (mail clients fetch it).",
    )
    async def pixel(
        self, svc: Services, target_id: Annotated[str, Parameter(description="the outreach target's id")]
    ) -> Response[bytes]:
        await outreach.record_open(svc, target_id)
        return Response(PIXEL_GIF, media_type="image/gif", headers=NO_CACHE)
