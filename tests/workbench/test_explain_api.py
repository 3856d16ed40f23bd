"""The batch's explanation of a request agrees with ``POST /opportunities/evaluate`` with ``explain: true``
on a real server (127.0.0.1, a free port, embedded SQLite) seeded with the scenario's market, ranking
config and clock: the same rejected candidates with the same failed gates and scores, the same
shortlist and priorities. The first requests of the crowded market: no receipts are sent and no gate
closes in the batch over them, so both rank against the seeded spend and credits."""

from __future__ import annotations

import math
import random

import httpx
import msgspec
import polars as pl

from server.domain.ranking_table import ranking_table
from workbench.app.live_run import _private_env, seed_document
from workbench.app.local_server import start_private_server
from workbench.app.replay import request_bodies
from workbench.engine.explain import explain
from workbench.engine.pipeline import run_scenario
from workbench.engine.scenario import load_scenario

from .helpers import ROOT

CROWDED = str(ROOT / "scenarios" / "crowded-market.toml")
SCORES = ("relevance", "utility", "trust", "affectiveFit", "governedTrust", "freshness")


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=0.0, abs_tol=1e-9)


def test_the_apis_explain_answer_is_the_batchs(tmp_path) -> None:
    scenario = load_scenario(CROWDED, ["traffic.requests=60"])
    result = run_scenario(scenario)
    assert len(result.batch.epochs) == 1  # nothing closes: the server's seeded state holds throughout
    document, _ = seed_document(scenario)
    (tmp_path / "seed.json").write_bytes(msgspec.json.encode(document))
    (tmp_path / "ranking.json").write_bytes(msgspec.json.encode(ranking_table(scenario.ranking)))
    stamp = scenario.spec.as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
    server = start_private_server(
        {
            **_private_env(),
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/exchange.sqlite3",
            "SEED_PATH": str(tmp_path / "seed.json"),
            "RANKING_CONFIG_FILE": str(tmp_path / "ranking.json"),
            "EXCHANGE_CLOCK": f"fixed:{stamp}",
            "CPQR_BILLABLE_EVENT": scenario.spec.cpqr_billable_event,
        },
        tmp_path / "server.log",
        timeout=90.0,
    )
    try:
        bodies = request_bodies(result.traffic, "x", result.traffic.size)
        pick = sorted(random.Random(15).sample(range(len(bodies)), 12))
        with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
            for t in pick:
                response = client.post("/opportunities/evaluate", json={**bodies[t], "explain": True})
                assert response.status_code == 200, response.text
                api = response.json()
                ex = explain(result, result.traffic.requests["intent_id"][t])
                assert api["totalCandidates"] == result.market.total_candidates
                assert api["eligibleCandidates"] == int(ex.candidates["eligible"].sum())
                rejected = ex.candidates.filter(~pl.col("eligible")).to_dicts()
                assert rejected and api["shortlisted"]  # the crowded market always has both
                assert [(r["campaign_id"], r["partner_id"], r["failed_gates"]) for r in rejected] == [
                    (c["campaignId"], c["partnerId"], c["failedGates"]) for c in api["rejected"]
                ]
                for row, cand in zip(rejected, api["rejected"], strict=True):
                    for name in SCORES:
                        column = (
                            "affective_fit"
                            if name == "affectiveFit"
                            else "governed_trust"
                            if name == "governedTrust"
                            else name
                        )
                        assert close(row[column], cand["scores"][name]), (name, row, cand)
                shortlist = ex.shortlist.to_dicts()
                assert [(r["campaign_id"], r["partner_id"]) for r in shortlist] == [
                    (o["campaignId"], o["partnerId"]) for o in api["shortlisted"]
                ]
                for row, offer in zip(shortlist, api["shortlisted"], strict=True):
                    assert close(row["priority_score"], offer["priorityScore"])
    finally:
        server.stop()
