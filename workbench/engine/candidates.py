"""Per-candidate frames of a batch run: the gates each candidate failed (as the server lists them in
``failedGates``) and the long request × candidate frame the ranking report and exports read."""

from __future__ import annotations

import polars as pl

from server.domain.gates import GATES
from workbench.engine.batch import FACTOR_COLUMNS, BatchResult

C = pl.col
# What a candidate table shows of each candidate (the ranking's outcome after its factors).
OUTCOME_COLUMNS = ("bid_norm", "priority_score", "failed_gates", "eligible", "rank", "shortlisted")
CANDIDATE_COLUMNS = ("cand_order", "campaign_id", "partner_id", "payout", *FACTOR_COLUMNS, *OUTCOME_COLUMNS)


def failed_gates_expr() -> pl.Expr:
    """The gates a candidate failed, as a list in the server's order (``GATES``); simple but slow on big frames."""
    return pl.concat_list([pl.when(~C(f"gate_{g}")).then(pl.lit(g)) for g in GATES]).list.drop_nulls()


def gate_mask_expr() -> pl.Expr:
    """Bit i set when gate ``GATES[i]`` failed."""
    return pl.sum_horizontal([(~C(f"gate_{g}")).cast(pl.UInt16) * (1 << i) for i, g in enumerate(GATES)])


_GATE_LISTS = pl.DataFrame(
    {
        "gate_mask": list(range(1 << len(GATES))),
        "failed_gates": [[g for i, g in enumerate(GATES) if m >> i & 1] for m in range(1 << len(GATES))],
    },
    schema={"gate_mask": pl.UInt16, "failed_gates": pl.List(pl.String)},
)


def with_failed_gates(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Add ``failed_gates`` (list, ``GATES`` order) through a bit mask and a 256-row lookup (fast)."""
    return (
        frame.with_columns(gate_mask=gate_mask_expr().cast(pl.UInt16))
        .join(_GATE_LISTS.lazy(), on="gate_mask", how="left", maintain_order="left")
        .drop("gate_mask")
    )


def long_frame(batch: BatchResult, requests: pl.DataFrame) -> pl.LazyFrame:
    """Request × candidate: every factor and score, the gates failed, the rank and whether shortlisted.

    Built lazily from the group frames: collecting it for a million requests is a
    (requests × candidates)-row frame, so reports only collect it for small runs.
    """
    per_request = requests.lazy().with_columns(group=pl.Series(batch.group_of_request))
    cand = batch.groups.lazy().join(batch.static.lazy().drop("sig"), on="row")
    return with_failed_gates(per_request.join(cand, on="group")).sort("idx", "cand_order")
