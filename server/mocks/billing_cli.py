"""``promotion-agent mock billing``: the mock billing adapter's command line (flags, or the
``BILLING_ADAPTER_*`` variables the README lists), served on 127.0.0.1 until interrupted.

``run`` is long on purpose: each flag sits next to the variable it overrides.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from ..serving import bind_loopback, bound_url, serve_blocking
from ..settings import env_int
from .billing import create_app
from .billing_state import MODES, BillingMock, check_rates


def _env_rate(env: Mapping[str, str], name: str) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return 0.0
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number between 0 and 1, got {raw!r}") from None


def run(rest_args: list[str], env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(
        prog="promotion-agent mock billing", description="A local mock of the billing provider's API."
    )
    parser.add_argument(
        "--port", type=int, default=None, help="port on 127.0.0.1 (BILLING_ADAPTER_PORT, 8787)"
    )
    parser.add_argument("--mode", choices=MODES, default=None, help="BILLING_ADAPTER_MODE (settled)")
    parser.add_argument("--delay-ms", type=int, default=None, help="BILLING_ADAPTER_DELAY_MS (0)")
    parser.add_argument("--drip-ms", type=int, default=None, help="BILLING_ADAPTER_DRIP_MS (20), drip mode")
    parser.add_argument(
        "--retry-after-s", type=int, default=None, help="BILLING_ADAPTER_RETRY_AFTER_S (20), ratelimit"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="BILLING_ADAPTER_SEED (1), flaky and probabilistic modes"
    )
    parser.add_argument(
        "--retryable-rate",
        type=float,
        default=None,
        help="BILLING_ADAPTER_RETRYABLE_RATE (0), probabilistic mode",
    )
    parser.add_argument(
        "--terminal-rate",
        type=float,
        default=None,
        help="BILLING_ADAPTER_TERMINAL_RATE (0), probabilistic mode",
    )
    args = parser.parse_args(rest_args)
    mode = args.mode or env.get("BILLING_ADAPTER_MODE") or "settled"
    if mode not in MODES:
        raise ValueError(f"BILLING_ADAPTER_MODE must be one of {', '.join(MODES)}, got {mode!r}")
    retryable = args.retryable_rate
    if retryable is None:
        retryable = _env_rate(env, "BILLING_ADAPTER_RETRYABLE_RATE")
    terminal = args.terminal_rate
    if terminal is None:
        terminal = _env_rate(env, "BILLING_ADAPTER_TERMINAL_RATE")
    problem = check_rates(retryable, terminal)
    if problem:
        raise ValueError(
            f"--retryable-rate / --terminal-rate (BILLING_ADAPTER_RETRYABLE_RATE, "
            f"BILLING_ADAPTER_TERMINAL_RATE): {problem}"
        )
    port = args.port if args.port is not None else env_int(env, "BILLING_ADAPTER_PORT", 8787, maximum=65535)

    def pick(given: int | None, name: str, default: int) -> int:
        return given if given is not None else env_int(env, name, default)

    mock = BillingMock(
        mode=mode,
        delay_ms=pick(args.delay_ms, "BILLING_ADAPTER_DELAY_MS", 0),
        drip_ms=pick(args.drip_ms, "BILLING_ADAPTER_DRIP_MS", 20),
        retry_after_s=pick(args.retry_after_s, "BILLING_ADAPTER_RETRY_AFTER_S", 20),
        seed=pick(args.seed, "BILLING_ADAPTER_SEED", 1),
        retryable_rate=retryable,
        terminal_rate=terminal,
        hmac_secret=env.get("BILLING_ADAPTER_HMAC_SECRET") or None,
        api_key=env.get("BILLING_ADAPTER_API_KEY") or None,
        signature_header=(env.get("BILLING_SIGNATURE_HEADER") or "x-billing-signature").lower(),
        timestamp_header=(env.get("BILLING_TIMESTAMP_HEADER") or "x-billing-timestamp").lower(),
    )
    sock = bind_loopback(port)
    checks = ", ".join(x for x in ("hmac" if mock.hmac_secret else "", "bearer" if mock.api_key else "") if x)
    rates = (
        f", retryableRate={mock.retryable_rate:g}, terminalRate={mock.terminal_rate:g}, seed={mock.seed}"
        if mock.mode == "probabilistic"
        else ""
    )
    message = (
        f"mock billing adapter listening on {bound_url(sock)} (POST /settlements, GET /events; "
        f"mode={mock.mode}{rates}, checks={checks or 'none'})"
    )
    return serve_blocking(create_app(mock), sock, message)
