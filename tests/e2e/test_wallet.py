"""Wallets over HTTP (spec §6 "Credits", api.md "Wallet"): first use, charges exactly once under
concurrent duplicates, a workspace out of credits no longer served, a balance owed, seeded balances."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from tests.e2e.test_cli import cli
from tests.support import ServerProcess, error_body, expect, opportunity, receipt, roomy_seed, uid


def test_a_workspace_gets_100_credits_on_first_use(api: httpx.Client) -> None:
    workspace = uid("ws")
    first = expect(api.get("/wallet", params={"workspaceId": workspace}), 200)
    assert first == {**first, "workspaceId": workspace, "availableCredits": 100.0, "reservedCredits": 0.0,
                     "consumedCredits": 0.0, "expiredCredits": 0.0, "owedCredits": 0.0}  # fmt: skip
    assert first["updatedAt"].endswith("Z")
    assert expect(api.get("/wallet", params={"workspaceId": workspace}), 200) == first
    response = api.get("/wallet/ledger", params={"workspaceId": workspace})
    entries = expect(response, 200)
    assert response.headers["x-total-count"] == "1" and "link" not in response.headers
    assert [(e["entryType"], e["amount"], e["balanceAfter"], e["source"]) for e in entries] == [
        ("promo_grant", 100.0, 100.0, f"promo_grant:{workspace}")
    ]
    # Without workspaceId: the default workspace, where campaigns without one live.
    assert expect(api.get("/wallet"), 200)["workspaceId"] == "workspace_default"


def test_a_bad_workspace_id_is_a_400_naming_it(api: httpx.Client) -> None:
    for path in ("/wallet", "/wallet/ledger"):
        for bad in ("", "w" * 201):
            body = error_body(api.get(path, params={"workspaceId": bad}))
            assert "workspaceId" in json.dumps(body), body
    assert "limit" in json.dumps(error_body(api.get("/wallet/ledger", params={"limit": 0})))


def _wallet(api: httpx.Client) -> dict:
    return expect(api.get("/wallet", params={"workspaceId": "workspace_default"}), 200)


async def test_charges_once_per_receipt_then_the_workspace_runs_out_and_owes(
    start_server, tmp_path: Path
) -> None:
    seed = roomy_seed(tmp_path, budget_factor=1.0, credits={"workspace_default": 12.5})
    server: ServerProcess = start_server({"SEED_PATH": str(seed)})
    api = httpx.Client(base_url=server.base_url, timeout=15)
    assert _wallet(api)["availableCredits"] == 12.5
    request = opportunity(explain=True)
    served = expect(api.post("/opportunities/evaluate", json=request), 200)
    assert {s["campaignId"] for s in served["shortlisted"]} == {"cmp_hubflow", "cmp_signalstack"}

    # Five presented receipts, each sent four times at once: five charges of 2 credits.
    bodies = [receipt(eventType="presented") for _ in range(5)]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=20) as client:
        answers = await asyncio.gather(
            *(client.post("/events/receipts", json=b) for b in bodies for _ in range(4))
        )
    assert sorted(a.status_code for a in answers) == [200] * 15 + [201] * 5, [a.text[:200] for a in answers]
    assert _wallet(api)["availableCredits"] == 2.5
    assert expect(api.post("/opportunities/evaluate", json=opportunity()), 200)["shortlisted"]

    # A viewed receipt takes the balance to -0.5: the same request as before is no longer served
    # (not even from the response cache), every candidate failing only the credits gate.
    viewed = receipt(eventType="viewed")
    expect(api.post("/events/receipts", json=viewed), 201)
    closed = expect(api.post("/opportunities/evaluate", json=request), 200)
    assert closed["shortlisted"] == [] and closed["eligibleCandidates"] == 0
    gates = {(r["campaignId"], r["partnerId"]): r["failedGates"] for r in closed["rejected"]}
    assert gates[("cmp_hubflow", "partner_procure_pilot")] == ["credits"]
    assert gates[("cmp_signalstack", "partner_procure_pilot")] == ["credits"]

    # A receipt is never refused for lack of credits: stored, billed, the balance owed.
    conversion = receipt(eventType="conversion", campaignId="cmp_signalstack", offerId="offer_signalstack")
    stored = expect(api.post("/events/receipts", json=conversion), 201)
    assert stored["settlement"]["amount"] == 900 and stored["billable"] is True
    wallet = _wallet(api)
    assert (wallet["availableCredits"], wallet["owedCredits"], wallet["consumedCredits"]) == (
        -10.5,
        10.5,
        23.0,
    )
    assert expect(api.post("/events/receipts", json=conversion), 200)["deduplicated"] is True
    assert _wallet(api)["availableCredits"] == -10.5
    trail = expect(api.get("/audit-trail", params={"entityId": conversion["receiptId"]}), 200)
    event = next(e for e in trail["items"] if e["action"] == "receipt.conversion.attributed")
    assert event["details"]["credits"] == {
        "workspaceId": "workspace_default", "charged": 10.0, "balanceAfter": -10.5
    }  # fmt: skip

    # The ledger, newest first, in pages.
    first = api.get("/wallet/ledger", params={"limit": 3})
    assert first.status_code == 200 and first.headers["x-total-count"] == "8"
    entries = first.json()
    next_url = first.headers["link"].split(">")[0].lstrip("<")
    while next_url:
        page = api.get(next_url)
        entries += page.json()
        next_url = page.headers["link"].split(">")[0].lstrip("<") if "link" in page.headers else ""
    assert [(e["entryType"], e["amount"], e["balanceAfter"]) for e in reversed(entries)] == [
        ("seed_grant", 12.5, 12.5),
        *[("receipt_charge", -2.0, 12.5 - 2 * i) for i in range(1, 6)],
        ("receipt_charge", -3.0, -0.5),
        ("receipt_charge", -10.0, -10.5),
    ]
    assert {e["source"] for e in entries if e["entryType"] == "receipt_charge"} == {
        f"receipt:{b['receiptId']}" for b in [*bodies, viewed, conversion]
    }

    dashboard = expect(api.get("/dashboard"), 200)
    assert (dashboard["creditsConsumed"], dashboard["workspacesOutOfCredits"]) == (23.0, 1)
    api.close()


def test_db_init_refuses_a_seed_with_bad_wallets(tmp_path: Path) -> None:
    seed = json.loads(roomy_seed(tmp_path, 1.0).read_text())
    database = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.sqlite3"}
    for wallets, expected in [
        ([{"workspaceId": "ws_a", "availableCredits": "3"}], "at `$.wallets[0].availableCredits`"),
        ([{"workspaceId": "ws_a", "availableCredits": 1}, {"workspaceId": "ws_a", "availableCredits": 2}],
         "workspace 'ws_a' is listed twice - at `$.wallets[1]`"),
    ]:  # fmt: skip
        path = tmp_path / "bad-seed.json"
        path.write_text(json.dumps({**seed, "wallets": wallets}))
        result = cli("db", "init", env={**database, "SEED_PATH": str(path)})
        assert result.returncode == 2 and expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    path = tmp_path / "good-seed.json"
    path.write_text(json.dumps({**seed, "wallets": [{"workspaceId": "ws_a", "availableCredits": 7}]}))
    result = cli("db", "init", env={**database, "SEED_PATH": str(path)})
    assert result.returncode == 0 and "wallets=1" in result.stdout, result.stderr
