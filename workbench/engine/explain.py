"""Why a candidate lost a request: the batch's answer to the API's ``explain: true``.

For one request of a run (by intent id) every candidate (campaign × prefiltered partner) with its
factors, scores, failed gates and rank, as the server ranks it. For a candidate that failed gates,
each gate with the value it had and the threshold it missed. For an eligible candidate that was not
shortlisted, the priority gap to the last shortlisted candidate and, because the priority is linear in
each weighted score (``priority = Σ wᵢ · scoreᵢ``, clamped to [0, 1]), the change of each score alone
that closes the gap: ``gap / wᵢ`` (none when ``wᵢ`` is 0 or the score would have to pass 1). Equal
priorities keep enumeration order, so closing the gap wins only against a later-enumerated candidate;
the change given is the one that ties.

``gate_failures`` is long on purpose: one case per gate, each naming its value and its threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from workbench.engine.batch import FACTOR_COLUMNS
from workbench.engine.candidates import OUTCOME_COLUMNS
from workbench.engine.errors import ScenarioError
from workbench.engine.pipeline import RunResult

C = pl.col
# The weighted scores of the priority, as (weight name, score column).
PRIORITY_TERMS = (
    ("relevance", "relevance"),
    ("utility", "utility"),
    ("trust", "trust"),
    ("affective_fit", "affective_fit"),
    ("bid", "bid_norm"),
)
COLUMNS = ("campaign_id", "partner_id", "cand_order", "payout", *FACTOR_COLUMNS, *OUTCOME_COLUMNS)


class ExplainError(ScenarioError):
    """An intent or campaign the run does not have (a usage error: exit 2)."""


@dataclass(frozen=True)
class GateFailure:
    gate: str
    value: object
    threshold: object
    text: str


@dataclass(frozen=True)
class ScoreChange:
    score: str  # the priority term: relevance, utility, trust, affective_fit, bid_norm
    weight: float
    current: float
    needed: float | None  # the increase that closes the gap alone; None when impossible
    reason: str = ""  # why it is impossible


@dataclass
class CandidateWhy:
    campaign_id: str
    partner_id: str
    row: dict
    failures: list[GateFailure] = field(default_factory=list)
    gap: float | None = None  # priority of the last shortlisted minus this one's (eligible, not shortlisted)
    changes: list[ScoreChange] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if self.row["shortlisted"]:
            return f"shortlisted at position {self.row['rank']}"
        if self.failures:
            return "failed " + ", ".join(f.gate for f in self.failures)
        return f"eligible, ranked {self.row['rank']}, not shortlisted"


@dataclass
class Explanation:
    intent_id: str
    request_no: int  # 1-based arrival position
    request: dict  # category, task type, geo, slots, floors, disclosure
    candidates: pl.DataFrame  # every candidate of the request (enumeration order), COLUMNS
    shortlist: pl.DataFrame  # the shortlisted candidates by rank
    why: list[CandidateWhy]  # for the asked campaign (all its partners), else empty


def request_index(result: RunResult, intent_id: str) -> int:
    hits = np.flatnonzero((result.traffic.requests["intent_id"] == intent_id).to_numpy())
    if not hits.size:
        first = result.traffic.requests["intent_id"][0] if result.traffic.size else "none"
        raise ExplainError(
            f"--intent {intent_id!r}: no request of this run has that intent id (the first is {first!r})"
        )
    return int(hits[0])


def candidate_rows(result: RunResult, idx: int) -> pl.DataFrame:
    """Request ``idx``'s candidates (enumeration order) with the thresholds their gates compare against."""
    m, tr = result.market, result.traffic
    frame = result.long_frame().filter(C("idx") == idx).collect()
    return (
        frame.join(
            tr.signatures.select("sig", "relevance_floor", "utility_floor", "disclosure_required"),
            on="sig",
            how="left",
            maintain_order="left",
        )
        .join(
            m.campaigns.select("ci", "min_trust", "budget", "spend0", "workspace_id"),
            on="ci",
            how="left",
            maintain_order="left",
        )
        .join(
            m.pairs.select("ci", "pi", "policy_ok", "disclosure_ready"),
            on=["ci", "pi"],
            how="left",
            maintain_order="left",
        )
        .sort("cand_order")
    )


def _closed_from(result: RunResult, key: str, index: int) -> int | None:
    """The 1-based request from which campaign (``budget_closed``) or workspace (``credits_closed``) ``index``
    was out, in this run."""
    for epoch in result.batch.epochs:
        if index in epoch[key]:
            return int(epoch["start"]) + 1
    return None


def gate_failures(result: RunResult, row: dict) -> list[GateFailure]:
    """Each gate ``row`` failed, with its value and threshold (``GATES`` order)."""
    out = []
    for gate in row["failed_gates"]:
        if gate == "policy":
            out.append(
                GateFailure(
                    gate,
                    False,
                    True,
                    "the campaign or partner is not active, the campaign failed "
                    "policy review, or the partner lacks delivery/presentation receipts",
                )
            )
        elif gate == "disclosure":
            out.append(
                GateFailure(
                    gate,
                    False,
                    True,
                    "the request requires disclosure and the pair cannot show "
                    "it (no disclosure text, or the partner does not support disclosure)",
                )
            )
        elif gate in ("relevance", "utility"):
            value, floor = row[gate], row[f"{gate}_floor"]
            out.append(
                GateFailure(
                    gate,
                    value,
                    floor,
                    f"{gate} {value:.4f} < floor {floor:.4f} (short by {floor - value:.4f})",
                )
            )
        elif gate in ("trust", "governed_trust"):
            value, floor = row[gate], row["min_trust"]
            out.append(
                GateFailure(
                    gate,
                    value,
                    floor,
                    f"{gate.replace('_', ' ')} {value:.4f} < the campaign's min trust {floor:.4f}",
                )
            )
        elif gate == "budget":
            since = _closed_from(result, "budget_closed", row["ci"])
            out.append(
                GateFailure(
                    gate,
                    row["budget"],
                    row["payout"],
                    f"no room for one more settlement of {row['payout']:g} in the budget "
                    f"{row['budget']:g} (out from request {since} of this run)",
                )
            )
        elif gate == "credits":
            since = _closed_from(result, "credits_closed", row["wi"])
            out.append(
                GateFailure(
                    gate,
                    0.0,
                    0.0,
                    f"workspace {row['workspace_id']} had no credits left (from request {since} of this run)",
                )
            )
    return out


def score_changes(result: RunResult, row: dict, gap: float) -> list[ScoreChange]:
    """For each weighted score, the increase that alone lifts ``row``'s priority by ``gap``."""
    weights = result.cfg.weights
    out = []
    for weight_name, score in PRIORITY_TERMS:
        w, current = float(getattr(weights, weight_name)), float(row[score])
        if w <= 0:
            out.append(ScoreChange(score, w, current, None, "its weight is 0"))
            continue
        needed = gap / w
        if current + needed > 1.0 + 1e-12:
            out.append(ScoreChange(score, w, current, None, f"it would need {current + needed:.4f} > 1"))
        else:
            out.append(ScoreChange(score, w, current, needed))
    return out


def explain(result: RunResult, intent_id: str, campaign_id: str | None = None) -> Explanation:
    """Request ``intent_id``'s candidates, and why ``campaign_id`` (each of its partners) won or lost."""
    idx = request_index(result, intent_id)
    rows = candidate_rows(result, idx)
    sig = result.traffic.signatures.row(int(result.traffic.sig_of_request[idx]), named=True)
    request = {
        "category": sig["r_category"],
        "task_type": sig["task_type"],
        "geo": list(sig["geo"]),
        "sponsored_slots": sig["slots"],
        "relevance_floor": sig["relevance_floor"],
        "utility_floor": sig["utility_floor"],
        "disclosure_required": sig["disclosure_required"],
    }
    shortlist = rows.filter(C("shortlisted")).sort("rank")
    why: list[CandidateWhy] = []
    if campaign_id is not None:
        if campaign_id not in result.market.campaigns["campaign_id"].to_list():
            raise ExplainError(f"--campaign {campaign_id!r}: the scenario has no such campaign")
        last = shortlist.row(shortlist.height - 1, named=True) if shortlist.height else None
        for row in rows.filter(C("campaign_id") == campaign_id).iter_rows(named=True):
            item = CandidateWhy(row["campaign_id"], row["partner_id"], row, gate_failures(result, row))
            if row["eligible"] and not row["shortlisted"] and last is not None:
                item.gap = float(last["priority_score"]) - float(row["priority_score"])
                item.changes = score_changes(result, row, item.gap)
            why.append(item)
    return Explanation(intent_id, idx + 1, request, rows.select(COLUMNS), shortlist.select(COLUMNS), why)


def explain_lines(result: RunResult, ex: Explanation, campaign_id: str | None) -> list[str]:
    """The explanation in words (the ``workbench explain`` answer after its tables)."""
    r = ex.request
    lines = [
        f"request {ex.request_no} ({ex.intent_id}): {r['category']} / {r['task_type']}, geo "
        f"{','.join(r['geo']) or '(any)'}, {r['sponsored_slots']} slots, floors relevance "
        f"{r['relevance_floor']:g} utility {r['utility_floor']:g}, disclosure "
        f"{'required' if r['disclosure_required'] else 'not required'}; "
        f"{ex.candidates.height} candidates, {int(ex.candidates['eligible'].sum())} eligible"
    ]
    if campaign_id is None:
        return lines
    if not ex.why:
        lines.append(
            f"{campaign_id} is not a candidate here: no partner passes the prefilter for "
            f"{r['category']} with it"
        )
        return lines
    last = ex.shortlist.row(ex.shortlist.height - 1, named=True) if ex.shortlist.height else None
    for item in ex.why:
        row = item.row
        lines.append(f"{item.campaign_id} with {item.partner_id}: {item.outcome}")
        for failure in item.failures:
            lines.append(f"  gate {failure.gate}: {failure.text}")
        if row["eligible"] and not row["shortlisted"] and last is not None:
            lines.append(
                f"  priority {row['priority_score']:.6f} vs {last['priority_score']:.6f} of the last "
                f"shortlisted ({last['campaign_id']} with {last['partner_id']}, position {last['rank']}): "
                f"gap {item.gap:.6f}"
            )
            for change in item.changes:
                if change.needed is None:
                    lines.append(f"    {change.score}: cannot close it alone ({change.reason})")
                else:
                    bid = ""
                    if (
                        change.score == "bid_norm" and row["bid_norm"]
                    ):  # bid_norm = bid ÷ the top eligible bid
                        bid = f", a bid {change.needed * row['payout'] / row['bid_norm']:+.2f} higher"
                    lines.append(
                        f"    {change.score} +{change.needed:.6f} (from {change.current:.4f} to "
                        f"{change.current + change.needed:.4f}; weight {change.weight:g}{bid})"
                    )
    return lines
