"""A replay log simulated from known funnels: what ``workbench calibrate`` must give back.

Requests of a few categories, each with 1..``max_slots`` sponsored slots of which most are filled by
distinct (offer, partner) pairs in rank order; each slot's furthest stage is drawn with the batch
engine's own funnel (``simulate.draw_stages``, the category's ``FunnelSpec``), and the slot reports its
receipts in rank order: every event up to its stage (as ``workbench replay`` sends them), or only the
furthest one. Seeded: the same spec gives the same bytes. The shipped sample
(``scenarios/recorded/funnel-sample.jsonl``) is ``SAMPLE`` written by::

    .venv/bin/python -m workbench.engine.funnel_log scenarios/recorded/funnel-sample.jsonl
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import numpy as np

from workbench.engine.scenario import FunnelSpec
from workbench.engine.simulate import EVENT_OF_STAGE, draw_stages

OFFERS = tuple(
    (f"offer_{name}", f"cmp_{name}") for name in ("hubflow", "signalstack", "pipedeck", "leadloop")
)
PARTNERS = ("partner_procure_pilot", "partner_stackscout")
START = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class LogSpec:
    funnels: dict[str, FunnelSpec]  # category -> its funnel
    weights: dict[str, float]  # category -> share of the requests
    requests: int
    max_slots: int = 3
    fill: float = 0.85  # each sponsored slot is filled with this probability
    seed: int = 0
    every_event: bool = True  # every event up to the slot's stage; else only the furthest
    payload_position: bool = False  # receipts carry payload.position
    seconds_apart: float = 20.0  # between two requests
    header: tuple[str, ...] = field(default=())  # comment lines on top


def simulated_log(spec: LogSpec) -> bytes:
    """The log's bytes (JSON Lines: each request, then its slots' receipts)."""
    rng = np.random.default_rng(spec.seed)
    names = list(spec.weights)
    share = np.array([spec.weights[n] for n in names], dtype=np.float64)
    category = rng.choice(len(names), size=spec.requests, p=share / share.sum())
    sponsored = rng.integers(1, spec.max_slots + 1, size=spec.requests)
    filled = rng.binomial(sponsored, spec.fill)
    stages = np.zeros((spec.requests, spec.max_slots), dtype=np.int8)
    for c, name in enumerate(names):
        mine = np.flatnonzero(category == c)
        stages[mine] = draw_stages(spec.funnels[name], rng, len(mine), spec.max_slots)
    pairs = [(offer, campaign, partner) for offer, campaign in OFFERS for partner in PARTNERS]
    encode = msgspec.json.Encoder().encode
    lines = [f"# {line}".encode() for line in spec.header]
    for i in range(spec.requests):
        intent = f"cal-{i + 1:06d}"
        at = START + timedelta(seconds=i * spec.seconds_apart)
        lines.append(
            encode(
                {
                    "intentId": intent,
                    "category": names[category[i]],
                    "taskType": "compare_and_shortlist",
                    "sponsoredSlots": int(sponsored[i]),
                }
            )
        )
        chosen = rng.choice(len(pairs), size=int(filled[i]), replace=False)
        for position, pair in enumerate(chosen, start=1):
            offer, campaign, partner = pairs[pair]
            stage = int(stages[i, position - 1])
            for s in range(stage + 1) if spec.every_event else (stage,):
                receipt = {
                    "receiptId": f"{intent}-{position}-{s}",
                    "dataProvenance": "demo_bootstrap",
                    "intentId": intent,
                    "offerId": offer,
                    "campaignId": campaign,
                    "partnerId": partner,
                    "eventType": EVENT_OF_STAGE[s],
                    "occurredAt": (at + timedelta(seconds=position + s)).isoformat().replace("+00:00", "Z"),
                    "signature": "sig-simulated",
                }
                if spec.payload_position:
                    receipt["payload"] = {"position": position}
                lines.append(encode(receipt))
    return b"\n".join(lines) + b"\n"


SAMPLE = LogSpec(
    funnels={
        "crm_software": FunnelSpec(
            presented=0.82, position_decay=0.75, viewed=0.5, interacted=0.3, converted=0.25
        ),
        "project_management": FunnelSpec(
            presented=0.7, position_decay=0.8, viewed=0.4, interacted=0.35, converted=0.15
        ),
        "hr_software": FunnelSpec(
            presented=0.82, position_decay=0.75, viewed=0.5, interacted=0.3, converted=0.25
        ),
    },
    weights={"crm_software": 0.6, "project_management": 0.35, "hr_software": 0.05},
    requests=800,
    seed=20260311,
    header=(
        "A buyer-agent log simulated from known funnels (workbench/engine/funnel_log.py, SAMPLE): one",
        "OpportunityRequest per line, each followed by the receipts of its slots in rank order.",
        "crm_software: presented 0.82, decay 0.75, viewed 0.5, interacted 0.3, converted 0.25;",
        "project_management: presented 0.7, decay 0.8, viewed 0.4, interacted 0.35, converted 0.15;",
        "hr_software (a few requests) as crm_software. Regenerate: python -m workbench.engine.funnel_log PATH",
    ),
)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m workbench.engine.funnel_log PATH", file=sys.stderr)
        return 2
    Path(argv[0]).write_bytes(simulated_log(SAMPLE))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
