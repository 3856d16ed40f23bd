"""The batch engine's credits and the server's wallets agree: the same requests and receipts, replayed
through the server's services over a real store, shortlist the same campaigns in every request and leave
every metered workspace with the credits the engine counted (charges at receipt time, the gate at <= 0)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np

from server.app import build_services
from server.domain.models import EventReceipt
from server.services import exchange, receipts, seed, wallet
from server.settings import Settings
from workbench.engine.pipeline import run_scenario
from workbench.engine.simulate import receipts as funnel_receipts

from .helpers import CLOCK, campaign, partner, reference_run, request, scenario

# A workspace the scenario does not meter has unlimited credits in the engine: the server gets plenty.
UNMETERED = 1e9


def _scenario():
    camps = [
        campaign("cmp_a", workspaceId="ws_a", payoutAmount=120.0, budget=1e6),
        campaign("cmp_b", workspaceId="ws_b", payoutAmount=90.0, budget=1e6, billingModel="CPA"),
        campaign("cmp_c", workspaceId="ws_c", payoutAmount=60.0, budget=1e6),
        campaign("cmp_d", workspaceId="ws_a", payoutAmount=30.0, budget=1e6),
    ]
    parts = [partner("p_0", trustScore=0.9), partner("p_1")]
    reqs = [request(f"i{t}", sponsoredSlots=2) for t in range(30)]
    funnel = {"presented": 1.0, "viewed": 0.8, "interacted": 0.7, "converted": 0.6, "position_decay": 0.9}
    return scenario(camps, parts, reqs, entities={"credits": {"ws_a": 95.0, "ws_b": 61.5}}, funnel=funnel)


async def test_the_server_spends_credits_as_the_batch_engine_does(tmp_path: Path) -> None:
    scen = _scenario()
    result = run_scenario(scen)
    market = result.market
    batch_lists: list[list[str]] = [[] for _ in range(result.traffic.size)]
    ids = market.campaigns["campaign_id"].to_list()
    for idx, ci in result.simulation.slots.sort("idx", "position").select("idx", "ci").iter_rows():
        batch_lists[idx].append(ids[ci])
    closed = result.batch.epochs[-1]["credits_closed"]
    assert [market.workspaces[w] for w in closed] == ["ws_a", "ws_b"]  # both run out during the run

    svc = await build_services(
        Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/s.sqlite3"), load_seed=False
    )
    svc.clock = lambda: scen.spec.as_of
    try:
        credits = scen.spec.entities.credits
        wallets = [seed.SeedWallet(workspace_id=w, available_credits=credits.get(w, UNMETERED))
                   for w in market.workspaces]  # fmt: skip
        await seed.load_seed(svc, seed.SeedFile(campaigns=list(scen.campaigns), partners=list(scen.partners),
                                                wallets=wallets))  # fmt: skip
        sent = funnel_receipts(result.simulation, market)
        partners = [p.partner.partner_id for p in market.source_partners]
        server_lists = []
        for t, step in enumerate(reference_run(result)):
            body = await exchange.evaluate_opportunity(svc, step.request)
            server_lists.append([s["campaignId"] for s in msgspec.json.decode(body)["shortlisted"]])
            for row in sent.filter(sent["idx"] == t).iter_rows(named=True):
                cid, pid, kind = ids[row["ci"]], partners[row["pi"]], str(row["event_type"])
                await receipts.record_receipt(svc, msgspec.convert({
                    "receiptId": f"{step.request.intent_id}:{cid}:{pid}:{kind}", "dataProvenance": "demo_seed",
                    "intentId": step.request.intent_id, "offerId": f"offer_{cid}", "campaignId": cid,
                    "partnerId": pid, "eventType": kind, "occurredAt": CLOCK, "signature": "sig",
                }, EventReceipt))  # fmt: skip
        assert server_lists == batch_lists
        for w, workspace in enumerate(market.workspaces):
            got = await wallet.get_wallet(svc, workspace)
            assert got.consumed_credits == result.batch.credits_used[w], workspace
            if workspace in credits:
                assert np.isclose(got.available_credits, credits[workspace] - result.batch.credits_used[w])
                assert got.available_credits <= 0  # owed, never refused
    finally:
        await svc.close()
