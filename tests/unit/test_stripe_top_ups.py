"""Stripe settings, the plans catalogue, the webhook's access rule, webhook verification by the stripe
library, and Stripe's form encoding as the local Stripe reads it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from server.adapters.stripe_checkout import BadSignature, verify_event
from server.domain.plans import PLANS
from server.mocks.stripe import decode_form
from server.services.access import required_role
from server.settings import Settings, SettingsError, StripeSettings


def test_stripe_settings_from_the_environment() -> None:
    assert Settings.from_env({}).stripe == StripeSettings()
    assert not Settings.from_env({}).stripe.enabled
    stripe = Settings.from_env({
        "STRIPE_SECRET_KEY": "sk_test_1", "STRIPE_PRICE_PER_CREDIT_CENTS": "7", "STRIPE_CURRENCY": "EUR",
        "STRIPE_TOP_UP_PRODUCT_NAME": "Credits", "STRIPE_WEBHOOK_SECRET": "whsec_1",
        "STRIPE_API_BASE": "http://127.0.0.1:12111/", "STRIPE_RETURN_BASE_URL": "https://ops.example.org",
    }).stripe  # fmt: skip
    assert stripe == StripeSettings(
        secret_key="sk_test_1", price_per_credit_cents=7, currency="eur", top_up_product_name="Credits",
        webhook_secret="whsec_1", api_base="http://127.0.0.1:12111", return_base_url="https://ops.example.org",
    )  # fmt: skip
    assert stripe.enabled


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("STRIPE_PRICE_PER_CREDIT_CENTS", "0", "STRIPE_PRICE_PER_CREDIT_CENTS must be at least 1"),
        ("STRIPE_PRICE_PER_CREDIT_CENTS", "ten", "STRIPE_PRICE_PER_CREDIT_CENTS must be a whole number"),
        ("STRIPE_CURRENCY", "euro", "STRIPE_CURRENCY must be a three-letter ISO currency code"),
        ("STRIPE_API_BASE", "127.0.0.1:12111", "STRIPE_API_BASE must be an http:// or https:// URL"),
    ],
)
def test_a_bad_stripe_setting_names_itself(name: str, value: str, said: str) -> None:
    with pytest.raises(SettingsError, match=said):
        Settings.from_env({name: value})


def test_the_four_plans_and_their_limits() -> None:
    assert [p.plan_id for p in PLANS] == ["trial", "starter", "growth", "enterprise"]
    active = [p.limits.active_campaigns for p in PLANS]
    assert active == [1, 5, 25, None]  # grows with the plan; enterprise has no fixed limit


def test_the_webhook_is_authenticated_by_its_signature_not_a_key() -> None:
    assert required_role("POST", "/webhooks/stripe", protect_reads=True) is None
    assert required_role("POST", "/wallet/top-ups/checkout", protect_reads=False) == "operator"


def _signed(payload: bytes, secret: str, at: int) -> str:
    return f"t={at},v1=" + hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()


def test_the_library_verifies_stripe_signatures() -> None:
    payload = json.dumps({"id": "evt_1", "object": "event", "type": "checkout.session.completed",
                          "data": {"object": {"id": "cs_1", "metadata": {"credits": "5"}}}}).encode()  # fmt: skip
    now = int(time.time())
    event = verify_event(payload, _signed(payload, "whsec_a", now), "whsec_a")
    assert event["data"]["object"]["metadata"] == {"credits": "5"}
    for signature in (_signed(payload, "whsec_b", now), _signed(payload, "whsec_a", now - 301), "t=1", ""):
        with pytest.raises(BadSignature):
            verify_event(payload, signature, "whsec_a")
    with pytest.raises(BadSignature, match="not a Stripe event"):
        verify_event(b"not json", _signed(b"not json", "whsec_a", now), "whsec_a")


def test_stripes_form_encoding_decodes_to_nested_objects() -> None:
    body = ("mode=payment&line_items[0][quantity]=1&line_items[0][price_data][currency]=usd"
            "&line_items[1][quantity]=2&metadata[workspaceId]=ws_1&success_url=http%3A%2F%2Fx%2F%3Fa%3D1")  # fmt: skip
    assert decode_form(body) == {
        "mode": "payment",
        "line_items": [{"quantity": "1", "price_data": {"currency": "usd"}}, {"quantity": "2"}],
        "metadata": {"workspaceId": "ws_1"},
        "success_url": "http://x/?a=1",
    }
