"""``workbench``: the analyst's command line on the batch engine.

Exit codes: 0 success; 2 usage or validation error (bad arguments, a scenario
or ``--set`` that does not validate); 1 a runtime failure (an export that
cannot be written, an unexpected error). Problems are reported as one line on
stderr, never a traceback (set ``WORKBENCH_DEBUG=1`` to see one).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path
from typing import NoReturn

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from workbench.cli_analysis import add_analysis_parsers, cmd_compare, cmd_explain, cmd_optimise, cmd_sweep
from workbench.cli_calibrate import add_calibrate_parser, cmd_calibrate
from workbench.cli_common import (
    DEFAULT_FORMATS,
    UsageError,
    err_console,
    formats_arg,
    is_big,
    out_console,
    run_one,
    writing_spinner,
)
from workbench.cli_pricing import add_pricing_parser, cmd_pricing
from workbench.cli_tables import exhaustion_table, kpi_table, whole
from workbench.engine.scenario import ScenarioError, load_scenario

USAGE = """\
workbench — the promotion exchange analyst's workbench

usage:
  workbench run SCENARIO [--set key=value ...] [--out DIR] [--format csv,parquet,json,md] [--explain]
  workbench explain SCENARIO --intent ID [--campaign ID] [--set key=value ...]
  workbench compare SCENARIO --set key=value [...] [--by SEGMENT ...] [--out DIR] [--format ...]
  workbench sweep SCENARIO --grid key=START:STOP:STEP|V1,V2 [--grid ...] [--normalise] [--jobs N]
                 [--set key=value ...] [--by SEGMENT ...] [--out DIR] [--format csv,parquet,md]
  workbench optimise SCENARIO --objective NAME [--constraint "KPI>=X" ...] [--trials N] [--seed S]
                 [--set key=value ...] [--out FILE] [--trials-out FILE.csv|.parquet]
  workbench pricing SCENARIO [--reserve AMOUNT] [--set key=value ...] [--out DIR] [--format csv,parquet,md]
  workbench calibrate LOG.jsonl [--scenario SCENARIO] [--out FILE] [--report DIR]
  workbench validate SCENARIO [SCENARIO ...]
  workbench replay SCENARIO [--api URL] [--limit N] [--no-provision]
  workbench live SCENARIO [--limit N] [--json] [--set key=value ...]
  workbench [open] [SCENARIO] [--api URL] [--no-server]   the terminal application

  --set key=value   override a scenario field by its dotted path, e.g. ranking.weights.bid=0.2,
                    ranking.floors.relevance=0.65, traffic.requests=100000, seed=7
  --out DIR         write the reports (ranking report, outcome tables, settlements, summary.md)
  --format LIST     which export formats: csv, parquet, json, md (default: parquet,md)
  --explain         run: also write every candidate of every request (factors, scores, failed gates,
                    rank) as the `candidates` table, whatever the run's size (Parquet unless --format)
  --grid KEY=RANGE  sweep: one axis, an inclusive range START:STOP:STEP or a list V1,V2,…; every
                    combination of the axes runs on the same traffic and draws (one row per variant)
  --normalise       sweep: scale each variant's weights to sum to 1
  --by SEGMENT      compare, sweep: the KPIs per category, region, partner or task_type (repeat it, or
                    `all`); compare writes compare_segments_<by> and names the segment that moved
                    most, sweep writes sweep_segments (one row per variant × segment; needs --out)
  --jobs N          sweep: worker processes (default 1: polars already ranks each variant on every core)
  --objective NAME  optimise: revenue, fill_rate, qualified_recommendation_rate, mean_relevance or
                    advertiser_surplus (maximised); --constraint "KPI>=X" (or <=, >, <) on any KPI
  --trials N        optimise: how many settings to try (default 100); --seed S seeds Optuna's TPE
  --out FILE        optimise: the winner's scenario file, next to SCENARIO (default SCENARIO-optimised.toml)
  --intent ID       explain: the request (intent id); --campaign ID: why that campaign won or lost it
  --reserve AMOUNT  pricing: the reserve price for first and second price (default: the scenario's
                    [pricing] reserve); the scenario runs under fixed, first_price and second_price
  --scenario S      calibrate: write S with the funnel fitted on LOG as S-calibrated.toml next to it
                    (--out FILE: another name there); without it, print the [funnel] table
  --report DIR      calibrate: also write calibration.csv and calibration.md (every estimate, interval)

  --api URL         the exchange API (default http://127.0.0.1:3000); `open` starts a local server
                    on embedded SQLite there when nothing answers (unless --no-server)
  --limit N         replay (or run live) only the first N requests
  --no-provision    replay: do not create the scenario's partners and campaigns on the server first
  --json            live: print the reconciliation as JSON

Without arguments, opens the terminal application on scenarios/baseline.toml.
Exit codes: 0 success, 1 runtime failure, 2 usage or validation error.
"""


class _Parser(argparse.ArgumentParser):
    def error(
        self, message: str
    ) -> NoReturn:  # argparse would print usage and exit; we want one line and code 2
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="workbench", add_help=False)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name in ("run", "compare"):
        p = sub.add_parser(name, add_help=False)
        p.add_argument("scenario")
        p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
        p.add_argument("--out", type=Path)
        p.add_argument("--format")
        p.add_argument("--no-progress", action="store_true")
        if name == "run":
            p.add_argument("--explain", action="store_true")
        else:
            p.add_argument("--by", dest="by", action="append", default=[], metavar="SEGMENT")
    add_analysis_parsers(sub)
    add_pricing_parser(sub)
    add_calibrate_parser(sub)
    v = sub.add_parser("validate", add_help=False)
    v.add_argument("scenarios", nargs="+")
    r = sub.add_parser("replay", add_help=False)
    r.add_argument("scenario")
    r.add_argument("--api", default="http://127.0.0.1:3000")
    r.add_argument("--limit", type=int)
    r.add_argument("--no-provision", action="store_true")
    lv = sub.add_parser("live", add_help=False)
    lv.add_argument("scenario")
    lv.add_argument("--limit", type=int)
    lv.add_argument("--json", action="store_true")
    lv.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    o = sub.add_parser("open", add_help=False)
    o.add_argument("scenario", nargs="?")
    o.add_argument("--api", default="http://127.0.0.1:3000")
    o.add_argument("--no-server", action="store_true")
    return parser


def _print_exhaustion(result, table) -> None:
    summary, ran_out = exhaustion_table(result, table)
    out_console.print(summary, markup=False)
    if ran_out is not None:
        out_console.print(ran_out)


def cmd_run(args: argparse.Namespace) -> int:
    from workbench.engine.exports import parse_formats, run_tables, write_run

    formats = formats_arg(args.format or DEFAULT_FORMATS, parse_formats)
    if args.explain and not args.out:
        raise UsageError("--explain writes the candidates table: give --out DIR")
    explain_formats = None
    if args.explain:
        explain_formats = tuple(f for f in formats if f != "md") if args.format else ("parquet",)
        if not explain_formats:
            raise UsageError("--explain: the candidates table needs csv, parquet or json in --format")
    started = time.perf_counter()
    result = run_one(args.scenario, args.sets, not args.no_progress, Path(args.scenario).stem)
    tables = run_tables(result)
    out_console.print(
        whole(kpi_table(f"{result.scenario.name}: {result.traffic.size:,} requests", tables["_kpis"]))
    )
    _print_exhaustion(result, tables["exhaustion"])
    if args.out:
        with writing_spinner(not args.no_progress and is_big(result)) as step:
            written = write_run(result, args.out, formats, tables, step, explain_formats)
        out_console.print(f"wrote {len(written)} files to {args.out}")
    out_console.print(f"done in {time.perf_counter() - started:.2f} s")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.scenarios:
        try:
            s = load_scenario(path)
        except ScenarioError as err:
            err_console.print(f"invalid: {err}", markup=False)
            failed += 1
            continue
        traffic = (
            f"replay of {len(s.replay_requests)} requests and {len(s.replay_receipts)} receipts"
            if s.replay_requests is not None
            else f"{s.spec.traffic.requests} generated requests in {len(s.spec.traffic.segments)} segments"
        )
        out_console.print(
            f"ok: {path} — {s.name}: {len(s.campaigns)} campaigns, {len(s.partners)} partners, {traffic}",
            markup=False,
        )
    return 2 if failed else 0


def cmd_replay(args: argparse.Namespace) -> int:
    import asyncio

    from workbench.app.client import ApiClient, ApiError
    from workbench.app.replay import replay_scenario
    from workbench.app.server_mode import ReplayRefused, check_replay_target

    scenario = load_scenario(args.scenario)
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")

    async def go() -> int:
        from workbench.app.provision import prepare_server

        async with ApiClient(args.api) as client:
            await check_replay_target(client)  # before provisioning: nothing goes to a real_test server
            await prepare_server(
                client, scenario, not args.no_provision, lambda line: out_console.print(line, markup=False)
            )
            with Progress(
                TextColumn("replaying"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            ) as bar:
                task = bar.add_task("replay", total=None)
                summary = await replay_scenario(
                    client,
                    scenario,
                    limit=args.limit,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        out_console.print(
            f"replayed {scenario.name} against {args.api} (run {summary.run_id}): {summary.describe()}"
        )
        for problem in summary.problems[:5]:
            err_console.print(f"  refused: {problem}", markup=False)
        return 0

    try:
        return asyncio.run(go())
    except ApiError as err:
        err_console.print(f"workbench replay: {err.message}", markup=False)
        return 1
    except ReplayRefused as err:
        err_console.print(f"workbench replay: {err}", markup=False)
        return 1


def cmd_live(args: argparse.Namespace) -> int:
    import json

    from workbench.app.live_run import LiveRunError, run_live
    from workbench.app.reconcile import reconcile, render

    scenario = load_scenario(args.scenario, args.sets)
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    labels = {
        "starting": "starting the private exchange",
        "replaying": "replaying requests and receipts",
        "settling": "settling (the worker drains the queue)",
        "reading": "reading the results",
    }
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(labels["starting"], total=None)
        try:
            live = run_live(
                scenario,
                args.limit,
                lambda phase, done, total: bar.update(
                    task, description=labels[phase], completed=done, total=total
                ),
            )
        except LiveRunError as err:
            err_console.print(f"workbench live: {err}", markup=False)
            return 1
    result = reconcile(live)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        out_console.print(render(result))
    return 0 if result.ok else 1


def cmd_open(args: argparse.Namespace) -> int:
    if args.scenario:
        load_scenario(args.scenario)  # a bad file is one line and exit 2, before the screen opens
    from workbench.app.application import DEFAULT_SCENARIO, WorkbenchApp

    path = Path(args.scenario) if args.scenario else DEFAULT_SCENARIO
    app = WorkbenchApp(api_url=args.api, scenario_path=path, start_server=not args.no_server)
    try:
        app.run()
    finally:
        app.stop_server()  # already done on a normal exit; after a crash it must still happen
    return app.return_code or 0  # 128 + the signal after SIGTERM or SIGHUP


COMMANDS = {
    "run": cmd_run,
    "compare": cmd_compare,
    "explain": cmd_explain,
    "sweep": cmd_sweep,
    "optimise": cmd_optimise,
    "optimize": cmd_optimise,
    "pricing": cmd_pricing,
    "calibrate": cmd_calibrate,
    "validate": cmd_validate,
    "replay": cmd_replay,
    "live": cmd_live,
    "open": cmd_open,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and (argv[0] == "help" or "-h" in argv or "--help" in argv):
        print(USAGE, end="")
        return 0
    if not argv or argv[0].startswith("--") or argv[0].endswith(".toml"):
        argv = ["open", *argv]
    try:
        args = _parser().parse_args(argv)
        if args.command is None:
            raise UsageError(f"unknown command {argv[0]!r}")
        return COMMANDS[args.command](args)
    except UsageError as err:
        err_console.print(f"workbench: {err} (see `workbench --help`)", markup=False)
        return 2
    except ScenarioError as err:
        err_console.print(f"workbench: {err}", markup=False)
        return 2
    except KeyboardInterrupt:
        err_console.print("workbench: interrupted", markup=False)
        return 130
    except OSError as err:
        err_console.print(
            f"workbench: {err.strerror or err}: {err.filename or ''}".rstrip(": "), markup=False
        )
        return 1
    except Exception as err:
        if os.environ.get("WORKBENCH_DEBUG"):
            traceback.print_exc()
        err_console.print(f"workbench: internal error: {type(err).__name__}: {err}", markup=False)
        return 1


if __name__ == "__main__":
    sys.exit(main())
