"""A Stripe that cannot be reached: the checkout and the confirm answer 503 and nothing is credited."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.app import build_services
from server.domain.errors import ServiceUnavailable
from server.services import top_ups, wallet
from server.settings import Settings, StripeSettings
from tests.backends import free_port


async def test_a_stripe_that_cannot_be_reached_is_a_503_and_credits_nothing(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/store.sqlite3",
        stripe=StripeSettings(secret_key="sk_test_x", api_base=closed),
    )
    svc = await build_services(settings)
    try:
        request = top_ups.TopUpRequest(workspace_id="ws_down", credits=5)
        with pytest.raises(ServiceUnavailable, match="Stripe did not create the Checkout Session"):
            await top_ups.start_top_up(svc, request, "http://127.0.0.1:3000")
        with pytest.raises(ServiceUnavailable, match="Stripe could not be reached"):
            await top_ups.confirm(svc, "cs_test_1", "ws_down")
        assert (await wallet.get_wallet(svc, "ws_down")).available_credits == 100.0
    finally:
        await svc.close()
