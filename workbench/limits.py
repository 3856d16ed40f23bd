"""Where a run meets a limit: the priority score's 1.0 cap, and budgets and credit balances running out.

Both change what the KPIs mean without changing how they look, so the engine
computes them for every run and the lab, the reports and the command line show
them (no Textual here).

The cap. ``priority_score`` is clamped to [0, 1]. When the weights sum to more
than 1, strong candidates reach 1.0 before the clamp and then tie; the server's
stable sort orders tied candidates by enumeration (creation) order, so the
shortlist among them says nothing about their scores. ``cap_ties`` counts the
shortlisted slots at the cap and those that tie there with another eligible
candidate of the same request.

Running out. Budgets and balances are spent in arrival order (``engine``); a
gate that closes stays closed, so from that request on the campaign (or every
campaign of the workspace) is out. ``exhaustion`` lists each campaign budget and
workspace balance that ran out, with the first request that found it closed
(its index and arrival time): after the last of them more traffic only lowers
the rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from server.domain.ranking import RankingConfig, normalised_weights, weight_sum, weights_sum_to_one

from .pipeline import RunResult

C = pl.col
PRIORITY_CAP = 1.0


# ---------------------------------------------------------------------------
# The 1.0 cap
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CapTies:
    """Shortlisted slots whose priority score reached the 1.0 cap, and those tied there."""

    weight_sum: float
    slots: int  # shortlisted slots of the run
    at_cap: int  # of which scored exactly 1.0 (clamped)
    tied: int  # of which shared the cap with another eligible candidate of the request

    @property
    def sums_to_one(self) -> bool:
        return abs(self.weight_sum - 1.0) <= 1e-6

    @property
    def tied_share(self) -> float:
        return self.tied / self.slots if self.slots else 0.0


def cap_ties(result: RunResult) -> CapTies:
    groups, slots = result.batch.groups, result.simulation.slots
    n_groups = result.batch.shortlist.shape[0]
    capped = groups.filter(C("eligible") & (C("priority_score") >= PRIORITY_CAP))
    per_group = np.bincount(capped["group"].to_numpy(), minlength=n_groups)
    grow = slots["grow"].to_numpy()
    at_cap = groups["priority_score"].to_numpy()[grow] >= PRIORITY_CAP
    tied = at_cap & (per_group[groups["group"].to_numpy()[grow]] >= 2)
    return CapTies(weight_sum(result.cfg.weights), slots.height, int(at_cap.sum()), int(tied.sum()))


def normalise(cfg: RankingConfig) -> RankingConfig:
    """``cfg`` with its weights scaled to sum to 1 (ValueError when they are all 0)."""
    return cfg if weights_sum_to_one(cfg.weights) else cfg.with_weights(**normalised_weights(cfg.weights))
