"""Settings of the outside services the server talks to: Stripe (wallet top-ups) and an SMTP server
(partner outreach). Each reads its own variables and is refused as a whole, naming the variable.
(``OutreachSettings.from_env`` is long on purpose: each variable's check sits next to its reading.)"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .env import SettingsError, env_int


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
            raise SettingsError(
                f"OUTREACH_TRACKING_BASE_URL must be an http:// or https:// URL, got {tracking!r}"
            )
        host = text("OUTREACH_SMTP_HOST") or preset_host
        if sender_mode == "smtp":
            if host is None:
                raise SettingsError(
                    "OUTREACH_SENDER_MODE=smtp needs OUTREACH_SMTP_HOST (or OUTREACH_SMTP_PROVIDER=163)"
                )
            if from_address is None:
                raise SettingsError(
                    "OUTREACH_SENDER_MODE=smtp needs OUTREACH_SMTP_FROM (the sender's address)"
                )
            if provider == "163" and (user is None or password is None):
                raise SettingsError(
                    "OUTREACH_SMTP_PROVIDER=163 needs OUTREACH_SMTP_USER (the 163 address) and OUTREACH_SMTP_PASS "
                    "(the client authorisation code from 163's settings, not the login password)"
                )
        if (user is None) != (password is None):
            missing = "OUTREACH_SMTP_PASS" if password is None else "OUTREACH_SMTP_USER"
            raise SettingsError(
                f"OUTREACH_SMTP_USER and OUTREACH_SMTP_PASS go together: {missing} is not set"
            )
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
