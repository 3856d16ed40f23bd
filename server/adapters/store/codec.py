"""How records are stored: msgspec JSON documents, and times as epoch milliseconds."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
_decoders: dict[type, msgspec.json.Decoder] = {}


def encode(value: Any) -> str:
    return _encoder.encode(value).decode()


def decode(doc: str | bytes, type_: type[T]) -> T:
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_)
    return decoder.decode(doc)


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)
