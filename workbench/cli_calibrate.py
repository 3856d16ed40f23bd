"""``workbench calibrate LOG.jsonl [--scenario S] [--out FILE] [--report DIR]``: the funnel fitted on a
recorded log (``workbench.engine.calibrate``), printed with its 95 % intervals and the log's coverage, and
written into a scenario's ``[funnel]`` (or printed as a ``[funnel]`` snippet)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from workbench.cli_common import UsageError, out_console, print_wide
from workbench.cli_tables import whole


def add_calibrate_parser(sub) -> None:
    """The command's arguments (``sub``: the main parser's subparsers)."""
    ca = sub.add_parser("calibrate", add_help=False)
    ca.add_argument("log", type=Path)
    ca.add_argument("--scenario", type=Path)
    ca.add_argument("--out", type=Path)
    ca.add_argument("--report", type=Path)


def _fit_table(fit, title: str) -> Table:
    from workbench.engine.calibrate import FUNNEL_KEYS
    from workbench.engine.calibrate_report import interval_text, value_text

    table = Table(title=title, header_style="bold")
    for col in ("parameter", "estimate", "95 % interval", "from"):
        table.add_column(col, justify="right" if col in ("estimate", "95 % interval") else "left")
    for key in FUNNEL_KEYS:
        e = fit.estimates[key]
        table.add_row(key, value_text(e.value), interval_text(e.low, e.high), e.basis)
    return whole(table)


def _position_table(fit) -> Table:
    table = Table(title="presented by position: observed and fitted (all categories)", header_style="bold")
    for col in ("position", "slots", "presented", "observed", "fitted"):
        table.add_column(col, justify="right")
    for row in fit.by_position.iter_rows(named=True):
        table.add_row(
            str(row["position"]),
            f"{row['slots']:,}",
            f"{row['presented']:,}",
            f"{row['observed']:.4f}",
            f"{row['fitted']:.4f}",
        )
    return whole(table)


def _category_table(cal) -> Table:
    from workbench.engine.calibrate import FUNNEL_KEYS
    from workbench.engine.calibrate_report import interval_text, value_text

    table = Table(
        title="per category (estimate and 95 % interval; reported, not written)", header_style="bold"
    )
    table.add_column("category")
    table.add_column("slots", justify="right")
    for key in FUNNEL_KEYS:
        table.add_column(key, justify="right")
    for fit in cal.categories:
        cells = [
            f"{value_text(e.value)} ({interval_text(e.low, e.high)})"
            if (e := fit.estimates[key]).value is not None
            else "–"
            for key in FUNNEL_KEYS
        ]
        table.add_row(fit.scope, f"{fit.slots:,}", *cells)
    return whole(table)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from workbench.engine.calibrate import FUNNEL_KEYS, calibrate_log
    from workbench.engine.calibrate_report import (
        calibrated_path,
        coverage_lines,
        funnel_snippet,
        save_calibrated_scenario,
        write_report,
    )
    from workbench.engine.scenario import load_scenario

    if args.out is not None and args.scenario is None:
        raise UsageError("--out names the calibrated scenario: give --scenario SCENARIO too")
    if args.scenario is not None:
        load_scenario(args.scenario)  # a bad scenario or --out is refused before the log is read
        calibrated_path(args.scenario, args.out)
    cal = calibrate_log(args.log)
    out_console.print(f"calibrated the funnel on {cal.coverage.log}", markup=False)
    for line in coverage_lines(cal):
        out_console.print(f"  {line}", markup=False)
    out_console.print(_fit_table(cal.pooled, "funnel, all categories (maximum likelihood, 95 % intervals)"))
    out_console.print(_position_table(cal.pooled))
    if cal.categories:
        print_wide(_category_table(cal))
    if args.report is not None:
        written = write_report(cal, args.report)
        out_console.print(f"wrote {len(written)} files to {args.report}", markup=False)
    if args.scenario is None:
        out_console.print(
            "the pooled estimates as a scenario's [funnel] (--scenario S writes them into S):", markup=False
        )
        out_console.print(funnel_snippet(cal.pooled), markup=False, end="")
        return 0
    path = save_calibrated_scenario(args.scenario, cal, args.out)
    kept = [k for k in FUNNEL_KEYS if cal.pooled.estimates[k].value is None]
    note = f"; kept the scenario's {', '.join(kept)} (not estimated)" if kept else ""
    out_console.print(
        f"wrote {args.scenario.name} with the calibrated [funnel] as {path}{note}", markup=False
    )
    return 0
