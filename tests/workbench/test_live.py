"""``workbench live``: the scenario itself on a private server, reconciled with the batch engine.

Real processes (the server on SQLite, the mock billing provider, the settlement worker), started
and stopped by the command. Retryable failures are set to 0 here so the queue drains without the
15 s / 30 s retry waits; terminal failures are frequent enough that every run has some.
"""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from workbench.app.live_run import LiveResult, seed_document
from workbench.app.reconcile import batch_shortlists, reconcile, render, same_shortlist
from workbench.app.replay import ReplaySummary
from workbench.cli import main
from workbench.engine.pipeline import run_scenario
from workbench.engine.scenario import load_scenario

from .helpers import ROOT

CROWDED = str(ROOT / "scenarios" / "crowded-market.toml")
FAST_BILLING = ["--set", "billing.retryable_failure_rate=0", "--set", "billing.terminal_failure_rate=0.2"]


def live_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["live", *args, "--json"])
    out, err = capsys.readouterr()
    assert out.strip(), err
    return code, json.loads(out)


def test_a_live_run_of_the_crowded_market_agrees_with_the_batch(capsys: pytest.CaptureFixture[str]) -> None:
    # budgets at 5 % and 60 credits for ws_hooli: a dozen campaigns and a workspace run out within the
    # first 80 requests, live as in the batch
    code, report = live_json(
        capsys,
        CROWDED,
        "--limit",
        "80",
        "--set",
        "entities.budget_multiplier=0.05",
        "--set",
        "entities.credits.ws_hooli=60",
        *FAST_BILLING,
    )
    assert code == 0, report
    assert (report["requests"], report["shortlistMismatches"], report["mismatches"]) == (80, 0, [])
    assert report["slots"]["live"] == report["slots"]["batch"] == 206
    assert report["queueDrained"] is True and report["notes"] == []
    live, batch = report["settlements"]["live"], report["settlements"]["batch"]
    # the same shortlists and receipts make the same settlements; the provider's draws decide their fate
    assert sum(live.values()) == sum(batch.values()) == 90
    assert set(live) == {"settled", "failed"} and live["failed"] >= 1
    assert report["dlqEntries"]["live"] == {"open": live["failed"]}  # each failure opened a dead letter
    assert report["dlqEntries"]["batch"] == {"open": batch["failed"]}
    assert report["notBilled"] == {"live": {}, "batch": {}}
    assert report["creditsRanOut"] == [{"workspaceId": "ws_hooli", "fromRequest": 19}]
    assert report["server"]["clock"] == "fixed:2026-03-11T12:00:00Z"
    assert report["server"]["source"] == "RANKING_CONFIG_FILE"
    assert report["billing"] == {"retryableRate": 0.0, "terminalRate": 0.2, "seed": 424242}


def test_a_bad_limit_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["live", CROWDED, "--limit", "0"]) == 2
    assert "--limit must be at least 1" in capsys.readouterr().err


def test_the_seed_carries_the_scenarios_market() -> None:
    scenario = load_scenario(CROWDED)
    document, seeded = seed_document(scenario)
    assert [p["partnerId"] for p in document["partners"]] == [p.partner_id for p in scenario.partners]
    assert len(document["campaigns"]) == 46
    spend = {s["campaignId"]: s["amount"] for s in document["settlements"] if s["status"] == "settled"}
    assert spend == {"cmp_hubflow": 1200.0, "cmp_metricly": 3000.0}
    disputed = [s for s in document["settlements"] if s["status"] == "disputed"]
    assert [(s["partnerId"], s["disputeFlag"]) for s in disputed] == [("partner_dealhound", True)] * 2
    wallets = {w["workspaceId"]: w["availableCredits"] for w in document["wallets"]}
    assert wallets == {
        "ws_globex": 1e9,
        "ws_northwind": 1e9,
        "ws_umbrella": 1e9,
        "ws_initech": 1e9,
        "ws_hooli": 4000.0,
    }  # only ws_hooli is metered; the others are as good as unlimited
    assert seeded == {s["settlementId"] for s in document["settlements"]}


def test_reconciliation_tells_a_changed_shortlist_or_score() -> None:
    scenario = load_scenario(CROWDED, ["traffic.requests=40"])
    batch = run_scenario(scenario)
    expected = batch_shortlists(batch, 40)
    answered = {i: list(slots) for i, slots in enumerate(expected)}
    c, p, score = answered[3][0]
    answered[3][0] = (c, p, score + 2e-9)  # beyond 1e-9: a mismatch
    c, p, score = answered[5][0]
    answered[5][0] = (c, p, score + 5e-10)  # within 1e-9: the same
    answered[7] = answered[7][::-1]  # another order
    del answered[9]  # no answer
    live = LiveResult(scenario, batch, 40, ReplaySummary("t", shortlists=answered), [], [], {}, drained=True)
    result = reconcile(live)
    assert [m["request"] for m in result.mismatches] == [4, 8, 10]
    assert result.mismatches[2]["live"] is None
    assert not result.ok and result.to_json()["shortlistMismatches"] == 3
    assert same_shortlist(expected[5], answered[5]) and not same_shortlist(expected[3], answered[3])

    console = Console(width=200, record=True, file=io.StringIO())
    console.print(render(result))
    text = console.export_text()
    assert "shortlists: 40 compared with the batch engine, 3 mismatches" in text
    assert "request 10 (crowded-market-0000010):" in text and "live  (no answer)" in text
    assert "settlements by status" in text and "dead letters (DLQ) by status" in text


def test_a_scenario_that_does_not_validate_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["live", CROWDED, "--set", "ranking.weights.bid=-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ranking.weights.bid: a weight cannot be negative" in err
