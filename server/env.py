"""Reading settings from the environment: the one parser of whole numbers and flags, used by the server's
settings, the settlement worker and the mocks, with errors that name the variable."""

from __future__ import annotations

from collections.abc import Mapping


class SettingsError(ValueError):
    """A setting has a value the server cannot use; the message names the variable."""


def env_int(
    env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
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


def env_flag(env: Mapping[str, str], name: str) -> bool:
    """A yes/no setting: 1/0, true/false, yes/no, on/off (unset or blank: no)."""
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be 1 or 0 (true/false, yes/no, on/off), got {env.get(name)!r}")
