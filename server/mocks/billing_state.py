"""The mock billing provider's state: its modes (and per-key modes), what it received, what it settled,
and the seeded draws of its probabilistic mode. ``billing.create_app`` serves it over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MODES = (
    "settled",
    "fail",
    "retry",
    "slow",
    "drip",
    "garbage",
    "weird",
    "ratelimit",
    "reset",
    "flaky",
    "probabilistic",
)
FLAKY_CHOICES = ("settled", "retry", "garbage", "ratelimit", "reset")
FLAKY_WEIGHTS = (40, 15, 15, 15, 15)
DEFAULT_SLOW_MS = 3000
GARBAGE_BODY = "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"


def unit_draw(seed: int, key: str, n: int) -> float:
    """A uniform number in [0, 1) fixed by (seed, key, n): the probabilistic mode's n-th draw for a key."""
    digest = hashlib.sha256(f"{seed}:{key}:{n}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def check_rates(retryable: Any, terminal: Any) -> str | None:
    """Why these probabilistic-mode rates cannot be used, or None."""
    for name, value in (("retryable rate", retryable), ("terminal rate", terminal)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
            return f"the {name} must be a number between 0 and 1, got {value!r}"
    if retryable + terminal > 1.0:
        return f"the retryable and terminal rates add up to more than 1 ({retryable} + {terminal})"
    return None


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class BillingMock:
    mode: str = "settled"
    delay_ms: int = 0
    drip_ms: int = 20
    retry_after_s: int = 20
    seed: int = 1
    retryable_rate: float = 0.0
    terminal_rate: float = 0.0
    hmac_secret: str | None = None
    api_key: str | None = None
    signature_header: str = "x-billing-signature"
    timestamp_header: str = "x-billing-timestamp"
    by_key: dict[str, str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    submissions: Counter = field(default_factory=Counter)
    settled: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates: Counter = field(default_factory=Counter)
    in_flight: Counter = field(default_factory=Counter)
    overlaps: int = 0
    answers: Counter = field(default_factory=Counter)
    rng: random.Random = field(default_factory=lambda: random.Random(1))

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def reset(self) -> None:
        self.events.clear()
        self.submissions.clear()
        self.settled.clear()
        self.duplicates.clear()
        self.answers.clear()
        self.by_key.clear()
        self.overlaps = 0
        self.rng = random.Random(self.seed)

    def signature_check(self, headers: Mapping[str, str], raw: bytes) -> str:
        if not self.hmac_secret:
            return "unchecked"
        timestamp = headers.get(self.timestamp_header)
        signature = headers.get(self.signature_header)
        if not timestamp or not signature:
            return "missing"
        expected = hmac.new(
            self.hmac_secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256
        ).hexdigest()
        return "valid" if hmac.compare_digest(expected, signature) else "invalid"

    def mode_for(self, key: str, ids: Mapping[str, Any]) -> str:
        """The mode answering this submission: its key's (or intent's) own, else the provider's
        (``flaky`` resolved to one of its choices)."""
        mode = self.by_key.get(key) or self.by_key.get(ids.get("intent_id") or "") or self.mode
        if mode == "flaky":
            mode = self.rng.choices(FLAKY_CHOICES, FLAKY_WEIGHTS)[0]
        elif mode == "probabilistic":
            u = unit_draw(self.seed, key, self.submissions[key])  # submissions so far: this is the next
            if u < self.terminal_rate:
                mode = "fail"
            elif u < self.terminal_rate + self.retryable_rate:
                mode = "retry"
            else:
                mode = "settled"
        return mode

    def answer(
        self, profile: str, key: str, ids: dict[str, Any], mode: str
    ) -> tuple[int, dict[str, Any] | str]:
        if key in self.settled:
            self.duplicates[key] += 1
            first = self.settled[key]
            code = "DUPLICATE_SETTLED" if profile == "ledger_api_v2" else "SETTLED"
            return 200, {**first, "code": code, "message": "Already settled under this idempotency key."}
        if mode == "fail":
            return 422, {
                "status": "failed",
                "code": "FAILED",
                "message": "The mock provider refused the settlement.",
            }
        if mode == "retry":
            code = "TEMP_UNAVAILABLE" if profile == "ledger_api_v2" else "RETRY"
            return 503, {"status": "retry", "code": code, "message": "The mock provider is busy; try again."}
        if mode == "ratelimit":
            return 429, {
                "status": "retry",
                "code": "RATE_LIMITED",
                "message": "Too many requests; see Retry-After.",
            }
        if mode == "garbage":
            return 200, GARBAGE_BODY
        if mode == "weird":
            return 200, {"status": "failed", "code": "WEIRD"}
        body = {
            "status": "settled",
            "provider_settlement_id": f"mock_{ids.get('settlement_id') or key}",
            "provider_reference": ids.get("intent_id") or key,
            "code": "SETTLED",
            "message": "Settled by the mock billing adapter.",
        }
        self.settled[key] = body
        return 200, body
