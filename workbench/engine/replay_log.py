"""A replay log: recorded opportunities and receipts, one JSON object per line (a scenario's
``traffic.replay``), decoded with the server's own types; errors name the file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec

from server.domain.models import EventReceipt, OpportunityRequest
from workbench.engine.errors import ScenarioError, display_path, validation_message

Probability = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class ReplayRequest(OpportunityRequest, kw_only=True):
    """A recorded OpportunityRequest; floors are optional so that "stated" can be told from "default"."""

    relevance_floor: Probability | None = None  # type: ignore[assignment] - optional here: stated or not
    utility_floor: Probability | None = None  # type: ignore[assignment] - optional here: stated or not


_request_decoder = msgspec.json.Decoder(ReplayRequest)
_receipt_decoder = msgspec.json.Decoder(EventReceipt)


def load_replay(path: Path) -> tuple[tuple[ReplayRequest, ...], tuple[EventReceipt, ...]]:
    """A JSON Lines log: one OpportunityRequest per line, or an EventReceipt (a line with ``receiptId``).

    Blank lines and lines starting with ``#`` are skipped. Errors name the file and line.
    """
    where = display_path(path)
    if not path.is_file():
        raise ScenarioError(f"{where}: no such replay file")
    requests: list[ReplayRequest] = []
    receipts: list[EventReceipt] = []
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            text = line.strip()
            if not text or text.startswith(b"#"):
                continue
            try:
                if b'"receiptId"' in text:
                    receipts.append(_receipt_decoder.decode(text))
                else:
                    requests.append(_request_decoder.decode(text))
            except msgspec.ValidationError as err:
                raise ScenarioError(validation_message(f"{where}:{number}", err)) from None
            except msgspec.DecodeError as err:
                raise ScenarioError(f"{where}:{number}: not valid JSON: {err}") from None
    return tuple(requests), tuple(receipts)
