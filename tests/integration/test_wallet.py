"""Wallets over a real store (SQLite, PostgreSQL, PostgreSQL + Redis): exactly-once charges and credits,
the credits gate in evaluation, the response cache seeing a workspace run out, seeded balances."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from server.domain.models import EventReceipt, OpportunityRequest
from server.services import exchange, receipts, seed, wallet
from server.services.context import Services

REQUEST = {
    "intentId": "int_wallet",
    "category": "crm_software",
    "taskType": "compare_and_shortlist",
    "constraints": {"geo": ["UK"]},
    "sponsoredSlots": 4,
    "explain": True,
}


def event(receipt_id: str, event_type: str, campaign: str = "cmp_hubflow") -> EventReceipt:
    offer = {"cmp_hubflow": "offer_hubflow", "cmp_signalstack": "offer_signalstack"}[campaign]
    return msgspec.convert(
        {
            "receiptId": receipt_id, "dataProvenance": "real_event", "intentId": f"int_{receipt_id}",
            "offerId": offer, "campaignId": campaign, "partnerId": "partner_procure_pilot",
            "eventType": event_type, "occurredAt": "2026-03-11T12:00:00Z", "signature": "sig",
        },
        EventReceipt,
    )  # fmt: skip


async def ledger(services: Services, workspace: str = "workspace_default") -> list[tuple[str, float, float]]:
    page = await wallet.page_ledger(services, workspace, limit=1000)
    return [(e.entry_type, e.amount, e.balance_after) for e in reversed(page.items)]


async def shortlist(services: Services) -> tuple[list[str], dict[str, list[str]]]:
    body = await exchange.evaluate_opportunity(services, msgspec.convert(REQUEST, OpportunityRequest))
    response = msgspec.json.decode(body)
    rejected = {f"{r['campaignId']}/{r['partnerId']}": r["failedGates"] for r in response["rejected"]}
    return [s["campaignId"] for s in response["shortlisted"]], rejected


async def test_first_use_grants_100_credits_once(services: Services) -> None:
    wallets = await asyncio.gather(*(wallet.get_wallet(services, "ws_new") for _ in range(6)))
    assert {(w.workspace_id, w.available_credits, w.consumed_credits, w.owed_credits) for w in wallets} == {
        ("ws_new", 100.0, 0.0, 0.0)
    }
    page = await wallet.page_ledger(services, "ws_new")
    assert [(e.entry_type, e.amount, e.balance_after, e.source) for e in page.items] == [
        ("promo_grant", 100.0, 100.0, "promo_grant:ws_new")
    ]


async def test_receipts_consume_credits_once_per_receipt_even_as_concurrent_twins(services: Services) -> None:
    twins = [event(f"r_twin_{kind}", kind) for kind in ("presented", "viewed", "interacted", "conversion")]
    results = await asyncio.gather(*(receipts.record_receipt(services, r) for r in twins for _ in range(5)))
    assert sorted(r.deduplicated for r in results) == [False] * 4 + [True] * 16
    await receipts.record_receipt(services, event("r_free", "shortlisted"))  # costs nothing, no entry
    await receipts.record_receipt(services, twins[3])  # a later repeat: still no second charge

    assert sorted(await ledger(services))[:1] == [("promo_grant", 100.0, 100.0)]
    charges = sorted(amount for kind, amount, _ in await ledger(services) if kind == "receipt_charge")
    assert charges == [-10.0, -5.0, -3.0, -2.0]
    got = await wallet.get_wallet(services, "workspace_default")
    assert (got.available_credits, got.consumed_credits) == (80.0, 20.0)
    entry = await services.store.read(lambda uow: uow.wallets.ledger_entry_for("receipt:r_twin_conversion"))
    assert (
        entry is not None and entry.campaign_id == "cmp_hubflow" and entry.workspace_id == "workspace_default"
    )


async def test_running_out_closes_the_credits_gate_at_the_next_evaluation(services: Services) -> None:
    await services.store.write(
        lambda uow: seed.seed_wallets(uow, [seed.SeedWallet(workspace_id="workspace_default", available_credits=4)],
                                     services.clock())
    )  # fmt: skip
    before, _ = await shortlist(services)
    assert before == ["cmp_signalstack", "cmp_hubflow"]  # and now cached for 12 s

    await receipts.record_receipt(services, event("r_out_1", "presented"))  # 4 -> 2
    assert (await shortlist(services))[0] == before  # still open: the cached answer is right
    await receipts.record_receipt(services, event("r_out_2", "presented"))  # 2 -> 0: closed

    served, rejected = await shortlist(services)
    assert served == []
    assert rejected["cmp_hubflow/partner_procure_pilot"] == ["credits"]
    assert rejected["cmp_signalstack/partner_procure_pilot"] == ["credits"]

    # A receipt is never refused for lack of credits: stored, billed, and the balance goes below zero.
    conversion = await receipts.record_receipt(services, event("r_owed", "conversion", "cmp_signalstack"))
    assert conversion.deduplicated is False and conversion.settlement is not None
    assert conversion.settlement.amount == 900.0
    owed = await wallet.get_wallet(services, "workspace_default")
    assert (owed.available_credits, owed.owed_credits, owed.consumed_credits) == (-10.0, 10.0, 14.0)

    # Credited back above zero (once per source, however many at once): served again at once.
    results = await asyncio.gather(*(wallet.credit(services, "workspace_default", 25, source="test:topup_1")
                                     for _ in range(8)))  # fmt: skip
    assert sum(entry is not None for _, entry in results) == 1
    assert (await wallet.get_wallet(services, "workspace_default")).available_credits == 15.0
    assert (await shortlist(services))[0] == before
    assert [kind for kind, _, _ in await ledger(services)] == [
        "seed_grant", "receipt_charge", "receipt_charge", "receipt_charge", "top_up"
    ]  # fmt: skip


async def test_seeded_wallets_set_the_starting_balance_and_keep_existing_ones(services: Services) -> None:
    await wallet.get_wallet(services, "ws_existing")
    seeded = seed.SeedFile(
        wallets=[
            seed.SeedWallet(workspace_id="ws_metered", available_credits=12.5),
            seed.SeedWallet(workspace_id="ws_existing", available_credits=3),
        ]
    )
    counts = await seed.load_seed(services, seeded)
    assert counts["wallets"] == 1
    assert (await seed.load_seed(services, seeded))["wallets"] == 0  # safe to run twice
    assert (await wallet.get_wallet(services, "ws_metered")).available_credits == 12.5
    assert (await wallet.get_wallet(services, "ws_existing")).available_credits == 100.0
    assert await ledger(services, "ws_metered") == [("seed_grant", 12.5, 12.5)]


@pytest.mark.parametrize("credits", [0, -5])
async def test_a_credit_must_add_credits(services: Services, credits: float) -> None:
    from server.domain.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as err:
        await wallet.credit(services, "ws_x", credits, source="test:bad")
    assert err.value.field == "credits"
