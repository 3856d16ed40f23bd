"""RANKING_CONFIG_FILE and EXCHANGE_CLOCK: the ranking a server uses, reported at GET /system/ranking-config.

Issue #10 ("live runs"): a scenario's weights, floors and clock reach the server. The seed
example of spec §11 (SignalStack then HubFlow, UK, compare_and_shortlist) is ranked at
2026-03-11T12:00Z with weights 0.30/0.30/0.20/0.10/0.10: 0.992 and 0.905333…
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support import REPO_ROOT, SERVER_ENV_VARS, expect, free_port, opportunity, uid

from .conftest import StartServer

CLOCK = "2026-03-11T12:00:00Z"
RANKING_TOML = """\
[weights]
relevance = 0.30
utility = 0.30
trust = 0.20
affective_fit = 0.10
bid = 0.10

[floors]   # a request that states no floor of its own needs a perfect relevance
relevance = 1.0
utility = 0.0
"""


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_default_server_reports_the_spec_defaults_and_the_wall_clock(readonly_api: httpx.Client) -> None:
    before = datetime.now().astimezone()
    report = expect(readonly_api.get("/system/ranking-config"), 200)
    assert report["source"] == "defaults"
    assert report["weights"] == {
        "relevance": 0.35,
        "utility": 0.25,
        "trust": 0.15,
        "affectiveFit": 0.15,
        "bid": 0.1,
    }
    assert report["weightSum"] == pytest.approx(1.0)
    assert report["floors"] == {"relevance": 0.72, "utility": 0.68}
    assert report["factors"]["freshnessTiers"][0] == {"maxAgeDays": 30.0, "value": 1.0}
    assert report["factors"]["disputePenalty"] == 0.05
    assert report["clock"] == "wall"
    assert before - timedelta(seconds=1) <= when(report["evaluatedAt"]) <= datetime.now().astimezone()


def test_a_ranking_file_and_a_fixed_clock_rank_every_request(start_server: StartServer, tmp_path: Path):
    config = tmp_path / "ranking.toml"
    config.write_text(RANKING_TOML, encoding="utf-8")
    server = start_server({"RANKING_CONFIG_FILE": str(config), "EXCHANGE_CLOCK": f"fixed:{CLOCK}"})
    with httpx.Client(base_url=server.base_url, timeout=15) as api:
        report = expect(api.get("/system/ranking-config"), 200)
        assert report["source"] == "RANKING_CONFIG_FILE"
        assert report["weights"] == {
            "relevance": 0.3,
            "utility": 0.3,
            "trust": 0.2,
            "affectiveFit": 0.1,
            "bid": 0.1,
        }
        assert report["floors"] == {"relevance": 1.0, "utility": 0.0}
        assert report["clock"] == f"fixed:{CLOCK}"
        assert when(report["evaluatedAt"]) == when(CLOCK)

        body = expect(api.post("/opportunities/evaluate", json=opportunity(uid("intent_cfg"))), 200)
        scores = [(s["campaignId"], s["priorityScore"]) for s in body["shortlisted"]]
        assert [c for c, _ in scores] == ["cmp_signalstack", "cmp_hubflow"]
        assert scores[0][1] == pytest.approx(0.992, abs=1e-12)
        assert scores[1][1] == pytest.approx(0.905333333333, abs=1e-9)

        # Relevance below 1 (no region match): out under the file's floor, in under the request's own.
        japan = opportunity(uid("intent_jp"), constraints={"geo": ["JP"]})
        assert expect(api.post("/opportunities/evaluate", json=japan), 200)["eligibleCandidates"] == 0
        own_floor = {**japan, "intentId": uid("intent_jp"), "relevanceFloor": 0.5}
        assert expect(api.post("/opportunities/evaluate", json=own_floor), 200)["eligibleCandidates"] == 2
    assert "ranking=" + str(config) in server.output() and f"clock=fixed:{CLOCK}" in server.output()


def test_an_offset_clock_starts_at_its_time_and_advances(start_server: StartServer) -> None:
    server = start_server({"EXCHANGE_CLOCK": f"offset:{CLOCK}"})
    with httpx.Client(base_url=server.base_url, timeout=15) as api:
        first = expect(api.get("/system/ranking-config"), 200)
        second = expect(api.get("/system/ranking-config"), 200)
    assert first["clock"] == f"offset:{CLOCK}"
    start, a, b = when(CLOCK), when(first["evaluatedAt"]), when(second["evaluatedAt"])
    assert start < a < b < start + timedelta(minutes=10)  # started at the time given, then moves on


def test_the_report_is_in_the_openapi_document(readonly_api: httpx.Client) -> None:
    document = expect(readonly_api.get("/schema/openapi.json"), 200)
    operation = document["paths"]["/system/ranking-config"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    name = schema["$ref"].rsplit("/", 1)[-1]
    properties = document["components"]["schemas"][name]["properties"]
    assert {"source", "weights", "weightSum", "floors", "factors", "clock", "evaluatedAt"} <= set(properties)


def serve(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_VARS}
    clean.update(PORT=str(free_port()), DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/refused.sqlite3")
    return subprocess.run(
        [sys.executable, "-m", "server", "serve"],
        cwd=REPO_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "text", "env", "expected"),
    [
        (
            "r.toml",
            "[weights]\nbid = -0.1\n",
            {},
            "r.toml: weights.bid: a weight cannot be negative (got -0.1)",
        ),
        (
            "r.json",
            json.dumps({"floors": {"relevance": 1.5}}),
            {},
            "floors.relevance: a floor is between 0 and 1",
        ),
        ("r.json", json.dumps({"weights": {"bid": "high"}}), {}, "weights.bid: Expected `float`, got `str`"),
        ("r.toml", "[weights]\nbidd = 0.2\n", {}, "weights: Object contains unknown field `bidd`"),
        ("r.toml", "[weights\n", {}, "not valid TOML"),
        (
            None,
            None,
            {"EXCHANGE_CLOCK": "yesterday"},
            "EXCHANGE_CLOCK must be wall, fixed:<ISO time> or offset:",
        ),
        (None, None, {"EXCHANGE_CLOCK": "fixed:2026-03-11T12:00:00"}, "has no time zone"),
        (
            None,
            None,
            {
                "EXCHANGE_CLOCK": f"fixed:{CLOCK}",
                "PROMOTION_AGENT_MODE": "real_test",
                "REDIS_URL": "redis://127.0.0.1:9/0",
                "BILLING_ADAPTER_URL": "http://127.0.0.1:9",
            },
            f"real_test mode refuses EXCHANGE_CLOCK='fixed:{CLOCK}'",
        ),
    ],
)
def test_a_setting_the_server_cannot_use_stops_the_start_with_one_line(
    tmp_path: Path, name: str | None, text: str | None, env: dict[str, str], expected: str
) -> None:
    if name is not None:
        (tmp_path / name).write_text(text or "", encoding="utf-8")
        env = {**env, "RANKING_CONFIG_FILE": str(tmp_path / name)}
    result = serve(env, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("promotion-agent: "), result.stderr
    assert expected in lines[0], lines[0]
    if name is not None:
        assert lines[0].startswith(f"promotion-agent: RANKING_CONFIG_FILE {tmp_path / name}: ")
