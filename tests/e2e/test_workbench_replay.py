"""`workbench replay`: a scenario's traffic and funnel receipts sent to a live server."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support import roomy_seed
from workbench.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_replay_sends_requests_and_receipts_that_the_server_counts(
    start_server, capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    # Credits enough for both runs (the first 100 would run out during the first: spec §6).
    seed = roomy_seed(tmp_path, budget_factor=1.0, credits={"workspace_default": 100_000})
    server = start_server({"SEED_PATH": str(seed)})
    assert (
        main(["replay", str(ROOT / "scenarios/baseline.toml"), "--api", server.base_url, "--limit", "40"])
        == 0
    )
    out = capsys.readouterr().out
    found = re.search(r"(\d+) requests, (\d+) offers shortlisted, (\d+) receipts, (\d+) settlements", out)
    assert found, out
    requests, shortlisted, receipts, settlements = map(int, found.groups())
    assert requests == 40 and shortlisted > 0 and receipts >= shortlisted and settlements > 0
    dashboard = httpx.get(f"{server.base_url}/dashboard").json()
    assert sum(dashboard["eventCounts"].values()) == receipts
    assert dashboard["eventCounts"]["offer.shortlisted"] == shortlisted
    assert dashboard["settlementCount"] == settlements

    # A second replay is a new run: new intents, nothing deduplicated, the counts add up.
    assert (
        main(["replay", str(ROOT / "scenarios/baseline.toml"), "--api", server.base_url, "--limit", "40"])
        == 0
    )
    again = httpx.get(f"{server.base_url}/dashboard").json()
    assert again["eventCounts"]["offer.shortlisted"] == 2 * shortlisted


def test_a_replay_that_spends_a_workspace_s_credits_says_so(start_server, capsys: pytest.CaptureFixture[str]):
    """The seed's workspace starts with 100 credits (spec §6): the baseline spends them within a few dozen
    requests, after which the credits gate keeps its campaigns out; the summary names the workspace."""
    server = start_server({})
    assert (
        main(["replay", str(ROOT / "scenarios/baseline.toml"), "--api", server.base_url, "--limit", "150"])
        == 0
    )
    out = capsys.readouterr().out
    wallet = httpx.get(f"{server.base_url}/wallet", params={"workspaceId": "workspace_default"}).json()
    assert wallet["availableCredits"] <= 0
    assert (
        "credits ran out (their campaigns stopped being shortlisted): "
        f"workspace_default ({wallet['availableCredits']:,.0f})"
    ) in out


def test_a_replay_within_credits_names_no_workspace(
    start_server, capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    seed = roomy_seed(tmp_path, budget_factor=1.0, credits={"workspace_default": 100_000})
    server = start_server({"SEED_PATH": str(seed)})
    assert (
        main(["replay", str(ROOT / "scenarios/baseline.toml"), "--api", server.base_url, "--limit", "20"])
        == 0
    )
    assert "credits ran out" not in capsys.readouterr().out
