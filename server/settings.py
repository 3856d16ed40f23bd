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


class SettingsError(ValueError):
    """A setting has a value the server cannot use; the message names the variable."""


from .modes import DEFAULT_PORTS, MODES, resolve_mode  # noqa: E402,F401  (the mode rules live in server/modes.py)


def env_int(env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    """A whole number from the environment (``default`` when unset or blank), within its bounds: the one
    integer parser of the server, the worker and the mocks; a bad value is a ``SettingsError`` naming it."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise SettingsError(f"{name} must be {bounds}, got {value}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be 1 or 0 (true/false, yes/no, on/off), got {env.get(name)!r}")


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
class StripeSettings:
    """``STRIPE_*``: without a secret key there is no Stripe (top-ups credit at once, or 503 in real_test)."""

    secret_key: str | None = None
    price_per_credit_cents: int = 10
    currency: str = "usd"
    top_up_product_name: str = "Promotion credits"
    webhook_secret: str | None = None
    api_base: str | None = None  # another Stripe API address (a local stand-in), else Stripe's own
    return_base_url: str | None = None  # where Checkout sends the buyer back, else the request's own base URL

    @property
    def enabled(self) -> bool:
        return self.secret_key is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StripeSettings:
        currency = (env.get("STRIPE_CURRENCY") or "usd").strip().lower()
        if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
            raise SettingsError(f"STRIPE_CURRENCY must be a three-letter ISO currency code, got {currency!r}")
        urls = {}
        for name in ("STRIPE_API_BASE", "STRIPE_RETURN_BASE_URL"):
            url = (env.get(name) or "").strip().rstrip("/") or None
            if url is not None and not url.startswith(("http://", "https://")):
                raise SettingsError(f"{name} must be an http:// or https:// URL, got {url!r}")
            urls[name] = url
        return cls(
            secret_key=(env.get("STRIPE_SECRET_KEY") or "").strip() or None,
            price_per_credit_cents=env_int(env, "STRIPE_PRICE_PER_CREDIT_CENTS", 10, minimum=1),
            currency=currency,
            top_up_product_name=(env.get("STRIPE_TOP_UP_PRODUCT_NAME") or "").strip() or "Promotion credits",
            webhook_secret=(env.get("STRIPE_WEBHOOK_SECRET") or "").strip() or None,
            api_base=urls["STRIPE_API_BASE"],
            return_base_url=urls["STRIPE_RETURN_BASE_URL"],
        )


# --- Partner outreach by e-mail (README "Partner outreach") -----------------------------------------

OUTREACH_SECURE = ("tls", "starttls", "none")
# OUTREACH_SMTP_PROVIDER=163: NetEase 163 Mail's SMTP server, implicit TLS on 465.
SMTP_PRESETS = {"163": ("smtp.163.com", 465, "tls")}


@dataclass(frozen=True)
class OutreachSettings:
    """``OUTREACH_*``: how outreach e-mail leaves (``simulated``, the default, records and sends nothing)."""

    sender_mode: str = "simulated"  # smtp | simulated
    provider: str = "generic"  # 163 | generic
    host: str | None = None
    port: int = 587
    secure: str = "starttls"  # tls | starttls | none
    user: str | None = None
    password: str | None = field(default=None, repr=False)  # for 163: the client authorisation code
    from_address: str | None = None
    reply_to: str | None = None
    tracking_base_url: str | None = None
    ca_file: str | None = None  # another CA bundle to verify the SMTP server's certificate with
    timeout_s: float = 20.0

    @classmethod
    def from_env(cls, env: Mapping[str, str], mode: str = "default") -> OutreachSettings:
        def text(name: str) -> str | None:
            value = (env.get(name) or "").strip()
            if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
                raise SettingsError(f"{name} must be one line of text without control characters")
            return value or None

        sender_mode = (text("OUTREACH_SENDER_MODE") or "simulated").lower()
        if sender_mode not in ("smtp", "simulated"):
            raise SettingsError(f"OUTREACH_SENDER_MODE must be smtp or simulated, got {sender_mode!r}")
        if mode == "real_test" and text("OUTREACH_SENDER_MODE") is not None and sender_mode == "simulated":
            raise SettingsError(
                "OUTREACH_SENDER_MODE=simulated is refused in real_test mode: outreach there is real e-mail "
                "(set OUTREACH_SENDER_MODE=smtp and OUTREACH_SMTP_*, or leave it unset: sends then answer 503)"
            )
        provider = (text("OUTREACH_SMTP_PROVIDER") or "generic").lower()
        if provider not in ("generic", *SMTP_PRESETS):
            raise SettingsError(f"OUTREACH_SMTP_PROVIDER must be 163 or generic, got {provider!r}")
        preset_host, preset_port, preset_secure = SMTP_PRESETS.get(provider, (None, None, None))
        secure = (text("OUTREACH_SMTP_SECURE") or preset_secure or "starttls").lower()
        if secure not in OUTREACH_SECURE:
            raise SettingsError(f"OUTREACH_SMTP_SECURE must be tls, starttls or none, got {secure!r}")
        default_port = preset_port or {"tls": 465, "starttls": 587, "none": 25}[secure]
        port = env_int(env, "OUTREACH_SMTP_PORT", default_port, minimum=1, maximum=65535)
        if port > 65535:
            raise SettingsError(f"OUTREACH_SMTP_PORT must be at most 65535, got {port}")
        password = (env.get("OUTREACH_SMTP_PASS") or env.get("OUTREACH_SMTP_PASSWORD") or "") or None
        user = text("OUTREACH_SMTP_USER")
        from_address = text("OUTREACH_SMTP_FROM")
        reply_to = text("OUTREACH_SMTP_REPLY_TO")
        for name, value in (("OUTREACH_SMTP_FROM", from_address), ("OUTREACH_SMTP_REPLY_TO", reply_to)):
            if value is not None and "@" not in value:
                raise SettingsError(f"{name} must be an e-mail address, got {value!r}")
        tracking = (text("OUTREACH_TRACKING_BASE_URL") or "").rstrip("/") or None
        if tracking is not None and not tracking.startswith(("http://", "https://")):
            raise SettingsError(f"OUTREACH_TRACKING_BASE_URL must be an http:// or https:// URL, got {tracking!r}")
        host = text("OUTREACH_SMTP_HOST") or preset_host
        if sender_mode == "smtp":
            if host is None:
                raise SettingsError("OUTREACH_SENDER_MODE=smtp needs OUTREACH_SMTP_HOST (or OUTREACH_SMTP_PROVIDER=163)")
            if from_address is None:
                raise SettingsError("OUTREACH_SENDER_MODE=smtp needs OUTREACH_SMTP_FROM (the sender's address)")
            if provider == "163" and (user is None or password is None):
                raise SettingsError(
                    "OUTREACH_SMTP_PROVIDER=163 needs OUTREACH_SMTP_USER (the 163 address) and OUTREACH_SMTP_PASS "
                    "(the client authorisation code from 163's settings, not the login password)"
                )
        if (user is None) != (password is None):
            missing = "OUTREACH_SMTP_PASS" if password is None else "OUTREACH_SMTP_USER"
            raise SettingsError(f"OUTREACH_SMTP_USER and OUTREACH_SMTP_PASS go together: {missing} is not set")
        return cls(
            sender_mode=sender_mode,
            provider=provider,
            host=host,
            port=port,
            secure=secure,
            user=user,
            password=password,
            from_address=from_address,
            reply_to=reply_to,
            tracking_base_url=tracking,
            ca_file=text("OUTREACH_SMTP_CA_FILE"),
            timeout_s=env_int(env, "OUTREACH_SMTP_TIMEOUT_MS", 20_000, minimum=1) / 1000,
        )


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
            raise SettingsError(f"BILLING_PROVIDER_PROFILE must be generic_v1 or ledger_api_v2, got {profile!r}")
        timeout_ms, lease_ms = _timeout_and_lease(env)
        verification = _verification(env, mode)
        secrets_path = env.get("RECEIPT_SIGNING_SECRETS") or None
        if verification == "signed" and not secrets_path:
            raise SettingsError("RECEIPT_VERIFICATION=signed needs RECEIPT_SIGNING_SECRETS (a JSON file of partnerId -> secret)")
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
            api_keys_protect_reads=_flag(env, "API_KEYS_PROTECT_READS"),
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
