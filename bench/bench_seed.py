"""Write the benchmark's seed: ``data/seed.json`` with budgets that do not run out during a run.

The receipt benchmark (``receipts_shortlisted.lua``) bills ``cmp_hubflow`` once per request; with the
shipped seed's budget (12,000 USD at 120 a settlement) its budget closes after 100 receipts and the
rest of the run measures the cheap path (``budget_exhausted``: no settlement, no retry job). Here every
campaign's budget is 10^12, so every billable receipt of a run creates its settlement and retry job.

usage: python bench/bench_seed.py OUT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BUDGET = 1e12


def main(out: str) -> None:
    seed = json.loads((Path(__file__).resolve().parent.parent / "data" / "seed.json").read_text())
    for campaign in seed["campaigns"]:
        campaign["budget"] = BUDGET
    Path(out).write_text(json.dumps(seed, indent=1), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    main(sys.argv[1])
