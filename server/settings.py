"""Runtime settings, read once from the environment (names as the original documents them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping


class SettingsError(ValueError):
    """A setting has a value the server cannot use; the message names the variable."""


CPQR_EVENTS = {
    "offer.shortlisted": "offer.shortlisted",
    "shortlisted": "offer.shortlisted",
    "offer.presented": "offer.presented",
    "presented": "offer.presented",
    "shown": "offer.presented",
}
MODES = ("default", "demo", "real_test")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be 1 or 0 (true/false, yes/no, on/off), got {env.get(name)!r}")


def _timeout(env: Mapping[str, str]) -> int:
    # A submission must end well inside the 10 s claim on its retry job, or the job could be
    # claimed again while the first submission is still in flight.
    value = _int(env, "BILLING_ADAPTER_TIMEOUT_MS", 5000, minimum=1)
    if value >= 9000:
        raise SettingsError(f"BILLING_ADAPTER_TIMEOUT_MS must be below 9000 (the job claim lasts 10 s), got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 3000
    workers: int = 1
    database_url: str | None = None
    redis_url: str | None = None
    hot_state_namespace: str = "promotion-agent"
    hot_state_version: str = "v1"
    mode: str = "default"
    cpqr_billable_event: str = "offer.shortlisted"
    seed_path: str = "data/seed.json"
    billing_adapter_url: str | None = None
    billing_provider_profile: str = "generic_v1"
    billing_adapter_api_key: str | None = None
    billing_adapter_hmac_secret: str | None = None
    billing_adapter_timeout_ms: int = 5000
    billing_signature_header: str = "x-billing-signature"
    billing_timestamp_header: str = "x-billing-timestamp"
    api_keys_file: str | None = None
    api_keys_protect_reads: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def billing_mode(self) -> str:
        return "http" if self.billing_adapter_url else "simulated"

    @property
    def demo_enabled(self) -> bool:
        return self.mode in ("default", "demo")

    @property
    def real_data_only(self) -> bool:
        return self.mode == "real_test"

    @property
    def default_lead_filter(self) -> list[str]:
        if self.mode == "real_test":
            return ["real_discovery", "real_partner"]
        return []

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        mode = env.get("PROMOTION_AGENT_MODE", "default") or "default"
        if mode not in MODES:
            raise SettingsError(f"PROMOTION_AGENT_MODE must be one of {', '.join(MODES)}, got {mode!r}")
        billable_raw = env.get("CPQR_BILLABLE_EVENT", "offer.shortlisted") or "offer.shortlisted"
        billable = CPQR_EVENTS.get(billable_raw.strip().lower())
        if billable is None:
            raise SettingsError(
                f"CPQR_BILLABLE_EVENT must be offer.shortlisted or offer.presented, got {billable_raw!r}"
            )
        profile = env.get("BILLING_PROVIDER_PROFILE", "generic_v1") or "generic_v1"
        if profile not in ("generic_v1", "ledger_api_v2"):
            raise SettingsError(f"BILLING_PROVIDER_PROFILE must be generic_v1 or ledger_api_v2, got {profile!r}")
        return cls(
            host=env.get("HOST", "127.0.0.1") or "127.0.0.1",
            port=_int(env, "PORT", 3000, minimum=0),
            workers=_int(env, "WEB_CONCURRENCY", 1, minimum=1),
            database_url=env.get("DATABASE_URL") or None,
            redis_url=env.get("REDIS_URL") or None,
            hot_state_namespace=env.get("HOT_STATE_NAMESPACE", "promotion-agent") or "promotion-agent",
            hot_state_version=env.get("HOT_STATE_VERSION", "v1") or "v1",
            mode=mode,
            cpqr_billable_event=billable,
            seed_path=env.get("SEED_PATH", "data/seed.json") or "data/seed.json",
            billing_adapter_url=env.get("BILLING_ADAPTER_URL") or None,
            billing_provider_profile=profile,
            billing_adapter_api_key=env.get("BILLING_ADAPTER_API_KEY") or None,
            billing_adapter_hmac_secret=env.get("BILLING_ADAPTER_HMAC_SECRET") or None,
            billing_adapter_timeout_ms=_timeout(env),
            billing_signature_header=env.get("BILLING_SIGNATURE_HEADER", "x-billing-signature"),
            billing_timestamp_header=env.get("BILLING_TIMESTAMP_HEADER", "x-billing-timestamp"),
            api_keys_file=env.get("API_KEYS_FILE") or None,
            api_keys_protect_reads=_flag(env, "API_KEYS_PROTECT_READS"),
        )
