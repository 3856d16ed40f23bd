"""``workbench replay SCENARIO --api URL`` against a server someone else runs: compare, provision, replay.

The server is a real process with the default seed (two campaigns, two partners). Replaying the
crowded market first says how the server's ranking differs from the scenario's, then creates the
scenario's partners and campaigns through the API (idempotent by id: a second replay creates
nothing), then sends the traffic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.support import ServerProcess, ServerStartError, start_server
from workbench.cli import main
from workbench.engine.scenario import load_scenario

from .helpers import ROOT

CROWDED = str(ROOT / "scenarios" / "crowded-market.toml")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("replay-server")
    ranking = folder / "ranking.toml"
    ranking.write_text("[weights]\nbid = 0.2\n", encoding="utf-8")
    try:
        process = start_server(folder / "server", {"RANKING_CONFIG_FILE": str(ranking)})
    except ServerStartError as exc:
        pytest.fail(f"could not start the server: {exc}", pytrace=False)
    yield process
    process.stop()


def replay(server: ServerProcess, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    code = main(["replay", CROWDED, "--api", server.base_url, "--limit", "10", *extra])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    return out


def test_replay_compares_then_provisions_then_replays(server: ServerProcess, capsys):
    scenario = load_scenario(CROWDED)
    out = replay(server, capsys)
    lines = out.splitlines()
    assert lines[0] == "the server ranks differently from crowded-market:"
    assert "  weights.bid: the server uses 0.2, the scenario 0.1" in lines
    assert any(line.startswith("  clock: the server ranks at the wall clock (now ") for line in lines)

    provisioned = next(line for line in lines if line.startswith("provisioned "))
    partners = re.search(r"provisioned (\d+) partners \((\d+) created", provisioned)
    assert partners and partners.groups() == ("8", "6")  # ProcurePilot and GrowthDesk were in the seed
    campaigns = {c["campaignId"]: c for c in httpx.get(f"{server.base_url}/campaigns").json()}
    stored = {p["partnerId"]: p for p in httpx.get(f"{server.base_url}/partners").json()}
    for partner in scenario.partners:
        assert stored[partner.partner_id]["baseTrustScore"] == partner.trust_score
        assert stored[partner.partner_id]["status"] == partner.status
    refused = {m.group(1) for m in re.finditer(r"refused: campaign (\S+):", out)}
    assert refused == {"cmp_hubflow"}  # the seed's HubFlow is another campaign under the same id
    for campaign in scenario.campaigns:
        if campaign.campaign_id in refused:
            continue
        assert campaigns[campaign.campaign_id]["budget"] == campaign.budget
        assert (campaigns[campaign.campaign_id]["status"] == "active") == (campaign.status == "active")
    assert re.search(r"replayed crowded-market against .*: 10 requests, \d+ offers shortlisted", out)

    # Again: everything is there already; nothing is created, nothing changes.
    again = replay(server, capsys)
    assert (
        "provisioned 8 partners (0 created, 8 updated or unchanged), 45 campaigns (0 created, 45 "
        "already there), 0 activated, 1 refused"
    ) in again
    assert (
        "campaign cmp_hubflow: POST /campaigns → 409: Campaign cmp_hubflow already exists with other "
        "content (workspaceId, promotionPlanId, regions, payoutAmount, budget"
    ) in again
    assert {c["campaignId"]: c["status"] for c in httpx.get(f"{server.base_url}/campaigns").json()} == {
        cid: c["status"] for cid, c in campaigns.items()
    }


def test_no_provision_sends_only_the_traffic(server: ServerProcess, capsys) -> None:
    out = replay(server, capsys, "--no-provision")
    assert "not provisioning (--no-provision)" in out and "provisioned" not in out


def test_a_server_without_the_ranking_report_is_said_so(capsys: pytest.CaptureFixture[str]) -> None:
    """An older server answers 404 to GET /system/ranking-config: the replay says it cannot compare."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Old(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"message": "Not Found"}'
            self.send_response(404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Old)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        api = f"http://127.0.0.1:{httpd.server_address[1]}"
        code = main(["replay", CROWDED, "--api", api, "--no-provision", "--limit", "1"])
    finally:
        httpd.shutdown()
        httpd.server_close()
    out = capsys.readouterr().out
    assert "the server does not report its ranking config (GET /system/ranking-config → 404" in out
    assert code == 0  # the one request was refused by that server, and said so
