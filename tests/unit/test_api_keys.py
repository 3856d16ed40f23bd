"""API keys: the keys file (TOML and JSON), the key ring, who may call what, where the server may listen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.services.access import (
    AccessPolicy,
    Caller,
    KeyRing,
    KeysFileError,
    access_from_settings,
    allows,
    is_loopback,
    listen_refusal,
    load_keys_file,
    parse_keys,
    required_role,
)
from server.settings import Settings, SettingsError

OPERATOR_KEY = "op-0123456789abcdef"
AGENT_KEY = "ag-0123456789abcdef"

TOML = f"""
[[keys]]
name = "ops-alice"
key = "{OPERATOR_KEY}"
role = "operator"

[[keys]]
name = "buyer-bot"
key = "{AGENT_KEY}"
role = "agent"
"""
ENTRIES = [
    {"name": "ops-alice", "key": OPERATOR_KEY, "role": "operator"},
    {"name": "buyer-bot", "key": AGENT_KEY, "role": "agent"},
]


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("keys.toml", TOML),
        ("keys.json", json.dumps(ENTRIES)),
        ("keys.json", json.dumps({"keys": ENTRIES})),
        ("api-keys", TOML),  # no suffix: JSON is tried, then TOML
        ("api-keys", json.dumps(ENTRIES)),
    ],
)
def test_a_keys_file_in_either_format_gives_the_same_ring(tmp_path: Path, name: str, text: str) -> None:
    ring = load_keys_file(write(tmp_path, name, text))
    assert len(ring) == 2
    assert ring.identify(OPERATOR_KEY) == Caller("ops-alice", "operator")
    assert ring.identify(AGENT_KEY) == Caller("buyer-bot", "agent")
    assert ring.identify("op-0123456789abcdeX") is None
    assert ring.identify("") is None
    assert ring.describe() == "1 operator, 1 agent"


def test_the_ring_never_shows_a_key() -> None:
    ring = parse_keys(json.dumps(ENTRIES), "keys.json")
    assert OPERATOR_KEY not in repr(ring) and AGENT_KEY not in repr(ring)
    assert OPERATOR_KEY not in repr(AccessPolicy(ring))


def entry(**fields: object) -> dict[str, object]:
    return {"name": "ops", "key": OPERATOR_KEY, "role": "operator", **fields}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([entry(role="admin")], "key #1 ('ops'): role must be operator or agent, got 'admin'"),
        ([entry(role=None)], "role must be operator or agent, got None"),
        ([entry(key="")], "key #1 ('ops') has an empty key"),
        ([{"name": "ops", "role": "agent"}], "key #1 ('ops') has an empty key"),
        ([entry(key="short-key-15chr")], "the key is 15 characters long, at least 16 are needed"),
        ([entry(key="has a space in the key")], "printable ASCII without spaces"),
        ([entry(key=12345678901234567890)], "the key must be a string"),
        ([entry(), entry(key=AGENT_KEY)], "key #2 ('ops'): the name is also used by key #1"),
        ([entry(), entry(name="other")], "key #2 ('other') has the same key as key #1 ('ops')"),
        ([entry(name="  ")], "key #1 needs a name"),
        ([entry(name="a\nb")], "contains control characters"),
        ([entry(rol="agent")], "key #1 has an unknown field 'rol'"),
        (["just-a-key"], "key #1 is not a table/object"),
        ([], "the list of keys is empty"),
        ({"keys": []}, "the list of keys is empty"),
        ({"keys": {"name": "x"}}, "`keys` is not a list"),
        ({"key": [entry()]}, "unknown top-level field 'key'"),
        ({}, "no keys"),
        ("keys", "`keys` is not a list"),
    ],
)
def test_a_bad_keys_file_is_one_line_naming_the_file_and_the_problem(data: object, problem: str) -> None:
    with pytest.raises(KeysFileError) as caught:
        parse_keys(json.dumps(data), "/etc/promotion-agent/keys.json")
    message = str(caught.value)
    assert message.startswith("API_KEYS_FILE /etc/promotion-agent/keys.json: ")
    assert problem in message
    assert "\n" not in message
    assert OPERATOR_KEY not in message and AGENT_KEY not in message  # never a key in an error
    assert isinstance(caught.value, SettingsError)  # reported at start-up like every setting


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("keys.toml", "[[keys]]\nname = 'x'\nkey = \n", "not valid TOML: "),
        ("keys.json", '[{"name": "x",]', "not valid JSON: "),
        ("keys", "{{ nonsense", "neither valid JSON nor valid TOML"),
        ("keys.toml", 'title = "x"\n', "unknown top-level field 'title'"),
    ],
)
def test_a_file_that_does_not_parse(tmp_path: Path, name: str, text: str, problem: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(KeysFileError, match=f"^API_KEYS_FILE {path}: ") as caught:
        load_keys_file(path)
    assert problem in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_or_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(KeysFileError, match="the file does not exist"):
        load_keys_file(str(tmp_path / "nope.toml"))
    with pytest.raises(KeysFileError, match="this is a directory"):
        load_keys_file(str(tmp_path))
    binary = tmp_path / "keys.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(KeysFileError, match="not UTF-8 text"):
        load_keys_file(str(binary))


@pytest.mark.parametrize(
    ("method", "path", "protect_reads", "needed"),
    [
        ("POST", "/opportunities/evaluate", False, "agent"),
        ("POST", "/events/receipts", False, "agent"),
        ("POST", "/campaigns", False, "operator"),
        ("POST", "/campaigns/{campaign_id}/activate", False, "operator"),
        ("POST", "/campaigns/{campaign_id}/review", False, "operator"),
        ("POST", "/agent-leads/{lead_id}/promote", False, "operator"),
        ("POST", "/settlements/retry-queue/process", False, "operator"),
        ("POST", "/settlements/dlq/{dlq_entry_id}/replay", False, "operator"),
        ("DELETE", "/anything/new", False, "operator"),  # the rule is general: not a read, not an agent's
        ("PUT", "/events/receipts", False, "operator"),
        ("GET", "/campaigns", False, None),
        ("HEAD", "/campaigns", False, None),
        ("GET", "/campaigns", True, "agent"),
        ("GET", "/audit-trail", True, "agent"),
        ("GET", "/health", True, None),
        ("GET", "/schema", True, None),
        ("GET", "/schema/openapi.json", True, None),
        ("GET", "/schema/swagger", True, None),
        ("GET", "/schemas-are-not-the-schema", True, "agent"),
        ("OPTIONS", "/campaigns", True, None),
        ("post", "/events/receipts", False, "agent"),
        ("POST", "/wallet/top-ups/checkout", False, "operator"),
        ("POST", "/webhooks/stripe", True, None),  # authenticated by its Stripe-Signature, never a key
        ("PUT", "/webhooks/stripe", False, "operator"),
        ("GET", "/wallet/top-ups/confirm", True, "agent"),
        # the operator pages hold no data (their scripts call the API with the operator's key)
        ("GET", "/dlq.html", True, None),
        ("GET", "/audit.html", True, None),
        ("GET", "/plans-wallet", True, None),
        ("GET", "/static/{file_path}", True, None),
        ("GET", "/staticky", True, "agent"),
    ],
)
def test_what_each_endpoint_needs(method: str, path: str, protect_reads: bool, needed: str | None) -> None:
    assert required_role(method, path, protect_reads) == needed


def test_an_operator_may_do_what_an_agent_may_but_not_the_reverse() -> None:
    assert allows("operator", "operator") and allows("operator", "agent") and allows("agent", "agent")
    assert not allows("agent", "operator")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_without_keys_the_server_listens_on_loopback_only() -> None:
    assert listen_refusal("127.0.0.1", None) is None
    assert listen_refusal("0.0.0.0", None) == (
        "refusing to listen on 0.0.0.0 without API keys: set API_KEYS_FILE (see README) or HOST=127.0.0.1"
    )
    assert listen_refusal("0.0.0.0", AccessPolicy(KeyRing([("ops", OPERATOR_KEY, "operator")]))) is None


def test_settings_read_the_keys_variables(tmp_path: Path) -> None:
    path = write(tmp_path, "keys.toml", TOML)
    assert Settings.from_env({}).api_keys_file is None
    settings = Settings.from_env({"API_KEYS_FILE": path, "API_KEYS_PROTECT_READS": "1"})
    assert settings.api_keys_file == path and settings.api_keys_protect_reads is True
    assert Settings.from_env({"API_KEYS_PROTECT_READS": "off"}).api_keys_protect_reads is False
    with pytest.raises(SettingsError, match="API_KEYS_PROTECT_READS must be 1 or 0"):
        Settings.from_env({"API_KEYS_PROTECT_READS": "maybe"})
    policy = access_from_settings(settings)
    assert policy is not None and policy.protect_reads and len(policy.keys) == 2
    assert policy.describe() == "api-keys(1 operator, 1 agent; reads protected)"
    assert access_from_settings(Settings()) is None
    with pytest.raises(SettingsError, match="API_KEYS_PROTECT_READS is set but API_KEYS_FILE is not"):
        access_from_settings(Settings(api_keys_protect_reads=True))
