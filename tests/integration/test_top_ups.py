"""Top-ups at the service level: an unreachable Stripe is 503 and credits nothing; without Stripe, default
and demo credit at once and real_test refuses (503)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.app import build_services
from server.domain.errors import ServiceUnavailable
from server.domain.wallet import Wallet
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


@pytest.mark.parametrize(("mode", "credited"), [("default", True), ("demo", True), ("real_test", False)])
async def test_without_stripe_default_and_demo_credit_at_once_and_real_test_refuses(
    tmp_path: Path, mode: str, credited: bool
) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/store.sqlite3", mode=mode)
    svc = await build_services(settings, load_seed=False)
    try:
        request = top_ups.TopUpRequest(workspace_id="ws_direct", credits=7)
        if credited:
            topped = await top_ups.start_top_up(svc, request, "http://127.0.0.1:3000")
            assert isinstance(topped, Wallet) and topped.available_credits == 107.0
            page = await wallet.page_ledger(svc, "ws_direct")
            assert page.items[0].entry_type == "top_up" and page.items[0].source.startswith("direct_top_up:")
        else:
            with pytest.raises(ServiceUnavailable, match="STRIPE_SECRET_KEY"):
                await top_ups.start_top_up(svc, request, "http://127.0.0.1:3000")
            assert (await wallet.get_wallet(svc, "ws_direct")).available_credits == 100.0
    finally:
        await svc.close()
