"""The mode rules (server/modes.py): selection, ports, real_test's refusals, what demo ignores."""

from __future__ import annotations

import itertools

import pytest

from server.modes import (
    DEMO_DATABASE_URL,
    ModeError,
    environment_for,
    real_test_refusal,
    resolve_mode,
)
from server.settings import Settings

BACKENDS = ("DATABASE_URL", "REDIS_URL", "BILLING_ADAPTER_URL")
VALUES = {
    "DATABASE_URL": "postgresql://u:p@127.0.0.1:5432/db",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "BILLING_ADAPTER_URL": "http://127.0.0.1:8787/settlements",
}


@pytest.mark.parametrize(
    ("env", "cli", "expected"),
    [
        ({}, None, "default"),
        ({"APP_MODE": "demo"}, None, "demo"),
        ({"PROMOTION_AGENT_MODE": "real_test"}, None, "real_test"),
        ({"APP_MODE": "demo", "PROMOTION_AGENT_MODE": "demo"}, None, "demo"),
        ({"APP_MODE": "demo"}, "default", "default"),  # the command line wins
    ],
)
def test_mode_selection(env: dict[str, str], cli: str | None, expected: str) -> None:
    assert resolve_mode(env, cli) == expected


def test_app_mode_and_its_alias_disagreeing_is_refused() -> None:
    with pytest.raises(ModeError, match="APP_MODE='demo' and PROMOTION_AGENT_MODE='real_test' disagree"):
        resolve_mode({"APP_MODE": "demo", "PROMOTION_AGENT_MODE": "real_test"})


def test_an_unknown_mode_is_refused_naming_the_variable() -> None:
    with pytest.raises(ModeError, match="APP_MODE must be one of default, demo, real_test, got 'prod'"):
        resolve_mode({"APP_MODE": "prod"})


@pytest.mark.parametrize(("mode", "port"), [("default", 3000), ("demo", 3001), ("real_test", 3002)])
def test_each_mode_has_its_port_and_port_wins(mode: str, port: int) -> None:
    env = {"APP_MODE": mode, **VALUES}
    assert Settings.from_env(environment_for(env)[0]).port == port
    assert Settings.from_env(environment_for({**env, "PORT": "4321"})[0]).port == 4321
    assert Settings.from_env(env).port == port  # the settings alone read APP_MODE too


SUBSETS = [set(c) for n in range(len(BACKENDS)) for c in itertools.combinations(BACKENDS, n)]


@pytest.mark.parametrize("present", SUBSETS, ids=lambda s: "+".join(sorted(s)) or "none")
def test_real_test_names_every_missing_variable(present: set[str]) -> None:
    env = {name: VALUES[name] for name in present}
    missing = [name for name in BACKENDS if name not in present]
    refusal = real_test_refusal(env)
    assert refusal is not None and "\n" not in refusal
    named = (
        refusal.removeprefix("real_test mode refuses to start: ")
        .split(" is not set")[0]
        .split(" are not set")[0]
    )
    assert named == ", ".join(missing)
    with pytest.raises(ModeError):
        environment_for({"APP_MODE": "real_test", **env})


def test_real_test_with_every_backend_starts_and_verifies_receipts() -> None:
    env, mode, _ = environment_for({"APP_MODE": "real_test", **VALUES})
    settings = Settings.from_env(env)
    assert (mode, settings.mode, settings.real_data_only) == ("real_test", "real_test", True)
    assert settings.receipt_verification == "shortlist"


def test_empty_values_count_as_missing() -> None:
    refusal = real_test_refusal({**VALUES, "REDIS_URL": " "})
    assert refusal is not None and "REDIS_URL is not set" in refusal


@pytest.mark.parametrize("clock", ["fixed:2026-03-11T12:00:00Z", "offset:2026-03-11T12:00:00Z"])
def test_real_test_refuses_a_fixed_or_offset_clock(clock: str) -> None:
    assert "EXCHANGE_CLOCK" in (real_test_refusal({**VALUES, "EXCHANGE_CLOCK": clock}) or "")
    assert real_test_refusal({**VALUES, "EXCHANGE_CLOCK": "wall"}) is None


def test_real_test_refuses_a_ranking_config_file() -> None:
    assert "RANKING_CONFIG_FILE" in (real_test_refusal({**VALUES, "RANKING_CONFIG_FILE": "w.toml"}) or "")


def test_demo_ignores_the_backends_and_says_which() -> None:
    env, _mode, ignored = environment_for({"APP_MODE": "demo", **VALUES, "WEB_CONCURRENCY": "4"})
    settings = Settings.from_env(env)
    assert ignored == list(BACKENDS)
    assert (settings.database_url, settings.redis_url, settings.billing_mode) == (
        DEMO_DATABASE_URL,
        None,
        "simulated",
    )
    assert settings.workers == 1


def test_db_init_real_test_needs_only_the_database() -> None:
    env, _mode, _ = environment_for({"DATABASE_URL": VALUES["DATABASE_URL"]}, "real_test", purpose="db")
    assert Settings.from_env(env).mode == "real_test"
    with pytest.raises(ModeError, match="needs DATABASE_URL"):
        environment_for({}, "real_test", purpose="db")


def test_demo_has_no_worker() -> None:
    with pytest.raises(ModeError, match="there is no worker to run"):
        environment_for({}, "demo", purpose="worker")
