"""Strict decoding of every JSON request body, in one place.

Without a DTO, Litestar decodes a body to plain Python values and then converts
all of a handler's arguments (query, path and body alike) with msgspec's *lax*
rules (``strict=False``), which suit query strings but let a body say
``"sponsoredSlots": "3"``, ``"explain": "true"`` or ``"occurredAt": 123``. The
contract (spec/api.md) wants bodies decoded strictly.

Litestar's hook for turning request bytes into a handler's ``data`` is the DTO
(``AbstractDTO.decode_bytes``). ``StrictJsonBody`` is a DTO that does nothing
but decode: set once on the application (``dto=StrictJsonBody``), it decodes
each handler's body straight into the handler's declared ``data`` type with
msgspec's strict rules, and documents the body with that same type, so the
OpenAPI schema is the one Litestar would generate without it. It never takes
part in responses. Query and path parameters keep Litestar's lax parsing.
"""

from __future__ import annotations

from collections.abc import Collection, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
from litestar.dto import AbstractDTO
from litestar.exceptions import SerializationException, ValidationException
from litestar.openapi.spec import Operation, RequestBody

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.dto.data_structures import DTOFieldDefinition
    from litestar.openapi.spec import Reference, Schema
    from litestar.typing import FieldDefinition


class StrictJsonBody(AbstractDTO):
    """Decode ``data`` with ``msgspec.json.Decoder(<the handler's data type>, strict=True)``."""

    _decoders: ClassVar[dict[str, msgspec.json.Decoder]] = {}
    _types: ClassVar[dict[str, Any]] = {}

    # -- what Litestar asks of a DTO while registering a handler -------------
    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        if field_definition.name != "data":
            return
        cls._types[handler_id] = field_definition.annotation
        cls._decoders[handler_id] = msgspec.json.Decoder(field_definition.annotation, strict=True)

    @classmethod
    def is_supported_model_type_field(cls, field_definition: FieldDefinition) -> bool:
        return False  # responses are encoded as Litestar always does, without a DTO

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        return schema_creator.for_field_definition(field_definition)

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()  # the type is decoded as a whole; no transfer model is built

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False

    # -- decoding a request ----------------------------------------------------
    def decode_bytes(self, value: bytes) -> Any:
        handler_id = self.asgi_connection.route_handler.handler_id
        try:
            return self._decoders[handler_id].decode(value)
        except msgspec.DecodeError as exc:
            if not isinstance(exc, msgspec.ValidationError):
                raise SerializationException(str(exc)) from exc
        # JSON has one kind of number: 3.0 is the integer 3 (as JSON Schema's "integer" says),
        # which msgspec's strict rules refuse for an ``int``. Only a body that failed takes this path.
        try:
            return self.decode_builtins(_whole_floats_as_ints(msgspec.json.decode(value)))
        except msgspec.DecodeError as exc:  # pragma: no cover - it decoded above
            raise SerializationException(str(exc)) from exc

    def decode_builtins(self, value: Any) -> Any:
        handler_id = self.asgi_connection.route_handler.handler_id
        try:
            return msgspec.convert(value, self._types[handler_id], strict=True)
        except msgspec.ValidationError as exc:
            raise ValidationException(
                detail="Validation failed", extra=[{"message": str(exc), "source": "body"}]
            ) from exc

    def data_to_encodable_type(self, data: Any | Collection[Any]) -> Any:  # pragma: no cover - no returns
        return data


def _whole_floats_as_ints(value: Any) -> Any:
    """``value`` with every float that has no fractional part replaced by the equal int."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, list):
        return [_whole_floats_as_ints(v) for v in value]
    if isinstance(value, dict):
        return {k: _whole_floats_as_ints(v) for k, v in value.items()}
    return value


@dataclass
class OptionalBody(Operation):
    """The OpenAPI operation of a handler whose body may be left out (``data: X | None = Body(None)``).

    Litestar documents every request body as required; for these handlers an empty
    request is as good as ``{}``, and the document must say so (``operation_class=OptionalBody``).
    """

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            self.request_body.required = False
