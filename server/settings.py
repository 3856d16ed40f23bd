"""Runtime settings, read once from the environment (names as the original documents them)."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from .domain.errors import ValidationFailed
from .domain.ranking_config import DEFAULT_RANKING, RankingConfig
from .domain.ranking_table import decode_ranking_table
from .domain.receipts import cpqr_billable_event
from .domain.settlement import SETTLEMENT_RETRY_LEASE_MS
from .env import SettingsError, env_flag, env_int
from .modes import DEFAULT_PORTS, resolve_mode  # the mode rules live in server/modes.py
from .service_settings import OutreachSettings, StripeSettings

# Time a claim needs besides the billing call itself (claim and outcome transactions).
CLAIM_MARGIN_MS = 2000
RECEIPT_VERIFICATION_MODES = ("off", "shortlist", "signed")


def _timeout_and_lease(env: Mapping[str, str]) -> tuple[int, int]:
    # A submission must end well inside the claim on its retry job, or the job could be
    # claimed again while the first submission is still in flight.
    timeout = env_int(env, "BILLING_ADAPTER_TIMEOUT_MS", 5000, minimum=1)
    lease = env_int(env, "SETTLEMENT_RETRY_LEASE_MS", SETTLEMENT_RETRY_LEASE_MS, minimum=1)
    if timeout + CLAIM_MARGIN_MS > lease:
        raise SettingsError(
            f"BILLING_ADAPTER_TIMEOUT_MS ({timeout}) must be at least {CLAIM_MARGIN_MS} ms shorter than "
            f"the retry-job claim lease SETTLEMENT_RETRY_LEASE_MS ({lease}), so that a submission always "
            "ends before its claim can be taken again"
        )
    return timeout, lease


def _verification(env: Mapping[str, str], mode: str) -> str:
    raw = (env.get("RECEIPT_VERIFICATION") or "").strip().lower()
    if not raw:
        return "shortlist" if mode == "real_test" else "off"
    if raw not in RECEIPT_VERIFICATION_MODES:
        raise SettingsError(f"RECEIPT_VERIFICATION must be off, shortlist or signed, got {raw!r}")
    if mode == "real_test" and raw == "off":
        raise SettingsError("RECEIPT_VERIFICATION=off is refused in real_test mode: use shortlist or signed")
    return raw


# --- Stripe top-ups (README "Wallet top-ups with Stripe") -------------------------------------------


@dataclass(frozen=True)
class ExchangeClock:
    """``EXCHANGE_CLOCK``: the time ranking evaluates against (proof freshness).

    ``wall`` (the default): the wall clock; ``fixed:<ISO time>``: always that time;
    ``offset:<ISO time>``: that time when the process starts, advancing with the wall clock.
    Bookkeeping (receipts, settlements, retries, the audit trail) always uses the wall clock.
    """

    mode: Literal["wall", "fixed", "offset"] = "wall"
    at: datetime | None = None

    def describe(self) -> str:
        if self.at is None:
            return self.mode
        return f"{self.mode}:{self.at.isoformat().replace('+00:00', 'Z')}"


def _exchange_clock(env: Mapping[str, str], mode: str) -> ExchangeClock:
    raw = (env.get("EXCHANGE_CLOCK") or "").strip()
    if not raw or raw == "wall":
        return ExchangeClock()
    kind, sep, text = raw.partition(":")
    if not sep or kind not in ("fixed", "offset"):
        raise SettingsError(
            f"EXCHANGE_CLOCK must be wall, fixed:<ISO time> or offset:<ISO time> "
            f"(e.g. fixed:2026-03-11T12:00:00Z), got {raw!r}"
        )
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SettingsError(
            f"EXCHANGE_CLOCK: {text.strip()!r} is not an ISO time such as 2026-03-11T12:00:00Z"
        ) from None
    if at.tzinfo is None:
        raise SettingsError(
            f"EXCHANGE_CLOCK: {text.strip()!r} has no time zone; add one, e.g. 2026-03-11T12:00:00Z"
        )
    if mode == "real_test":
        raise SettingsError(
            f"EXCHANGE_CLOCK={raw} is refused in real_test mode: real traffic is ranked at the wall clock "
            "(unset EXCHANGE_CLOCK)"
        )
    return ExchangeClock(kind, at)


def _decode_document(text: str, path: str) -> Any:
    """A TOML or JSON document, by the file's suffix (none: JSON, then TOML)."""
    suffix = Path(path).suffix.lower()
    if suffix != ".toml":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            if suffix == ".json":
                where = f"line {exc.lineno}, column {exc.colno}"
                problem = f"not valid JSON: {exc.msg} ({where})"
                raise SettingsError(f"RANKING_CONFIG_FILE {path}: {problem}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        what = "TOML" if suffix == ".toml" else "JSON or TOML"
        raise SettingsError(f"RANKING_CONFIG_FILE {path}: not valid {what}: {exc}") from None


def load_ranking_config(path: str) -> RankingConfig:
    """``RANKING_CONFIG_FILE``: weights and floors in a scenario's ``[ranking]`` shape, validated by the
    domain."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"RANKING_CONFIG_FILE {path}: cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"RANKING_CONFIG_FILE {path}: not UTF-8 text") from None
    try:
        return decode_ranking_table(_decode_document(text, path))
    except ValidationFailed as exc:
        raise SettingsError(f"RANKING_CONFIG_FILE {path}: {exc.message}") from None


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
    settlement_retry_lease_ms: int = SETTLEMENT_RETRY_LEASE_MS
    receipt_verification: str = "off"
    receipt_signing_secrets: str | None = None
    billing_signature_header: str = "x-billing-signature"
    billing_timestamp_header: str = "x-billing-timestamp"
    api_keys_file: str | None = None
    api_keys_protect_reads: bool = False
    ranking_config_file: str | None = None
    ranking: RankingConfig = DEFAULT_RANKING  # from RANKING_CONFIG_FILE, else spec §5's defaults
    exchange_clock: ExchangeClock = field(default_factory=ExchangeClock)
    stripe: StripeSettings = field(default_factory=StripeSettings)
    outreach: OutreachSettings = field(default_factory=OutreachSettings)

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
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        mode = resolve_mode(env)  # APP_MODE, or its alias PROMOTION_AGENT_MODE
        billable_raw = env.get("CPQR_BILLABLE_EVENT", "offer.shortlisted") or "offer.shortlisted"
        billable = cpqr_billable_event(billable_raw)
        if billable is None:
            raise SettingsError(
                f"CPQR_BILLABLE_EVENT must be offer.shortlisted or offer.presented, got {billable_raw!r}"
            )
        profile = env.get("BILLING_PROVIDER_PROFILE", "generic_v1") or "generic_v1"
        if profile not in ("generic_v1", "ledger_api_v2"):
            raise SettingsError(
                f"BILLING_PROVIDER_PROFILE must be generic_v1 or ledger_api_v2, got {profile!r}"
            )
        timeout_ms, lease_ms = _timeout_and_lease(env)
        verification = _verification(env, mode)
        secrets_path = env.get("RECEIPT_SIGNING_SECRETS") or None
        if verification == "signed" and not secrets_path:
            raise SettingsError(
                "RECEIPT_VERIFICATION=signed needs RECEIPT_SIGNING_SECRETS (a JSON file of partnerId -> secret)"
            )
        ranking_file = (env.get("RANKING_CONFIG_FILE") or "").strip() or None
        return cls(
            host=env.get("HOST", "127.0.0.1") or "127.0.0.1",
            port=env_int(env, "PORT", DEFAULT_PORTS[mode], minimum=0),
            workers=env_int(env, "WEB_CONCURRENCY", 1, minimum=1),
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
            billing_adapter_timeout_ms=timeout_ms,
            settlement_retry_lease_ms=lease_ms,
            receipt_verification=verification,
            receipt_signing_secrets=secrets_path,
            billing_signature_header=env.get("BILLING_SIGNATURE_HEADER", "x-billing-signature"),
            billing_timestamp_header=env.get("BILLING_TIMESTAMP_HEADER", "x-billing-timestamp"),
            api_keys_file=env.get("API_KEYS_FILE") or None,
            api_keys_protect_reads=env_flag(env, "API_KEYS_PROTECT_READS"),
            ranking_config_file=ranking_file,
            ranking=load_ranking_config(ranking_file) if ranking_file else DEFAULT_RANKING,
            exchange_clock=_exchange_clock(env, mode),
            stripe=StripeSettings.from_env(env),
            outreach=OutreachSettings.from_env(env, mode),
        )


def load_signing_secrets(path: str) -> dict[str, str]:
    """``RECEIPT_SIGNING_SECRETS``: a JSON object of partnerId -> secret (each at least 16 characters)."""
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise SettingsError(f"RECEIPT_SIGNING_SECRETS: cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise SettingsError(f"RECEIPT_SIGNING_SECRETS: {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise SettingsError(f"RECEIPT_SIGNING_SECRETS: {path} must be a JSON object of partnerId -> secret")
    for partner_id, secret in data.items():
        if not isinstance(secret, str) or len(secret) < 16:
            raise SettingsError(
                f"RECEIPT_SIGNING_SECRETS: the secret of partner {partner_id!r} in {path} must be a string "
                "of at least 16 characters"
            )
    return dict(data)
