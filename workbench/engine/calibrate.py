"""Calibrating the funnel on a recorded log: ``workbench calibrate LOG.jsonl``.

The log is a replay log (``replay_log``: OpportunityRequests and EventReceipts, one JSON object a line).
It is read as *slots*:

- a slot is one (intentId, offerId, partnerId) of a request in the log, known from its receipts. Every
  shortlisted slot is expected to send at least one receipt (``offer.shortlisted`` at least, as the
  server's buyer agents and ``workbench replay`` do); a slot that sent none is invisible, so a log that
  drops the shortlisted receipts overstates ``presented``;
- its stage is the furthest funnel event it reported (shortlisted, presented, viewed, interacted,
  converted; aliases such as ``shown`` are the server's); the stages before it are implied, so a log that
  sends only the furthest event per slot reads the same as one that sends every event;
- its position (1-based rank in the shortlist) is ``payload.position`` of its receipts when they carry
  one, else its order among the request's slots, by the first receipt of each in the log: the server
  answers the shortlist in rank order and an agent reports each slot's receipts in that order (so does
  ``workbench replay``);
- receipts for an intent that is not in the log, or for a slot past its request's ``sponsoredSlots``,
  refer to no known slot: they are counted and ignored, as are repeated receipt ids and event types
  outside the funnel (``delivery.*``, ``offer.ingested``, ``offer.eligible``).

The fit (``funnel_fit``) is by maximum likelihood: presented and position_decay jointly from the slots
and presented slots per position, each later stage as a proportion of the one before. Pooled over the
log, and per category for the categories with at least ``CATEGORY_MIN_SLOTS`` slots and
``CATEGORY_MIN_PRESENTED`` presented slots. A scenario has one ``[funnel]``: the pooled fit is what is
written; the per-category fits are reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from server.domain.models import EventReceipt
from server.domain.receipts import canonical_event_type
from workbench.engine.errors import ScenarioError, display_path
from workbench.engine.funnel_fit import Estimate, position_model, wilson
from workbench.engine.replay_log import ReplayRequest, load_replay

# The funnel events by stage (``simulate.EVENT_OF_STAGE``), canonical names.
STAGE_OF_EVENT = {
    "offer.shortlisted": 0,
    "offer.presented": 1,
    "owner.viewed": 2,
    "owner.interacted": 3,
    "conversion.attributed": 4,
}
# The ``[funnel]`` keys, in the file's order.
FUNNEL_KEYS = ("presented", "viewed", "interacted", "converted", "position_decay")
MIN_SLOTS = 100
CATEGORY_MIN_SLOTS = 200
CATEGORY_MIN_PRESENTED = 30


@dataclass(frozen=True)
class Coverage:
    """What the log holds and how much of it the fit could use."""

    log: str
    requests: int  # OpportunityRequest lines
    intents: int  # distinct intent ids among them
    slots: int
    receipts: int  # EventReceipt lines
    matched: int  # receipts of a slot
    no_slot: int  # receipts of an intent not in the log, or past the request's sponsoredSlots
    other_events: int  # receipts of an event type outside the funnel
    duplicates: int  # receipts whose receiptId came before
    implied: int  # slots with an earlier stage known only from a later receipt
    from_payload: int  # slots whose position came from payload.position
    positions: tuple[int, ...]  # the positions with slots
    categories: dict[str, int]  # slots per category, most first
    first_at: datetime | None  # the receipts' occurredAt range
    last_at: datetime | None


@dataclass(frozen=True)
class FunnelFit:
    """The funnel fitted on some slots (``scope``: ``all`` or a category)."""

    scope: str
    slots: int
    presented_slots: int
    estimates: dict[str, Estimate]  # FUNNEL_KEYS
    by_position: pl.DataFrame  # position, slots, presented, observed, fitted

    def values(self) -> dict[str, float]:
        """The estimated ``[funnel]`` keys and values (a key without an estimate is left out)."""
        return {k: e.value for k in FUNNEL_KEYS if (e := self.estimates[k]).value is not None}


@dataclass(frozen=True)
class Calibration:
    coverage: Coverage
    pooled: FunnelFit
    categories: tuple[FunnelFit, ...]  # the categories with enough data for a fit of their own
    thin: dict[str, int]  # the other categories (slots), pooled only


@dataclass(frozen=True)
class LogSlots:
    category: list[str]
    position: np.ndarray  # int64, 1-based
    stage: np.ndarray  # int64, 0 shortlisted … 4 converted


def _payload_position(where: str, receipt: EventReceipt) -> int | None:
    value = receipt.payload.get("position")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ScenarioError(
            f"{where}: receipt {receipt.receipt_id}: at payload.position: expected a whole number ≥ 1 "
            f"(the slot's rank in the shortlist), got {value!r}"
        )
    return value


def read_slots(
    where: str, requests: Sequence[ReplayRequest], receipts: Sequence[EventReceipt]
) -> tuple[LogSlots, Coverage]:
    """The slots of a log (see the module's docstring) and its coverage."""
    intents: dict[str, ReplayRequest] = {}
    for request in requests:
        intents.setdefault(request.intent_id, request)
    seen: set[str] = set()
    index: dict[tuple[str, str, str], int] = {}
    count: dict[str, int] = {}  # slots so far per intent
    taken: dict[tuple[str, int], tuple[str, str]] = {}  # (intent, position) -> (offer, partner)
    categories: list[str] = []
    positions: list[int] = []
    masks: list[int] = []
    no_slot = other = duplicates = matched = from_payload = 0
    times: list[datetime] = []
    for receipt in receipts:
        if receipt.receipt_id in seen:
            duplicates += 1
            continue
        seen.add(receipt.receipt_id)
        times.append(receipt.occurred_at)
        stage = STAGE_OF_EVENT.get(canonical_event_type(receipt.event_type))
        if stage is None:
            other += 1
            continue
        request = intents.get(receipt.intent_id)
        if request is None:
            no_slot += 1
            continue
        key = (receipt.intent_id, receipt.offer_id, receipt.partner_id)
        explicit = _payload_position(where, receipt)
        i = index.get(key)
        if i is None:
            position = explicit or count.get(receipt.intent_id, 0) + 1
            if position > request.sponsored_slots:
                no_slot += 1
                continue
            other_slot = taken.setdefault((receipt.intent_id, position), key[1:])
            if other_slot != key[1:]:
                raise ScenarioError(
                    f"{where}: intent {receipt.intent_id}: two slots at position {position} "
                    f"({'/'.join(other_slot)} and {'/'.join(key[1:])}); give every slot's "
                    "payload.position, or none (the order of the receipts then tells it)"
                )
            i = index[key] = len(masks)
            count[receipt.intent_id] = count.get(receipt.intent_id, 0) + 1
            categories.append(request.category)
            positions.append(position)
            masks.append(0)
            from_payload += explicit is not None
        elif explicit is not None and explicit != positions[i]:
            raise ScenarioError(
                f"{where}: receipt {receipt.receipt_id}: at payload.position: {explicit}, but the slot "
                f"{'/'.join(key[1:])} of intent {receipt.intent_id} is at position {positions[i]}"
            )
        masks[i] |= 1 << stage
        matched += 1
    mask = np.array(masks, dtype=np.int64)
    stage = np.zeros(len(mask), dtype=np.int64)
    for s in range(1, 5):
        stage[(mask >> s) & 1 == 1] = s
    implied = int((mask != (1 << (stage + 1)) - 1).sum())
    by_category = (
        pl.Series("category", categories, dtype=pl.String)
        .value_counts()
        .sort(["count", "category"], descending=[True, False])
    )
    coverage = Coverage(
        log=where,
        requests=len(requests),
        intents=len(intents),
        slots=len(masks),
        receipts=len(receipts),
        matched=matched,
        no_slot=no_slot,
        other_events=other,
        duplicates=duplicates,
        implied=implied,
        from_payload=from_payload,
        positions=tuple(sorted(set(positions))),
        categories=dict(zip(by_category["category"].to_list(), by_category["count"].to_list(), strict=True)),
        first_at=min(times) if times else None,
        last_at=max(times) if times else None,
    )
    return LogSlots(categories, np.array(positions, dtype=np.int64), stage), coverage


def fit_funnel(scope: str, position: np.ndarray, stage: np.ndarray) -> FunnelFit:
    """Every ``[funnel]`` key fitted on the slots at ``position`` that reached ``stage``; ValueError when
    presented and the decay cannot be told apart (``funnel_fit.position_model``)."""
    size = int(position.max())
    slots = np.bincount(position - 1, minlength=size)
    presented = np.bincount(position[stage >= 1] - 1, minlength=size)
    p, decay = position_model(slots, presented)

    def reached(s: int) -> int:
        return int((stage >= s).sum())

    estimates = {
        "presented": p,
        "viewed": wilson(reached(2), reached(1), "presented slots viewed"),
        "interacted": wilson(reached(3), reached(2), "viewed slots interacted"),
        "converted": wilson(reached(4), reached(3), "interacting slots converted"),
        "position_decay": decay,
    }
    fitted = (p.value or 0.0) * (decay.value if decay.value is not None else 1.0) ** np.arange(size)
    shown = slots > 0
    by_position = pl.DataFrame(
        {
            "position": np.arange(1, size + 1)[shown],
            "slots": slots[shown],
            "presented": presented[shown],
            "observed": presented[shown] / slots[shown],
            "fitted": fitted[shown],
        }
    )
    return FunnelFit(scope, int(slots.sum()), int(presented.sum()), estimates, by_position)


def calibrate(
    requests: Sequence[ReplayRequest], receipts: Sequence[EventReceipt], where: str = "log"
) -> Calibration:
    """The funnel fitted on a log's requests and receipts; ScenarioError (one line) when it cannot be."""
    if not requests:
        raise ScenarioError(
            f"{where}: holds no OpportunityRequest (the opportunities the receipts belong to)"
        )
    if not receipts:
        raise ScenarioError(
            f"{where}: holds no receipts (lines with receiptId): the funnel is fitted on what the slots reported"
        )
    slots, coverage = read_slots(where, requests, receipts)
    if coverage.slots < MIN_SLOTS:
        raise ScenarioError(
            f"{where}: {coverage.slots:,} slots with receipts; at least {MIN_SLOTS} are needed to fit the funnel "
            f"({coverage.matched:,} of {coverage.receipts:,} receipts belong to a slot)"
        )
    if not (slots.stage >= 1).any():
        raise ScenarioError(
            f"{where}: none of the {coverage.slots:,} slots was presented (no presented, viewed, interacted "
            "or converted receipt): the funnel cannot be fitted"
        )
    try:
        pooled = fit_funnel("all", slots.position, slots.stage)
    except ValueError as err:
        raise ScenarioError(f"{where}: {err}") from None
    fits: list[FunnelFit] = []
    thin: dict[str, int] = {}
    if len(coverage.categories) > 1:
        category = np.array(slots.category, dtype=object)
        for name, n in coverage.categories.items():
            mine = category == name
            if n >= CATEGORY_MIN_SLOTS and int((slots.stage[mine] >= 1).sum()) >= CATEGORY_MIN_PRESENTED:
                try:
                    fits.append(fit_funnel(name, slots.position[mine], slots.stage[mine]))
                    continue
                except ValueError:  # its slots at one position other than the first: pooled only
                    pass
            thin[name] = n
    return Calibration(coverage, pooled, tuple(fits), thin)


def calibrate_log(path: Path) -> Calibration:
    """``calibrate`` on a log file; ScenarioError naming the file (and line) when it cannot be read."""
    where = display_path(path)
    if not path.is_file():
        raise ScenarioError(f"{where}: no such log file")
    requests, receipts = load_replay(path)
    return calibrate(requests, receipts, where)
