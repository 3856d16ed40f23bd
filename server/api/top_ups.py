"""Plans, wallet top-ups with Stripe Checkout, and Stripe's webhook (spec/api.md "Wallet and Stripe")."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import Parameter

from ..domain.lifecycle import DEFAULT_WORKSPACE_ID
from ..domain.models import ID_MAX_LENGTH, NO_NUL
from ..domain.plans import PLANS, Plan
from ..domain.wallet import Wallet
from ..services import top_ups
from ..services.context import Services
from .errors import ErrorBody, documented
from .wallet import WorkspaceIdQuery


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)


STRIPE_DOWN = _error(
    "Stripe could not be reached or refused the request (`Retry-After` says when to try again); "
    "or, on checkout in real_test mode, Stripe is not configured (STRIPE_SECRET_KEY)."
)


class PlansController(Controller):
    tags = ["wallet"]

    @get(
        "/plans",
        description="The four plans (trial, starter, growth, enterprise) and their limits "
        "(`null`: no limit).",
    )
    async def plans(self) -> list[Plan]:
        return list(PLANS)


class TopUpController(Controller):
    path = "/wallet/top-ups"
    tags = ["wallet"]

    @post(
        "/checkout",
        status_code=201,
        responses={**documented(413), 503: STRIPE_DOWN},
        description="Buy credits for a workspace. With STRIPE_SECRET_KEY: a Stripe Checkout Session (mode "
        "payment, one line item of `credits × STRIPE_PRICE_PER_CREDIT_CENTS` in STRIPE_CURRENCY) → 201 "
        '`{provider: "stripe", sessionId, checkoutUrl}`; send the buyer to `checkoutUrl`. Without Stripe, '
        "default and demo modes credit the wallet at once → 201 with the wallet; real_test answers 503.",
    )
    async def checkout(
        self, svc: Services, request: Request, data: top_ups.TopUpRequest
    ) -> top_ups.CheckoutStarted | Wallet:
        return await top_ups.start_top_up(svc, data, str(request.base_url))

    @get(
        "/confirm",
        responses={
            **documented(404),
            409: _error(
                "The session is not paid, tops up another workspace, or is not a wallet top-up; "
                "nothing was credited."
            ),
            503: STRIPE_DOWN,
        },
        description="On the buyer's return from Checkout: reads the session from Stripe and credits the "
        "wallet once per session (ledger source `stripe.checkout:{sessionId}`, unique in the database), "
        "however often and however concurrently it is called; `credited` is false when the session had "
        "been credited before (by a confirm or the webhook). 404 when there is no such session (or no "
        "Stripe on this server).",
    )
    async def confirm(
        self,
        svc: Services,
        session_id: Annotated[
            str,
            Parameter(
                query="sessionId",
                description="the Checkout Session id (`cs_…`)",
                min_length=1,
                max_length=ID_MAX_LENGTH,
                pattern=NO_NUL,
            ),
        ],
        workspace_id: WorkspaceIdQuery = DEFAULT_WORKSPACE_ID,
    ) -> top_ups.TopUpConfirmation:
        return await top_ups.confirm(svc, session_id, workspace_id)


class StripeWebhookController(Controller):
    tags = ["wallet"]

    @post(
        "/webhooks/stripe",
        status_code=200,
        responses={
            400: _error(
                "The `Stripe-Signature` does not verify against STRIPE_WEBHOOK_SECRET, or the "
                "body is not a JSON event."
            ),
            404: _error("This server takes no Stripe webhooks (STRIPE_WEBHOOK_SECRET is not set)."),
            413: documented(413)[413],
        },
        description="Stripe's webhook: needs no API key, it is authenticated by its `Stripe-Signature` "
        "(verified by the stripe library with STRIPE_WEBHOOK_SECRET). `checkout.session.completed` (and "
        "`checkout.session.async_payment_succeeded`) for a paid wallet top-up credits the wallet through "
        "the same exactly-once path as confirm; every other verified event is acknowledged and ignored.",
    )
    async def stripe_webhook(
        self,
        svc: Services,
        request: Request,
        data: dict[str, Any],
        signature: Annotated[
            str, Parameter(header="stripe-signature", description="`t=…,v1=…` as Stripe signs", min_length=1)
        ],
    ) -> Response[top_ups.WebhookReceipt]:
        del data  # the signature covers the raw bytes, read below; ``data`` documents the body
        result = await top_ups.handle_webhook(svc, await request.body(), signature)
        return Response(result, status_code=200)
