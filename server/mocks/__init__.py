"""Local stand-ins for what the server and worker talk to: ``promotion-agent mock billing|alerts|stripe``.

Each listens on 127.0.0.1 only and keeps what it receives in memory (billing and
alerts list it at ``GET /events``). They exist for the README walk-throughs and the tests.
"""

from __future__ import annotations


def run(service: str, rest_args: list[str]) -> int:
    if service == "billing":
        from .billing_cli import run as run_billing

        return run_billing(rest_args)
    if service == "alerts":
        from .alerts import run as run_alerts

        return run_alerts(rest_args)
    if service == "stripe":
        from .stripe import run as run_stripe

        return run_stripe(rest_args)
    raise ValueError(f"unknown mock {service!r}; choose billing, alerts or stripe")
