"""The analysis commands: ``compare`` (a variant against the scenario), ``explain`` (why a candidate lost a request), ``sweep`` (every combination of a
few settings) and ``optimise`` (Optuna over weights and floors under constraints).

``cmd_compare`` is long on purpose: it prints the comparison's tables in the order they read.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.table import Table

from workbench.cli_common import (
    DEFAULT_FORMATS,
    UsageError,
    err_console,
    formats_arg,
    is_big,
    out_console,
    print_wide,
    progress_bar,
    run_one,
    writing_spinner,
)
from workbench.cli_tables import whole
from workbench.engine.scenario import load_scenario


def add_analysis_parsers(sub) -> None:
    """The three commands' arguments (``sub``: the main parser's subparsers)."""
    sw = sub.add_parser("sweep", add_help=False)
    sw.add_argument("scenario")
    sw.add_argument("--grid", dest="grids", action="append", default=[], metavar="KEY=RANGE")
    sw.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    sw.add_argument("--normalise", "--normalize", action="store_true")
    sw.add_argument("--jobs", type=int)
    sw.add_argument("--out", type=Path)
    sw.add_argument("--format", default="csv,parquet,md")
    sw.add_argument("--no-progress", action="store_true")
    sw.add_argument("--by", dest="by", action="append", default=[], metavar="SEGMENT")
    op = sub.add_parser("optimise", aliases=["optimize"], add_help=False)
    op.add_argument("scenario")
    op.add_argument("--objective", required=True)
    op.add_argument("--constraint", dest="constraints", action="append", default=[], metavar="KPI>=X")
    op.add_argument("--trials", type=int, default=100)
    op.add_argument("--seed", type=int, default=0)
    op.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    op.add_argument("--out", type=Path)
    op.add_argument("--trials-out", type=Path)
    op.add_argument("--no-progress", action="store_true")
    ex = sub.add_parser("explain", add_help=False)
    ex.add_argument("scenario")
    ex.add_argument("--intent", required=True)
    ex.add_argument("--campaign")
    ex.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")


def cmd_explain(args: argparse.Namespace) -> int:
    from workbench.cli_tables import candidates_table
    from workbench.engine.explain import explain, explain_lines

    result = run_one(args.scenario, args.sets, True, Path(args.scenario).stem)
    ex = explain(result, args.intent, args.campaign)
    lines = explain_lines(result, ex, args.campaign)
    out_console.print(lines[0], markup=False)
    shown = (
        ex.candidates
        if args.campaign is None
        else ex.candidates.filter(
            ex.candidates["shortlisted"] | (ex.candidates["campaign_id"] == args.campaign)
        )
    )
    title = (
        "candidates (enumeration order; * shortlisted)"
        if args.campaign is None
        else f"the shortlist and {args.campaign}'s candidates (* shortlisted)"
    )
    print_wide(whole(candidates_table(shown, title)))
    for line in lines[1:]:
        out_console.print(line, markup=False)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from workbench.cli_tables import sweep_table
    from workbench.engine.exports import parse_formats
    from workbench.engine.sweep import (
        default_jobs,
        parse_axis,
        prepare,
        run_sweep_segments,
        sweep_summary,
        write_sweep,
    )

    if not args.grids:
        raise UsageError("sweep needs at least one --grid KEY=START:STOP:STEP or KEY=V1,V2")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    formats = formats_arg(args.format, parse_formats)
    by = by_arg(args.by)
    if by and not args.out:
        raise UsageError("--by writes the sweep_segments table: give --out DIR")
    if by and not any(f in formats for f in ("csv", "parquet", "json")):
        raise UsageError("--by: the sweep_segments table needs csv, parquet or json in --format")
    scenario = load_scenario(args.scenario, args.sets)
    axes = [parse_axis(text) for text in args.grids]
    started = time.perf_counter()
    sets_list = prepare(args.scenario, args.sets, axes, args.normalise)
    n = len(sets_list)
    jobs = default_jobs(n) if args.jobs is None else args.jobs
    with progress_bar(not args.no_progress, f"sweeping {n} variants") as update:
        frame, segments = run_sweep_segments(
            args.scenario, args.sets, axes, by, args.normalise, jobs, update, sets_list
        )
    seconds = time.perf_counter() - started
    print_wide(
        whole(
            sweep_table(frame, axes, f"{scenario.name}: {n} variants, {frame['requests'][0]:,} requests each")
        )
    )
    if args.out:
        summary = sweep_summary(scenario.name, frame, axes, seconds, jobs)
        if segments is not None:
            summary += (
                f"\nThe KPIs of every variant per {', '.join(by)}: `sweep_segments` "
                f"({segments.height:,} rows: one per variant, breakdown and segment).\n"
            )
            out_console.print(
                f"sweep_segments: {segments.height:,} rows (variant × segment, by {', '.join(by)})"
            )
        written = write_sweep(frame, args.out, formats, summary, segments)
        out_console.print(f"wrote {len(written)} files to {args.out}")
    out_console.print(f"done in {seconds:.2f} s ({jobs} job{'s' if jobs > 1 else ''})")
    return 0


def cmd_optimise(args: argparse.Namespace) -> int:
    from workbench.cli_tables import optimisation_tables
    from workbench.engine.optimise import optimise, parse_objective, save_winner, winner_path

    if args.trials < 1:
        raise UsageError("--trials must be at least 1")
    if args.trials_out is not None and args.trials_out.suffix not in (".csv", ".parquet"):
        raise UsageError(f"--trials-out {args.trials_out}: give a .csv or .parquet file")
    parse_objective(args.objective)  # a bad name is refused before anything runs
    scenario = load_scenario(args.scenario, args.sets)
    winner_path(scenario, args.out)  # a bad --out is refused before the search
    started = time.perf_counter()
    with progress_bar(not args.no_progress, f"optimising over {args.trials} trials") as update:
        result = optimise(scenario, args.objective, args.constraints, args.trials, args.seed, update)
    seconds = time.perf_counter() - started
    for table in optimisation_tables(result, scenario.name):
        print_wide(whole(table))
    if args.trials_out is not None:
        if args.trials_out.suffix == ".csv":
            result.trials.write_csv(args.trials_out, float_precision=9)
        else:
            result.trials.write_parquet(args.trials_out)
        out_console.print(f"wrote the trials to {args.trials_out}")
    feasible = int(result.trials["feasible"].sum())
    if result.best_cfg is None:
        err_console.print(
            f"workbench optimise: none of the {args.trials} trials met every constraint "
            f"({', '.join(c.text for c in result.constraints)}); nothing saved",
            markup=False,
        )
        return 1
    constraints = "".join(f" --constraint '{c.text}'" for c in result.constraints)
    origin = f"`workbench optimise --objective {args.objective}{constraints} --trials {args.trials} --seed {args.seed}`"
    path = save_winner(scenario, result.best_cfg, args.out, origin)
    out_console.print(f"{feasible} of {args.trials} trials feasible; saved the best as {path}")
    out_console.print(f"done in {seconds:.2f} s (seed {args.seed})")
    return 0


def by_arg(values: list[str]) -> tuple[str, ...]:
    from workbench.engine.segments import parse_by

    try:
        return parse_by(values)
    except ValueError as err:
        raise UsageError(str(err)) from None


def num_or_dash(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def cmd_compare(args: argparse.Namespace) -> int:
    from workbench.engine.compare import compare_runs, write_comparison
    from workbench.engine.exports import parse_formats
    from workbench.engine.units import fmt_value

    if not args.sets:
        raise UsageError("compare needs at least one --set key=value (the variant)")
    formats = formats_arg(args.format or DEFAULT_FORMATS, parse_formats)
    by = by_arg(args.by)
    started = time.perf_counter()
    base = run_one(args.scenario, [], not args.no_progress, "baseline")
    variant = run_one(args.scenario, args.sets, not args.no_progress, "variant")
    comparison = compare_runs(base, variant, by)
    table = Table(title=f"{base.scenario.name}: baseline vs --set {' '.join(args.sets)}", header_style="bold")
    for col in ("metric", "baseline", "variant", "delta"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    currency = comparison.currency
    for row in comparison.kpis.iter_rows(named=True):
        metric, delta = row["metric"], row["delta"]
        style = "green" if delta > 0 else "red" if delta < 0 else ""
        shown = fmt_value(metric, delta, currency, signed=True)
        table.add_row(
            metric,
            fmt_value(metric, row["baseline"], currency),
            fmt_value(metric, row["variant"], currency),
            f"[{style}]{shown}[/]" if style else shown,
        )
    out_console.print(whole(table))
    moved = comparison.slot_share.filter(comparison.slot_share["slots_delta"] != 0)
    shifts = Table(title="campaigns that gained or lost slots", header_style="bold")
    for col in ("campaign", "baseline", "variant", "delta", "share Δ"):
        shifts.add_column(col, justify="left" if col == "campaign" else "right")
    for row in moved.iter_rows(named=True):
        shifts.add_row(
            row["campaign_id"],
            f"{row['slots_baseline']:,}",
            f"{row['slots_variant']:,}",
            f"{row['slots_delta']:+,}",
            f"{row['share_delta']:+.4f}",
        )
    if moved.height:
        out_console.print(whole(shifts))
    else:
        out_console.print("no campaign gained or lost slots")
    moved_rank = comparison.rank_shifts.filter(
        (comparison.rank_shifts["moved_up"] + comparison.rank_shifts["moved_down"]) > 0
    )
    if moved_rank.height:
        ranks = Table(
            title="rank shifts (slots that kept their campaign and partner but changed position)",
            header_style="bold",
        )
        for col in ("campaign", "mean position before", "after", "moved up", "moved down"):
            ranks.add_column(col, justify="left" if col == "campaign" else "right")
        for row in moved_rank.iter_rows(named=True):
            ranks.add_row(
                row["campaign_id"],
                num_or_dash(row["mean_position_baseline"]),
                num_or_dash(row["mean_position_variant"]),
                str(row["moved_up"]),
                str(row["moved_down"]),
            )
        out_console.print(whole(ranks))
    out_console.print(
        f"requests whose shortlist changed: {comparison.changed_requests:,} of {base.traffic.size:,}"
    )
    if by:
        from workbench.cli_tables import segment_table

        for name, frame in comparison.segments.items():
            print_wide(whole(segment_table(name, frame, comparison.currency)))
        out_console.print(comparison.moved_line(), markup=False)
    if args.out:
        with writing_spinner(not args.no_progress and is_big(base)):
            written = write_comparison(base, variant, comparison, args.out, formats)
        out_console.print(f"wrote {len(written)} files to {args.out}")
    out_console.print(f"done in {time.perf_counter() - started:.2f} s")
    return 0
