"""What the workbench must know about the mode of the server it talks to (``GET /system/runtime-profile``).

A real_test server runs on real data only: scenario traffic (synthetic intents and
receipts) must never be replayed into it. ``check_replay_target`` is the one check the
replay paths (the ``replay`` command and the Live screen) call before sending anything;
``header_label`` is what the header and the Live screen show.
"""

from __future__ import annotations

from typing import Any

from workbench.app.client import ApiClient, ApiError

REAL_DATA_MODES = ("real_test",)


class ReplayRefused(Exception):
    """The server must not receive scenario traffic; the message says why, in one sentence."""


def server_mode(profile: dict[str, Any] | None) -> str:
    """The mode the server reports (``default`` for a server too old to report one, ``?`` when unknown)."""
    if not profile:
        return "?"
    return str(profile.get("mode") or "default")


def header_label(profile: dict[str, Any] | None) -> str:
    """``mode demo`` / ``mode real_test (real data only)`` / ``mode ?`` for the header and the Live screen."""
    mode = server_mode(profile)
    if mode in REAL_DATA_MODES or (profile or {}).get("realDataOnly"):
        return f"mode {mode} (real data only)"
    return f"mode {mode}"


def replay_refusal(profile: dict[str, Any] | None, api_url: str) -> str | None:
    """Why scenario traffic must not go to this server, or None when it may."""
    mode = server_mode(profile)
    if mode in REAL_DATA_MODES or (profile or {}).get("realDataOnly"):
        return (
            f"The server at {api_url} runs in {mode} mode (real data only): scenario traffic is never "
            "replayed into it. Replay into a default or demo server."
        )
    return None


async def check_replay_target(client: ApiClient) -> dict[str, Any]:
    """Read the server's runtime profile and raise ``ReplayRefused`` for a real_test server; the profile."""
    try:
        profile = await client.runtime_profile()
    except ApiError as exc:
        if exc.status != 404:
            raise
        profile = {}  # a server too old to report its profile has no real_test lane
    refusal = replay_refusal(profile, client.base_url)
    if refusal:
        raise ReplayRefused(refusal)
    return profile
