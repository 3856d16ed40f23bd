"""API keys on the HTTP side: the app-wide guard and the OpenAPI security declarations.

The rules themselves (which endpoint needs which role, the key ring) are in
``server.services.access``; this module reads the key from the request
(``Authorization: Bearer KEY`` or ``x-api-key: KEY``), answers 401/403 as JSON
errors like every other, and records the caller for the audit trail.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import HTTPRoute

from ..services.access import AccessPolicy, Caller, allows, current_caller
from .errors import documented

BEARER_SCHEME = "bearerKey"
HEADER_SCHEME = "apiKeyHeader"
HOW_TO_SEND = "send it as `Authorization: Bearer KEY` or `x-api-key: KEY`"


def security_components() -> Components:
    """The OpenAPI components declaring both ways to send a key."""
    return Components(
        security_schemes={
            BEARER_SCHEME: SecurityScheme(
                type="http",
                scheme="bearer",
                description="An API key from the server's API_KEYS_FILE, as `Authorization: Bearer KEY`.",
            ),
            HEADER_SCHEME: SecurityScheme(
                type="apiKey",
                name="x-api-key",
                security_scheme_in="header",
                description="The same API key in the `x-api-key` header.",
            ),
        }
    )


SECURITY_REQUIREMENT: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}, {HEADER_SCHEME: []}]


def presented_key(headers: Any) -> tuple[str | None, str | None]:
    """The key a request carries and, when it carries none usable, why (for the 401 message)."""
    authorization = (headers.get("authorization") or "").strip()
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip(), None
    api_key = (headers.get("x-api-key") or "").strip()
    if api_key:
        return api_key, None
    if authorization:
        return None, "the Authorization header does not read `Bearer KEY`"
    return None, None


def _challenge(error: str | None = None) -> dict[str, str]:
    value = 'Bearer realm="promotion-agent"'
    if error:
        value += f', error="{error}"'
    return {"WWW-Authenticate": value}


def _who(needed: str) -> str:
    return "an operator API key" if needed == "operator" else "an API key (agent or operator)"


def key_guard(policy: AccessPolicy):
    """The app-wide guard: checks the key against the endpoint's requirement and sets ``current_caller``."""

    async def require_api_key(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        scope = connection.scope
        template = scope.get("path_template") or scope["path"]
        # Only HTTP scopes carry a method; a WebSocket handshake (the app has no WebSocket routes) is a GET.
        method = scope["method"] if scope["type"] == "http" else "GET"
        needed = policy.requirement(method, template)
        key, problem = presented_key(connection.headers)
        caller: Caller | None = policy.keys.identify(key) if key is not None else None
        current_caller.set(caller)  # for this request only: each request runs in its own context
        if needed is None:
            return
        if key is None:
            reason = f", but {problem}" if problem else ""
            raise NotAuthorizedException(
                detail=f"This endpoint needs {_who(needed)}{reason}; {HOW_TO_SEND}.", headers=_challenge()
            )
        if caller is None:
            raise NotAuthorizedException(
                detail="The API key is not known to this server (it is not in the server's API_KEYS_FILE).",
                headers=_challenge("invalid_token"),
            )
        if not allows(caller.role, needed):
            raise PermissionDeniedException(
                detail=f"This endpoint needs {_who(needed)}; "
                f"the key {caller.name!r} has the {caller.role} role."
            )

    return require_api_key


def document_security(app: Litestar, policy: AccessPolicy) -> None:
    """Declare the key requirement and the 401/403 answers on every protected operation of ``app``.

    Litestar copies route handlers into each app, so this changes only this app's document.
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not isinstance(handler, HTTPRouteHandler) or not handler.resolve_include_in_schema():
                continue
            needs = {policy.requirement(method, route.path_format) for method in handler.http_methods}
            if needs == {None}:
                continue
            codes = (401, 403) if "operator" in needs else (401,)
            handler.security = SECURITY_REQUIREMENT
            handler.responses = {**(handler.responses or {}), **documented(*codes)}
