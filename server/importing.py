"""``promotion-agent import receipts FILE | campaigns FILE | partners [FILE]`` (rules in services/imports.py).

Prints a JSON summary (``importedCount``, ``skippedCount``, ``duplicateCount``, ``errors[]``) on
stdout. Exit 0 when imported, 2 for a bad file (nothing imported, unless ``--skip-invalid``)
or bad settings, 1 when importing failed at run time (a re-run is safe: imports are idempotent).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec
from sqlalchemy.exc import SQLAlchemyError

from .adapters.redis_hot_state import HotStateUnavailable
from .modes import environment_for
from .redaction import redact_text
from .services import imports
from .settings import Settings

PROGRESS_FROM = 2000  # items; smaller files import without a progress bar


class BadFile(Exception):
    def __init__(self, summary: imports.ImportSummary) -> None:
        super().__init__("bad file")
        self.summary = summary


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="promotion-agent import", description="Import records from a file.")
    parser.add_argument("kind", choices=imports.KINDS)
    parser.add_argument("file", nargs="?", help="JSON (the original format) or JSON Lines")
    parser.add_argument("--skip-invalid", action="store_true", help="import the valid items, report the rest")
    parser.add_argument("--mode", choices=("default", "demo", "real_test"), help="else APP_MODE")
    return parser


async def _run(
    settings: Settings, kind: imports.Kind, path: Path | None, skip_invalid: bool
) -> imports.ImportSummary:
    from .app import build_services

    summary = imports.ImportSummary(kind=kind)
    raws = imports.split_items(await asyncio.to_thread(path.read_bytes), kind) if path else []
    decoded, errors = imports.decode_items(raws, kind)
    svc = await build_services(settings)
    try:
        if path is None:
            await imports.promote_discovered_leads(svc, summary)
            return summary
        checked, more = await imports.check_items(svc, kind, decoded)
        summary.errors = sorted(errors + more, key=lambda e: e.index)
        summary.skipped_count = len(summary.errors)
        if summary.errors and not skip_invalid:
            raise BadFile(summary)
        with _progress(len(checked)) as advance:
            await imports.import_items(svc, kind, checked, summary, advance)
        return summary
    finally:
        await svc.close()


class _progress:
    """A rich progress bar on stderr for big files; a no-op below ``PROGRESS_FROM`` items."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar = None

    def __enter__(self) -> Callable[[int], None] | None:
        if self.total < PROGRESS_FROM:
            return None
        from rich.console import Console
        from rich.progress import Progress

        bar = self.bar = Progress(console=Console(stderr=True), transient=True)
        bar.start()
        task = bar.add_task("importing", total=self.total)
        return lambda n: bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _emit(summary: imports.ImportSummary) -> None:
    fields = msgspec.to_builtins(summary)
    if summary.activated_count is None:
        fields.pop("activatedCount", None)
    print(msgspec.json.encode(fields).decode())


def run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.kind != "partners" and not args.file:
        print(f"promotion-agent: import {args.kind} needs a FILE (JSON or JSON Lines)", file=sys.stderr)
        return 2
    path = Path(args.file) if args.file else None
    if path is not None and not path.is_file():
        print(f"promotion-agent: import {args.kind}: {path} is not a readable file", file=sys.stderr)
        return 2
    logging.getLogger("promotion_agent").setLevel(logging.WARNING)
    env, _mode, _ignored = environment_for(os.environ, args.mode, purpose="db")
    settings = Settings.from_env(env)
    try:
        summary = asyncio.run(_run(settings, args.kind, path, args.skip_invalid))
    except imports.ImportFileError as exc:
        print(f"promotion-agent: import {args.kind}: {path}: {exc}", file=sys.stderr)
        return 2
    except BadFile as bad:
        _emit(bad.summary)
        count = len(bad.summary.errors)
        print(
            f"promotion-agent: import {args.kind}: {count} invalid item{'s' if count != 1 else ''}; nothing imported "
            "(--skip-invalid imports the rest)",
            file=sys.stderr,
        )
        return 2
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(
            f"promotion-agent: import {args.kind} failed: the database: {reason} (importing again is safe)",
            file=sys.stderr,
        )
        return 1
    except (imports.DomainError, OSError, RuntimeError, HotStateUnavailable) as exc:
        # RuntimeError covers DatabaseUnavailable (the database cannot be reached at the start).
        print(
            f"promotion-agent: import {args.kind} failed: {redact_text(str(exc))} (importing again is safe)",
            file=sys.stderr,
        )
        return 1
    _emit(summary)
    return 0
