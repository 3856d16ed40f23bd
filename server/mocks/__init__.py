"""Local stand-ins for the services the worker talks to: ``promotion-agent mock billing|alerts``.

Both listen on 127.0.0.1 only and keep what they receive in memory, listed at
``GET /events``. They exist for the README walk-through and the tests.
"""

from __future__ import annotations


def run(service: str, rest_args: list[str]) -> int:
    if service == "billing":
        from .billing import run as run_billing

        return run_billing(rest_args)
    if service == "alerts":
        from .alerts import run as run_alerts

        return run_alerts(rest_args)
    raise ValueError(f"unknown mock {service!r}; choose billing or alerts")
