"""Domain errors: the few ways a rule can refuse, each tied to one HTTP status.

Domain code raises these and knows nothing about HTTP; the API maps them to
responses in one place (``status_code`` plus ``to_body()``), so a rule and its
status code never drift apart between controllers.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every refusal a rule can make; ``field`` names the offending input (camelCase path)."""

    status_code: ClassVar[int] = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_body(self) -> dict[str, Any]:
        """The JSON error body: ``{"message"}`` plus ``field`` when one is known."""
        body: dict[str, Any] = {"message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class ValidationFailed(DomainError):
    """The input itself is wrong (malformed, placeholder data, unknown enum value): 400."""

    status_code = 400


class NotFound(DomainError):
    """An id names nothing: 404."""

    status_code = 404


class Conflict(DomainError):
    """A state change the rules do not allow: 409. ``body`` adds fields to the response (e.g. ``activated``)."""

    status_code = 409

    def __init__(self, message: str, field: str | None = None, body: dict[str, Any] | None = None) -> None:
        super().__init__(message, field)
        self.body = dict(body or {})

    def to_body(self) -> dict[str, Any]:
        return {**self.body, **super().to_body()}


class Unprocessable(DomainError):
    """Well-formed input that refers to things that do not fit together (unknown campaign in a receipt): 422."""

    status_code = 422


class ServiceUnavailable(DomainError):
    """A service the request depends on (the hot state) cannot be reached right now: 503.

    Nothing was acknowledged; the same request may be sent again after ``retry_after_seconds``.
    """

    status_code = 503
    retry_after_seconds: ClassVar[int] = 1
