"""API keys: who may call which endpoint, the keys file, and who the current caller is.

The rules (``../shared/spec/api.md``, "Keys"):

- with ``API_KEYS_FILE`` set, ``POST /opportunities/evaluate`` and ``POST /events/receipts``
  need an ``agent`` or ``operator`` key, and every other endpoint that is not a read needs
  an ``operator`` key; reads (GET/HEAD) stay open unless ``API_KEYS_PROTECT_READS`` is set
  (then any valid key); ``/health``, the OpenAPI document (``/schema…``) and the operator
  pages (``/dlq.html``, ``/audit.html``, ``/plans-wallet`` and their ``/static/`` files) and the
  outreach open-tracking pixel (``/outreach/open/{targetId}/pixel.gif``) are always open;
- ``POST /webhooks/stripe`` needs no key: it is authenticated by its ``Stripe-Signature``;
- without keys the server listens on loopback only.

An operator may do everything an agent may, so a requirement is the lowest role that
satisfies it. Keys are never kept in clear: the ring holds their sha256 digests and
compares a presented key against every one of them with ``hmac.compare_digest``, so
neither the comparison nor the number of comparisons depends on which key matched.
Nothing here knows about HTTP; ``server.api.auth`` applies it to requests.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import tomllib
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeGuard

from ..settings import Settings, SettingsError

Role = Literal["operator", "agent"]
ROLES: tuple[Role, ...] = ("operator", "agent")
MIN_KEY_LENGTH = 16

# The endpoints a buyer agent calls; every other endpoint that changes something is an operator's.
AGENT_ENDPOINTS = frozenset({("POST", "/opportunities/evaluate"), ("POST", "/events/receipts")})
READ_METHODS = frozenset({"GET", "HEAD"})
# The operator pages and their scripts hold no data (they read it from the API with the operator's key).
OPERATOR_PAGES = frozenset({"/dlq.html", "/audit.html", "/plans-wallet"})
ALWAYS_OPEN_PATHS = frozenset({"/health", "/schema", *OPERATOR_PAGES})
# The outreach open-tracking pixel is fetched by mail clients, which carry no key (it counts opens only).
ALWAYS_OPEN_PREFIXES = ("/schema/", "/static/", "/outreach/open/")
LOOPBACK_NAMES = frozenset({"localhost"})
# Endpoints that authenticate themselves by a signature over the body, never by an API key:
# Stripe cannot send one (the webhook answers 400 to a bad ``Stripe-Signature``).
SIGNED_ENDPOINTS = frozenset({("POST", "/webhooks/stripe")})


@dataclass(frozen=True)
class Caller:
    """Who sent the request: the key's name (the audit trail's ``actorId``) and role."""

    name: str
    role: Role


# Set by the API for each request a key authenticated (None otherwise); read by Services.audit.
current_caller: ContextVar[Caller | None] = ContextVar("promotion_agent_caller", default=None)


class KeysFileError(SettingsError):
    """The keys file cannot be used; the message names the file and the problem (never a key)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"API_KEYS_FILE {path}: {problem}")
        self.path = path
        self.problem = problem


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


class KeyRing:
    """The configured keys, by digest; ``identify`` tells which caller a presented key is."""

    def __init__(self, entries: Iterable[tuple[str, str, Role]]) -> None:
        self._entries: tuple[tuple[bytes, Caller], ...] = tuple(
            (_digest(key), Caller(name, role)) for name, key, role in entries
        )

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:  # never shows a key or a digest
        return f"KeyRing({self.describe()})"

    @property
    def callers(self) -> list[Caller]:
        return [caller for _, caller in self._entries]

    def describe(self) -> str:
        counts = {role: sum(1 for c in self.callers if c.role == role) for role in ROLES}
        return ", ".join(f"{n} {role}" for role, n in counts.items())

    def identify(self, presented: str) -> Caller | None:
        """The caller whose key this is, or None; compares against every key, whatever matches."""
        digest = _digest(presented)
        found: Caller | None = None
        for stored, caller in self._entries:
            if hmac.compare_digest(stored, digest):
                found = caller
        return found


def required_role(method: str, path: str, protect_reads: bool) -> Role | None:
    """What a request needs: None (open to anyone), "agent" (any valid key) or "operator".

    ``path`` is the route's template (``/campaigns/{campaign_id}/activate``) or the path itself.
    """
    method = method.upper()
    if path in ALWAYS_OPEN_PATHS or path.startswith(ALWAYS_OPEN_PREFIXES) or method == "OPTIONS":
        return None
    if (method, path) in SIGNED_ENDPOINTS:
        return None
    if method in READ_METHODS:
        return "agent" if protect_reads else None
    if (method, path) in AGENT_ENDPOINTS:
        return "agent"
    return "operator"


def allows(role: Role, needed: Role) -> bool:
    """Whether a key of ``role`` satisfies ``needed`` (an operator may do what an agent may)."""
    return role == "operator" or role == needed


@dataclass(frozen=True)
class AccessPolicy:
    keys: KeyRing
    protect_reads: bool = False

    def requirement(self, method: str, path: str) -> Role | None:
        return required_role(method, path, self.protect_reads)

    def describe(self) -> str:
        return f"api-keys({self.keys.describe()}; reads {'protected' if self.protect_reads else 'open'})"


# ---------------------------------------------------------------------------
# The keys file
# ---------------------------------------------------------------------------

_FORMAT_HINT = "expected [[keys]] tables (TOML) or a list of {name, key, role} (JSON)"


def _decode(text: str, path: str) -> Any:
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise KeysFileError(path, f"not valid JSON: {exc.msg} ({where})") from None
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise KeysFileError(path, f"not valid TOML: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KeysFileError(path, f"neither valid JSON nor valid TOML ({exc})") from None


def _is_table(value: object) -> TypeGuard[dict[str, object]]:
    """A JSON object or a TOML table: a dict, whose keys both formats make strings."""
    return isinstance(value, dict)


def _is_list(value: object) -> TypeGuard[list[object]]:
    return isinstance(value, list)


def _entries(data: object, path: str) -> list[object]:
    if _is_table(data):
        unknown = sorted(set(data) - {"keys"})
        if unknown:
            raise KeysFileError(path, f"unknown top-level field {unknown[0]!r}; {_FORMAT_HINT}")
        if "keys" not in data:
            raise KeysFileError(path, f"no keys; {_FORMAT_HINT}")
        data = data["keys"]
    if not _is_list(data):
        raise KeysFileError(path, f"`keys` is not a list; {_FORMAT_HINT}")
    if not data:
        raise KeysFileError(path, "the list of keys is empty")
    return data


def _printable(text: str) -> bool:
    return all(33 <= ord(ch) <= 126 for ch in text)


def parse_keys(text: str, path: str) -> KeyRing:
    """The key ring a keys file's text describes; ``KeysFileError`` naming the first problem."""
    entries: list[tuple[str, str, Role]] = []
    names: dict[str, int] = {}
    digests: dict[bytes, tuple[int, str]] = {}
    for number, entry in enumerate(_entries(_decode(text, path), path), start=1):
        where = f"key #{number}"
        if not _is_table(entry):
            raise KeysFileError(path, f"{where} is not a table/object with name, key and role")
        unknown = sorted(set(entry) - {"name", "key", "role"})
        if unknown:
            raise KeysFileError(
                path, f"{where} has an unknown field {unknown[0]!r} (only name, key and role)"
            )
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise KeysFileError(path, f"{where} needs a name (a non-empty string)")
        name = name.strip()
        if not name.isprintable():
            raise KeysFileError(path, f"{where}: the name {name!r} contains control characters")
        where = f"key #{number} ({name!r})"
        role = entry.get("role")
        if role not in ROLES:
            raise KeysFileError(path, f"{where}: role must be operator or agent, got {role!r}")
        key = entry.get("key")
        if key is None or key == "":
            raise KeysFileError(path, f"{where} has an empty key")
        if not isinstance(key, str):
            raise KeysFileError(path, f"{where}: the key must be a string")
        if len(key) < MIN_KEY_LENGTH:
            raise KeysFileError(
                path, f"{where}: the key is {len(key)} characters long, at least {MIN_KEY_LENGTH} are needed"
            )
        if not _printable(key):
            raise KeysFileError(
                path, f"{where}: the key may hold only printable ASCII without spaces (HTTP header text)"
            )
        if name in names:
            raise KeysFileError(path, f"{where}: the name is also used by key #{names[name]}")
        digest = _digest(key)
        if digest in digests:
            other, other_name = digests[digest]
            raise KeysFileError(path, f"{where} has the same key as key #{other} ({other_name!r})")
        names[name] = number
        digests[digest] = (number, name)
        entries.append((name, key, role))
    return KeyRing(entries)


def load_keys_file(path: str) -> KeyRing:
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise KeysFileError(path, "the file does not exist") from None
    except IsADirectoryError:
        raise KeysFileError(path, "this is a directory, not a keys file") from None
    except OSError as exc:
        raise KeysFileError(path, f"cannot read it: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise KeysFileError(path, "not UTF-8 text") from None
    return parse_keys(text, path)


# ---------------------------------------------------------------------------
# Start-up
# ---------------------------------------------------------------------------


def access_from_settings(settings: Settings) -> AccessPolicy | None:
    """The access policy the settings describe: None without API_KEYS_FILE (open, loopback only)."""
    if not settings.api_keys_file:
        if settings.api_keys_protect_reads:
            raise SettingsError(
                "API_KEYS_PROTECT_READS is set but API_KEYS_FILE is not: there are no keys to read with"
            )
        return None
    return AccessPolicy(load_keys_file(settings.api_keys_file), settings.api_keys_protect_reads)


def is_loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def listen_refusal(host: str, policy: AccessPolicy | None) -> str | None:
    """Why the server may not listen on ``host`` (None when it may): without keys, loopback only."""
    if policy is not None or is_loopback(host):
        return None
    return f"refusing to listen on {host} without API keys: set API_KEYS_FILE (see README) or HOST=127.0.0.1"
