"""The ranking's hard gates (spec §5), defined once for both execution paths.

A candidate is eligible only when every gate passes. Each gate is written here over
plain values and the operators ``>=``, ``<=``, ``+``, ``-`` and ``Ops.where``, so the
per-request path (``ranking.score_candidate``, floats with ``PY``), the polars batch
(``workbench.engine.batch``, expressions with its ``POLARS`` ops) and the batch's
budget and credit bookkeeping (numpy arrays) all execute the same definitions:

- the *static* gates depend on the request and the (campaign, partner) pair alone;
- the *dynamic* gates, ``budget`` and ``credits``, on what has been spent so far.
"""

from __future__ import annotations

from typing import Any

from .ops import Ops

# Gate names, in the order the spec lists them (also the order in ``failedGates``).
GATES: tuple[str, ...] = (
    "policy",
    "disclosure",
    "relevance",
    "utility",
    "trust",
    "governed_trust",
    "budget",
    "credits",
)
DYNAMIC_GATES: tuple[str, ...] = ("budget", "credits")
STATIC_GATES: tuple[str, ...] = tuple(g for g in GATES if g not in DYNAMIC_GATES)


def disclosure_gate(ops: Ops[Any], required: Any, ready: Any) -> Any:
    """A request that requires disclosure needs the pair to be ready for it (``ranking.disclosure_ready``:
    the campaign has disclosure text and the partner shows it); one that does not passes."""
    return ops.where(required, ready, True)


def floor_gate(score: Any, floor: Any) -> Any:
    """Relevance and utility: the score reaches the request's floor (or the config's default floor)."""
    return score >= floor


def trust_gate(trust: Any, min_trust: Any) -> Any:
    """Trust and governed trust: at least the campaign's minimum."""
    return trust >= min_trust


def budget_gate(committed_spend: Any, payout: Any, budget: Any) -> Any:
    """Room for one more settlement of ``payout``: committed spend plus the payout stays within the budget."""
    return committed_spend + payout <= budget


def credits_gate(credits_left: Any) -> Any:
    """The campaign's workspace has credits left (more than zero)."""
    return credits_left > 0


def static_gates(
    ops: Ops[Any],
    *,
    policy: Any,
    disclosure_required: Any,
    disclosure_ready: Any,
    relevance: Any,
    relevance_floor: Any,
    utility: Any,
    utility_floor: Any,
    trust: Any,
    governed_trust: Any,
    min_trust: Any,
) -> dict[str, Any]:
    """The static gates by name (``STATIC_GATES`` order): a bool each, or a boolean expression each."""
    return {
        "policy": policy,
        "disclosure": disclosure_gate(ops, disclosure_required, disclosure_ready),
        "relevance": floor_gate(relevance, relevance_floor),
        "utility": floor_gate(utility, utility_floor),
        "trust": trust_gate(trust, min_trust),
        "governed_trust": trust_gate(governed_trust, min_trust),
    }
