"""One place that turns failures into JSON error responses (``{"message", "field"?}``).

Domain errors carry their status code; request-validation failures from
Litestar/msgspec become 400 naming the offending field; an unexpected
exception is logged and answered with a 500 that says so (it is a bug).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from ..domain.errors import DomainError

log = logging.getLogger("promotion_agent.api")

_PATH = re.compile(r"at `\$\.?([^`]*)`")


def _json(body: dict[str, Any], status: int) -> Response[dict[str, Any]]:
    return Response(content=body, status_code=status, media_type="application/json")


def domain_error(_: Request, exc: DomainError) -> Response[dict[str, Any]]:
    return _json(exc.to_body(), exc.status_code)


def _field_from(message: str, key: str | None) -> str | None:
    match = _PATH.search(message)
    if match and match.group(1):
        return match.group(1)
    return key or None


def validation_error(request: Request, exc: ValidationException) -> Response[dict[str, Any]]:
    errors = exc.extra if isinstance(exc.extra, list) else []
    details = []
    for err in errors:
        if isinstance(err, dict):
            message = str(err.get("message", ""))
            details.append({"message": message, "field": _field_from(message, err.get("key")), "source": err.get("source")})
    if details:
        first = details[0]
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
    message = exc.detail
    if exc.status_code == 404 and (not message or message == "Not Found"):
        message = "No such endpoint."
    elif exc.status_code == 405:
        message = f"Method not allowed. {exc.detail}".strip()
    return _json({"message": message}, exc.status_code)


def unexpected_error(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _json({"message": "Internal error: this is a bug in the server; it has been logged."},
                 HTTP_500_INTERNAL_SERVER_ERROR)


EXCEPTION_HANDLERS = {
    DomainError: domain_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
