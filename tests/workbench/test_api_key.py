"""The workbench sends PROMOTION_AGENT_API_KEY to a server with keys; a refused key is one readable line."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.support import ServerProcess, ServerStartError, start_server
from workbench.app.client import API_KEY_ENV, ApiClient, ApiError
from workbench.cli import main

from .helpers import ROOT

BASELINE = str(ROOT / "scenarios" / "baseline.toml")
OPERATOR_KEY = "op-wb-0123456789abcdef"
AGENT_KEY = "ag-wb-0123456789abcdef"


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("keyed-server")
    keys = folder / "keys.toml"
    keys.write_text(
        f'[[keys]]\nname = "analyst"\nkey = "{OPERATOR_KEY}"\nrole = "operator"\n\n'
        f'[[keys]]\nname = "replay-agent"\nkey = "{AGENT_KEY}"\nrole = "agent"\n',
        encoding="utf-8",
    )
    try:
        server = start_server(folder / "server", {"API_KEYS_FILE": str(keys)})
    except ServerStartError as exc:
        pytest.fail(f"could not start the server: {exc}", pytrace=False)
    yield server
    server.stop()


def replay(server: ServerProcess, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["replay", BASELINE, "--api", server.base_url, "--limit", "4"])
    out, err = capsys.readouterr()
    return code, out, err


def test_replay_sends_the_key_from_the_environment(
    keyed_server: ServerProcess, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(API_KEY_ENV, AGENT_KEY)
    code, out, err = replay(keyed_server, capsys)
    assert code == 0, err
    assert "4 requests" in out and "refused" not in out + err
    # an agent key may replay but not provision: said so, then the traffic goes to the server's own market
    assert "not provisioned: POST /partners → 403: This endpoint needs an operator API key" in out
    run_id = out.split("(run ")[1].split(")")[0]
    page = httpx.get(f"{keyed_server.base_url}/audit-trail", params={"pageSize": 100}).json()
    mine = [e for e in page["items"] if run_id in e["traceId"]]
    assert mine and {e["actorId"] for e in mine} == {"replay-agent"}  # the server saw the agent's key


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (None, f"needs an operator API key — set {API_KEY_ENV} to one of the server's keys"),
        (
            "wrong-key-0123456789",
            f"The API key is not known to this server (it is not in the server's "
            f"API_KEYS_FILE) — check {API_KEY_ENV}",
        ),
    ],
)
def test_replay_without_a_usable_key_stops_with_one_line(
    keyed_server: ServerProcess,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    key: str | None,
    expected: str,
) -> None:
    if key is None:
        monkeypatch.delenv(API_KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(API_KEY_ENV, key)
    code, out, err = replay(keyed_server, capsys)
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("workbench replay: POST /partners → 401: ")  # provisioning comes first
    assert expected in lines[0] and API_KEY_ENV in lines[0]
    assert "Traceback" not in err and "replayed" not in out


def test_the_client_names_the_variable_when_the_role_is_wrong(
    keyed_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def process(key: str) -> dict:
        monkeypatch.setenv(API_KEY_ENV, key)
        async with ApiClient(keyed_server.base_url) as client:
            return await client.process_queue(limit=1)

    with pytest.raises(ApiError) as refused:
        asyncio.run(process(AGENT_KEY))
    assert refused.value.status == 403 and refused.value.refused_key
    assert "needs an operator API key" in refused.value.message
    assert refused.value.message == (
        "POST /settlements/retry-queue/process → 403: This endpoint needs an operator API key; the key "
        f"'replay-agent' has the agent role — {API_KEY_ENV} needs a key with that role"
    )
    assert "processedCount" in asyncio.run(process(OPERATOR_KEY))

    # an explicit key wins over the environment
    async def explicit() -> dict:
        async with ApiClient(keyed_server.base_url, api_key=OPERATOR_KEY) as client:
            return await client.process_queue(limit=1)

    monkeypatch.setenv(API_KEY_ENV, AGENT_KEY)
    assert "processedCount" in asyncio.run(explicit())


def test_without_the_variable_no_header_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Headers] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json={"ok": True})

    async def call(**kwargs: str) -> None:
        transport = httpx.AsyncClient(base_url="http://exchange.test", transport=httpx.MockTransport(answer))
        async with ApiClient("http://exchange.test", client=transport, **kwargs) as client:
            await client.health()

    monkeypatch.delenv(API_KEY_ENV, raising=False)
    asyncio.run(call())
    monkeypatch.setenv(API_KEY_ENV, f"  {AGENT_KEY}\n")
    asyncio.run(call())
    assert "authorization" not in seen[0]
    assert seen[1]["authorization"] == f"Bearer {AGENT_KEY}"
