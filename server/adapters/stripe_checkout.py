"""Stripe Checkout through the official ``stripe`` library, without blocking the event loop.

The client is ``stripe.StripeClient`` over ``stripe.HTTPXClient`` used through its async
methods only (``allow_sync_methods`` stays off, so a blocking call would fail loudly).
``STRIPE_API_BASE`` points the library at another address (a local stand-in such as
``promotion-agent mock stripe``); the wire format is Stripe's either way. Webhook
signatures are checked by the library (``stripe.Webhook.construct_event``).

This module knows nothing about wallets: it creates and reads Checkout Sessions and
turns the library's errors into three plain ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import stripe
from stripe.params.checkout import SessionCreateParams

from ..settings import StripeSettings

TOP_UP_KIND = "wallet_top_up"
TIMEOUT_SECONDS = 20.0


class StripeUnavailable(Exception):
    """Stripe could not be reached or refused the request (a bad key, a network failure)."""


class NoSuchSession(Exception):
    """Stripe knows no Checkout Session with that id."""


class BadSignature(Exception):
    """A webhook whose ``Stripe-Signature`` does not verify (or whose body is not an event)."""


@dataclass(frozen=True)
class CheckoutSession:
    """The parts of a Checkout Session a top-up needs (metadata as this server wrote it)."""

    session_id: str
    url: str | None
    status: str | None  # open | complete | expired
    payment_status: str | None  # paid | unpaid | no_payment_required
    metadata: dict[str, str]

    @classmethod
    def from_stripe(cls, obj: Mapping[str, Any]) -> CheckoutSession:
        metadata = obj.get("metadata") or {}
        return cls(
            session_id=str(obj.get("id")),
            url=obj.get("url"),
            status=obj.get("status"),
            payment_status=obj.get("payment_status"),
            metadata={str(k): str(v) for k, v in dict(metadata).items()},
        )


def _reason(exc: stripe.StripeError) -> str:
    return (getattr(exc, "user_message", None) or str(exc) or type(exc).__name__).strip()


class StripeCheckout:
    """Checkout Sessions for wallet top-ups (one client per server process)."""

    def __init__(self, settings: StripeSettings) -> None:
        if settings.secret_key is None:
            raise ValueError("StripeCheckout needs STRIPE_SECRET_KEY")
        self.settings = settings
        self._http = stripe.HTTPXClient(timeout=TIMEOUT_SECONDS)
        self._client = stripe.StripeClient(
            settings.secret_key,
            http_client=self._http,
            base_addresses={"api": settings.api_base} if settings.api_base else None,
            max_network_retries=2,  # the library adds an idempotency key to every retried POST
        )

    async def create_top_up(
        self, *, workspace_id: str, credits: int, success_url: str, cancel_url: str
    ) -> CheckoutSession:
        """A payment-mode session with one line item of ``credits × price per credit``."""
        s = self.settings
        params: SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": s.currency,
                        "unit_amount": credits * s.price_per_credit_cents,
                        "product_data": {"name": s.top_up_product_name},
                    },
                }
            ],
            "metadata": {"workspaceId": workspace_id, "credits": str(credits), "kind": TOP_UP_KIND},
            "client_reference_id": workspace_id,
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        try:
            sessions = self._client.v1.checkout.sessions
            session = await sessions.create_async(params=params)
        except stripe.StripeError as exc:
            raise StripeUnavailable(f"Stripe did not create the Checkout Session: {_reason(exc)}") from None
        return CheckoutSession.from_stripe(session.to_dict())

    async def retrieve(self, session_id: str) -> CheckoutSession:
        try:
            session = await self._client.v1.checkout.sessions.retrieve_async(session_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404 or getattr(exc, "code", None) == "resource_missing":
                raise NoSuchSession(session_id) from None
            raise StripeUnavailable(f"Stripe refused to read the Checkout Session: {_reason(exc)}") from None
        except stripe.StripeError as exc:
            raise StripeUnavailable(f"Stripe could not be reached: {_reason(exc)}") from None
        return CheckoutSession.from_stripe(session.to_dict())

    async def close(self) -> None:
        await self._http.close_async()


def verify_event(payload: bytes, signature: str, secret: str) -> dict[str, Any]:
    """The event a webhook carries, once the library verified its signature (5 minutes' tolerance)."""
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as exc:
        reason = exc.user_message or exc
        raise BadSignature(f"the Stripe-Signature header does not verify: {reason}") from None
    except ValueError as exc:  # the signature held but the body is not a JSON event
        raise BadSignature(f"the body is not a Stripe event: {exc}") from None
    return event.to_dict()
