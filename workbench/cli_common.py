"""What the command line's commands share: the consoles, the usage error, progress, wide tables, one run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from workbench.engine.scenario import load_scenario

PROGRESS_MIN_REQUESTS = 50_000
# Parquet and Markdown by default: the formats that scale (a million requests report in about a second);
# CSV and JSON on request (`--format csv,json,…`): the JSON ranking report of a million requests is 512 MB.
DEFAULT_FORMATS = "parquet,md"

out_console = Console(highlight=False, soft_wrap=True)
# emoji=False: a message quoting user input (``0:x:1``) is printed as typed
err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


class UsageError(Exception):
    """Bad command-line usage: exit code 2."""


@contextmanager
def progress_bar(enabled: bool, label: str) -> Iterator:
    if not enabled:
        yield None
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def run_one(path: str, sets: list[str], show_progress: bool, label: str):
    from workbench.engine.pipeline import run_scenario

    scenario = load_scenario(path, sets)
    big = (scenario.spec.traffic.requests or len(scenario.replay_requests or ())) >= PROGRESS_MIN_REQUESTS
    with progress_bar(show_progress and big, f"ranking {label}") as update:
        return run_scenario(scenario, progress=update)


def print_wide(table: Table) -> None:
    """A table at its natural width, never squeezed (``Console.print`` caps ``width`` at the console's own)."""
    Console(highlight=False, soft_wrap=True, width=max(out_console.width, 240), file=out_console.file).print(
        table
    )


def formats_arg(text: str, parse) -> tuple[str, ...]:
    try:
        return parse(text)
    except ValueError as err:
        raise UsageError(str(err)) from None


def is_big(result) -> bool:
    return result.traffic.size >= PROGRESS_MIN_REQUESTS


@contextmanager
def writing_spinner(enabled: bool) -> Iterator:
    """A spinner naming the report being written (long runs only)."""
    if not enabled:
        yield None
        return
    with err_console.status("writing reports") as status:
        yield lambda name: status.update(f"writing {name}")
