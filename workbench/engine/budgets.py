"""The batch's budget arithmetic, on numpy arrays with the server's own budget gate
(``server.domain.gates.budget_gate``): when a campaign's budget closes, how many settlements fit, and
which slots of a request create a settlement (the server keeps one per intent, offer and event)."""

from __future__ import annotations

import numpy as np

from server.domain.gates import budget_gate


def first_bill_per_campaign(reaches: np.ndarray, cidx: np.ndarray) -> np.ndarray:
    """(requests × positions): the slots that create a settlement, of those whose receipt ``reaches`` the
    billable event. A request's later slots of the same campaign (another partner, the same offer) share the
    first one's settlement: the server keeps one per (intent, offer, event)."""
    out = reaches.copy()
    for k in range(1, reaches.shape[1]):
        for j in range(k):
            out[:, k] &= ~(reaches[:, j] & (cidx[:, j] == cidx[:, k]))
    return out


def budget_closed_one(
    spend0: float | np.ndarray, payout: float | np.ndarray, budget: float | np.ndarray, count: np.ndarray
) -> np.ndarray:
    return ~budget_gate(spend0 + count * payout, payout, budget)


def budget_room(spend0: np.ndarray, payout: np.ndarray, budget: np.ndarray) -> np.ndarray:
    """Per campaign: how many settlements of ``payout`` fit the budget (the server's ``committed + payout <=
    budget`` each time, in the same float arithmetic as the budget gate); a free campaign has no limit.
    """
    spend0, payout, budget = (np.asarray(a, dtype=np.float64) for a in (spend0, payout, budget))
    free = payout <= 0
    safe = np.where(free, 1.0, payout)
    room = np.maximum(np.floor((budget - spend0) / safe), 0).astype(np.int64)
    for _ in range(2):  # the division can be one off either way; settle it with the gate's own test
        room = np.where(
            ~free & (room > 0) & budget_closed_one(spend0, safe, budget, room - 1), room - 1, room
        )
        room = np.where(~free & ~budget_closed_one(spend0, safe, budget, room), room + 1, room)
    return np.where(free, np.iinfo(np.int64).max, room)
