"""1. Health and runtime profile (the HTTP billing mode is checked in test_retry_dlq.py)."""

from __future__ import annotations

import httpx

from tests.support import expect


def test_health_reports_modes(readonly_api: httpx.Client, persistence: str) -> None:
    body = expect(readonly_api.get("/health"), 200)
    assert body["ok"] is True
    assert body["service"] == "promotion-agent"
    assert body["persistence"] == persistence
    assert body["hotState"] == "memory"
    assert body["billingMode"] == "simulated"


def test_runtime_profile_shape(readonly_api: httpx.Client, persistence: str) -> None:
    body = expect(readonly_api.get("/system/runtime-profile"), 200)
    assert set(body) >= {
        "mode",
        "persistence",
        "hotState",
        "billingMode",
        "demoEnabled",
        "realDataOnly",
        "defaultLeadFilter",
    }
    assert body["mode"] == "default"
    assert body["persistence"] == persistence
    assert body["hotState"] == "memory"
    assert body["billingMode"] == "simulated"
    assert body["demoEnabled"] is True
    assert body["realDataOnly"] is False
    assert body["defaultLeadFilter"] == []
