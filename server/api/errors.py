"""One place that turns failures into JSON error responses (``{"message", "field"?}``).

Domain errors carry their status code; request-validation failures from
Litestar/msgspec become 400 naming the offending field; an unexpected
exception is logged and answered with a 500 that says so (it is a bug).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from ..domain.errors import DomainError, ServiceUnavailable, ValidationFailed

log = logging.getLogger("promotion_agent.api")

_PATH = re.compile(r"at `\$\.?([^`]*)`")
_MISSING = re.compile(r"missing required field `([^`]*)`")

# Request bodies: at most this many bytes (Litestar answers 413 above it) and this deep.
MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32


def _json(
    body: dict[str, Any], status: int, headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    return Response(content=body, status_code=status, media_type="application/json", headers=headers)


def domain_error(_: Request, exc: DomainError) -> Response[dict[str, Any]]:
    headers = None
    if isinstance(exc, ServiceUnavailable):
        # Nothing was acknowledged: the client may send the same request again in a moment.
        headers = {"retry-after": str(exc.retry_after_seconds)}
    return _json(exc.to_body(), exc.status_code, headers)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def field_from(message: str, key: str | None) -> str | None:
    """The offending field's camelCase path (msgspec's ``at `$.a.b```, ``missing required field `c```)."""
    match = _PATH.search(message)
    where = match.group(1) if match else ""
    missing = _MISSING.search(message)
    if missing:
        return f"{where}.{missing.group(1)}" if where else missing.group(1)
    if where:
        return where
    return _camel(key) if key else None


def _is_decode_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (msgspec.DecodeError, SerializationException)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def validation_error(request: Request, exc: ValidationException) -> Response[dict[str, Any]]:
    errors = exc.extra if isinstance(exc.extra, list) else []
    details = []
    for err in errors:
        if isinstance(err, dict):
            message = str(err.get("message", ""))
            source = err.get("source")
            source = getattr(source, "value", source)
            details.append(
                {"message": message, "field": field_from(message, err.get("key")), "source": source}
            )
    if details:
        first = details[0]
        if first["field"] == "data" and first["source"] in ("body", None):  # nothing was sent at all
            return _json({"message": "This endpoint needs a JSON request body.", "field": "body"}, 400)
        where = f" (field {first['field']})" if first["field"] else ""
        if first["source"] == "body" or first["source"] is None:
            if "malformed" in first["message"].lower() or "JSON" in first["message"]:
                message = f"The request body is not valid JSON: {first['message']}"
            else:
                message = f"Invalid request body{where}: {first['message']}"
        else:
            message = f"Invalid {first['source']} parameter{where}: {first['message']}"
        body: dict[str, Any] = {"message": message, "errors": details}
        if first["field"]:
            body["field"] = first["field"]
        return _json(body, 400)
    return _json({"message": exc.detail or "The request is invalid."}, 400)


def http_error(_: Request, exc: HTTPException) -> Response[dict[str, Any]]:
    if exc.status_code == 400 and _is_decode_error(exc):
        return _json({"message": f"The request body is not valid JSON: {exc.detail}"}, 400)
    message = exc.detail
    if exc.status_code == 404 and (not message or message == "Not Found"):
        message = "No such endpoint."
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("allow")
        message = f"Method not allowed; this path accepts {allowed}." if allowed else "Method not allowed."
    elif exc.status_code == 413:
        message = f"The request body is larger than {MAX_BODY_BYTES} bytes."
    return _json({"message": message}, exc.status_code, exc.headers)  # headers: Allow on a 405, ...


def unexpected_error(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _json(
        {"message": "Internal error: this is a bug in the server; it has been logged."},
        HTTP_500_INTERNAL_SERVER_ERROR,
    )


EXCEPTION_HANDLERS = {
    DomainError: domain_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}


class ErrorBody(msgspec.Struct, kw_only=True):
    """Every 4xx/5xx body: a sentence a person can act on, and the offending field for bad input."""

    message: str
    field: str | None = None
    errors: list[dict[str, Any]] | None = None


_DESCRIPTIONS = {
    400: "Invalid request: malformed JSON, a wrong field or parameter (named in `field`), or placeholder data.",
    401: "No API key, or a key the server does not know (`WWW-Authenticate: Bearer`).",
    403: "The API key is valid but its role may not do this (an operator key is needed).",
    404: "The id in the path names nothing.",
    409: "The state change is not allowed from the current state.",
    413: f"The request body is larger than {MAX_BODY_BYTES} bytes.",
    422: "The receipt names an unknown campaign, offer or partner, or an offer that is not the campaign's.",
    503: "The hot state (Redis) cannot be reached: nothing was acknowledged; send the same request again "
    "after `Retry-After` seconds.",
}


def documented(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI response specs for the error codes a handler can answer (always 400)."""
    return {
        code: ResponseSpec(data_container=ErrorBody, description=_DESCRIPTIONS[code], generate_examples=False)
        for code in sorted({400, *codes})
    }


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when arrays and objects nest deeper than ``limit`` (brackets inside strings do not count)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # cannot nest deeper than it has brackets: nearly every body stops here
    depth = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub(b'""', body)):
        if bracket.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


async def screen_raw_input(request: Request) -> None:
    """Checks on the raw request, once for every request and before any decoding.

    - Query strings and paths must not contain NUL: PostgreSQL cannot compare or store it
      (ids in bodies refuse it by their declared pattern; free text is stored escaped).
    - JSON bodies may nest at most ``MAX_JSON_DEPTH`` levels: deeper input would exhaust the
      decoder's recursion. (Bodies over ``MAX_BODY_BYTES`` are refused with 413 while reading.)
    """
    if "%00" in request.scope.get("query_string", b"").decode("latin-1") or "\x00" in request.url.path:
        raise ValidationFailed("Query parameters and paths must not contain NUL characters.")
    if request.method in ("POST", "PUT", "PATCH"):
        body = await request.body()
        if json_too_deep(body):
            raise ValidationFailed(
                f"The request body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep.",
                field="body",
            )
