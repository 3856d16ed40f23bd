"""The exchange itself: evaluating an opportunity, and the receipts buyer agents send back."""

from __future__ import annotations

from typing import cast

import msgspec
from litestar import Controller, Request, Response, post
from litestar.openapi import ResponseSpec

from ..domain.models import Base, EventReceipt, OpportunityRequest, OpportunityResponse
from ..services import exchange, receipts
from ..services.context import Services
from .errors import documented


class _OccurredAtText(Base, kw_only=True):
    occurred_at: str | None = None


_occurred_at_text = msgspec.json.Decoder(_OccurredAtText)


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
        # cast: ``body`` is the encoded OpportunityResponse (served as cached bytes); the annotation is what
        # Litestar documents in the OpenAPI schema.
        return cast(
            "Response[OpportunityResponse]",
            Response(content=body, media_type="application/json", status_code=200),
        )

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
