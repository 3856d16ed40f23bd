"""``workbench pricing``: the scenario under every pricing rule side by side (``engine.pricing_report``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.table import Table

from workbench.cli_common import UsageError, formats_arg, out_console
from workbench.cli_tables import whole
from workbench.engine.scenario import load_scenario


def add_pricing_parser(sub) -> None:
    pr = sub.add_parser("pricing", add_help=False)
    pr.add_argument("scenario")
    pr.add_argument("--reserve", type=str)
    pr.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    pr.add_argument("--out", type=Path)
    pr.add_argument("--format", default="csv,parquet,md")


def _reserve(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--reserve: expected a non-negative amount, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise UsageError(f"--reserve: expected a non-negative amount, got {text!r}")
    return value


def cmd_pricing(args: argparse.Namespace) -> int:
    from workbench.engine.exports import parse_formats
    from workbench.engine.pricing_report import compare_pricing, write_pricing
    from workbench.engine.units import fmt_value

    reserve = _reserve(args.reserve)
    formats = formats_arg(args.format, parse_formats)
    started = time.perf_counter()
    scenario = load_scenario(args.scenario, args.sets)
    comparison = compare_pricing(scenario, reserve)
    cur = comparison.currency
    table = Table(
        title=f"{scenario.name}: pricing rules (reserve {fmt_value('reserve', comparison.reserve, cur)})",
        header_style="bold",
    )
    columns = ("revenue", "settlements", "shortlisted", "fill_rate", "payout_minus_price", "price_to_payout")
    table.add_column("rule")
    for col in columns:
        table.add_column(col, justify="right")
    for row in comparison.rules.iter_rows(named=True):
        table.add_row(row["rule"], *(fmt_value(c, row[c], cur) for c in columns))
    out_console.print(whole(table))
    moved = comparison.campaigns.filter(comparison.campaigns["slots_delta"] != 0)
    if moved.height:
        shifts = Table(title="slot changes against fixed", header_style="bold")
        for col in ("rule", "campaign", "slots", "Δ slots", "spend", "payout − price"):
            shifts.add_column(col, justify="left" if col in ("rule", "campaign") else "right")
        for row in moved.iter_rows(named=True):
            shifts.add_row(
                row["rule"],
                row["campaign_id"],
                f"{row['slots']:,}",
                f"{row['slots_delta']:+,}",
                fmt_value("spend", row["spend"], cur),
                fmt_value("payout_minus_price", row["payout_minus_price"], cur),
            )
        out_console.print(whole(shifts))
    else:
        out_console.print("no campaign's slots change between the rules")
    if args.out:
        written = write_pricing(comparison, args.out, formats)
        out_console.print(f"wrote {len(written)} files to {args.out}")
    out_console.print(f"done in {time.perf_counter() - started:.2f} s")
    return 0
