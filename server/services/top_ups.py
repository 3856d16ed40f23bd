"""Wallet top-ups: Stripe Checkout, its return (confirm) and its webhook, credited exactly once.

- With ``STRIPE_SECRET_KEY`` a top-up is a Stripe Checkout Session; the wallet is credited
  when the buyer comes back (``confirm``) or when Stripe calls the webhook, whichever comes
  first. Both go through ``wallet.credit`` with the source ``stripe.checkout:{sessionId}``,
  unique over the ledger (a database constraint), so any number of confirms and webhooks
  for one session, even at the same moment, credit it once.
- Without it, ``default`` and ``demo`` credit the wallet at once (a ``top_up`` entry of its
  own); ``real_test`` refuses with 503: real money is never simulated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import msgspec

from ..adapters.stripe_checkout import (
    TOP_UP_KIND,
    BadSignature,
    CheckoutSession,
    NoSuchSession,
    StripeCheckout,
    StripeUnavailable,
    verify_event,
)
from ..domain.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from ..domain.lifecycle import DEFAULT_WORKSPACE_ID
from ..domain.models import Base, Id
from ..domain.wallet import Wallet
from . import wallet
from .context import Services, new_id

# Stripe's largest charge is 99,999,999 in the currency's smallest unit; a top-up stays well inside.
MAX_TOP_UP_CREDITS = 1_000_000
CREDITING_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")


class TopUpRequest(Base, kw_only=True):
    """``POST /wallet/top-ups/checkout``: whole credits to buy for a workspace."""

    workspace_id: Id = DEFAULT_WORKSPACE_ID
    credits: Annotated[int, msgspec.Meta(ge=1, le=MAX_TOP_UP_CREDITS)]


class CheckoutStarted(Base, kw_only=True):
    """A Stripe Checkout Session to send the buyer to."""

    provider: Literal["stripe"] = "stripe"
    session_id: str
    checkout_url: str


class TopUpConfirmation(Base, kw_only=True):
    """A paid session and the wallet after it; ``credited`` is false when it had been credited before."""

    provider: Literal["stripe"] = "stripe"
    session_id: str
    workspace_id: str
    credits: int
    credited: bool
    wallet: Wallet


class WebhookReceipt(Base, kw_only=True):
    """What ``POST /webhooks/stripe`` did with a verified event."""

    received: bool = True
    event_type: str
    session_id: str | None = None
    credited: bool = False
    ignored_reason: str | None = None


def session_source(session_id: str) -> str:
    return f"stripe.checkout:{session_id}"


def stripe_checkout(svc: Services) -> StripeCheckout | None:
    """The process's Stripe client (made on first use), or None without ``STRIPE_SECRET_KEY``."""
    settings = svc.settings.stripe
    if not settings.enabled:
        return None
    client = svc.state.get("stripe")
    if client is None:
        client = svc.state["stripe"] = StripeCheckout(settings)
    return client


def _return_urls(base_url: str, workspace_id: str) -> tuple[str, str]:
    # {CHECKOUT_SESSION_ID} is left as is: Stripe puts the session id there when it sends the buyer back.
    query = urlencode({"checkout": "success", "workspaceId": workspace_id})
    success = f"{base_url}/plans-wallet?{query}&session_id={{CHECKOUT_SESSION_ID}}"
    cancel = f"{base_url}/plans-wallet?" + urlencode({"checkout": "cancelled", "workspaceId": workspace_id})
    return success, cancel


async def start_top_up(svc: Services, request: TopUpRequest, base_url: str) -> CheckoutStarted | Wallet:
    """A Checkout Session with Stripe; without it the wallet credited at once (default, demo) or 503."""
    client = stripe_checkout(svc)
    if client is None:
        if svc.settings.real_data_only:
            raise ServiceUnavailable(
                "Top-ups need Stripe in real_test mode: set STRIPE_SECRET_KEY (credits are never added "
                "without a payment in real_test)."
            )
        updated, _ = await wallet.credit(
            svc, request.workspace_id, request.credits, source=f"direct_top_up:{new_id('top_', 16)}"
        )
        return updated
    return_base = svc.settings.stripe.return_base_url or base_url.rstrip("/")
    success, cancel = _return_urls(return_base, request.workspace_id)
    try:
        session = await client.create_top_up(
            workspace_id=request.workspace_id, credits=request.credits, success_url=success, cancel_url=cancel
        )
    except StripeUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from None
    if not session.url:
        raise ServiceUnavailable(f"Stripe created the Checkout Session {session.session_id} without a URL.")
    return CheckoutStarted(session_id=session.session_id, checkout_url=session.url)


def _top_up_credits(session: CheckoutSession) -> int | None:
    """The credits a session of this server buys, or None when it is not a wallet top-up."""
    if session.metadata.get("kind") != TOP_UP_KIND:
        return None
    try:
        credits = int(session.metadata.get("credits", ""))
    except ValueError:
        return None
    return credits if 1 <= credits <= MAX_TOP_UP_CREDITS else None


async def _credit_session(svc: Services, session: CheckoutSession, credits: int) -> tuple[Wallet, bool]:
    workspace_id = session.metadata["workspaceId"]
    source = session_source(session.session_id)
    updated, entry = await wallet.credit(svc, workspace_id, credits, source=source)
    return updated, entry is not None


async def confirm(svc: Services, session_id: str, workspace_id: str) -> TopUpConfirmation:
    """On the buyer's return: read the session from Stripe and credit it, once however often this runs."""
    client = stripe_checkout(svc)
    if client is None:
        raise NotFound(
            "There are no Stripe Checkout Sessions on this server (STRIPE_SECRET_KEY is not set): "
            "top-ups are credited at once.",
            field="sessionId",
        )
    try:
        session = await client.retrieve(session_id)
    except NoSuchSession:
        raise NotFound(f"Stripe has no Checkout Session {session_id!r}.", field="sessionId") from None
    except StripeUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from None
    credits = _top_up_credits(session)
    if credits is None:
        raise Conflict(f"The Checkout Session {session_id!r} is not a wallet top-up.", field="sessionId")
    owner = session.metadata.get("workspaceId")
    if owner != workspace_id:
        raise Conflict(
            f"The Checkout Session {session_id!r} tops up another workspace, not {workspace_id!r}.",
            field="workspaceId",
        )
    if session.payment_status != "paid":
        raise Conflict(
            f"The Checkout Session {session_id!r} is not paid (paymentStatus {session.payment_status!r}, "
            f"status {session.status!r}); nothing was credited.",
            field="sessionId",
            body={"paymentStatus": session.payment_status, "status": session.status},
        )
    updated, credited = await _credit_session(svc, session, credits)
    return TopUpConfirmation(
        session_id=session_id, workspace_id=workspace_id, credits=credits, credited=credited, wallet=updated
    )


async def handle_webhook(svc: Services, payload: bytes, signature: str) -> WebhookReceipt:
    """A Stripe event, verified by its signature; a paid top-up session is credited (once)."""
    secret = svc.settings.stripe.webhook_secret
    if secret is None:
        raise NotFound(
            "This server takes no Stripe webhooks: STRIPE_WEBHOOK_SECRET is not set.",
            field="Stripe-Signature",
        )
    try:
        event: dict[str, Any] = verify_event(payload, signature, secret)
    except BadSignature as exc:
        raise ValidationFailed(f"Refused: {exc}.", field="Stripe-Signature") from None
    event_type = str(event.get("type"))
    data: Mapping[str, Any] = event.get("data") or {}
    obj: Mapping[str, Any] = data.get("object") or {}
    if event_type not in CREDITING_EVENTS or obj.get("object", "checkout.session") != "checkout.session":
        return WebhookReceipt(event_type=event_type, ignored_reason="not a completed Checkout Session")
    session = CheckoutSession.from_stripe(obj)
    credits = _top_up_credits(session)
    if credits is None or not session.metadata.get("workspaceId"):
        return WebhookReceipt(
            event_type=event_type, session_id=session.session_id, ignored_reason="not a wallet top-up"
        )
    if session.payment_status != "paid":  # e.g. a bank debit still on its way: its own event follows
        return WebhookReceipt(
            event_type=event_type, session_id=session.session_id,
            ignored_reason=f"not paid yet (paymentStatus {session.payment_status!r})",
        )  # fmt: skip
    _, credited = await _credit_session(svc, session, credits)
    return WebhookReceipt(event_type=event_type, session_id=session.session_id, credited=credited)
