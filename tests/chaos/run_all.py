"""Run every chaos proof and print the figures as Markdown (``bench/RELIABILITY.md``).

    python -m tests.chaos.run_all [--full] [--out FILE] [--only NAME] [--where BACKEND]

Each proof's module runs only its own proof the same way (``python -m
tests.chaos.storms --full --where sqlite-1``).

Without ``--full`` the suite's counts are used (a few minutes); with it the
full counts (10,000-receipt storms, 100 worker kills per backend, ...). Each
proof runs on its own processes, stopped before the next one starts. The exit
code is 1 when any proof's figures break a guarantee, 2 when a proof could
not run (the message says why).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from . import crashes, double_submission, faults, redis_outage, storms
from .harness import SharedPostgres, Stack, cannot_run

Proof = tuple[str, str, Callable[[Stack], dict[str, Any]], Callable[[dict[str, Any]], list[str]]]


def _machine() -> str:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    uname = " ".join(platform.uname())
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        uname = subprocess.run(["uname", "-a"], capture_output=True, text=True, check=True).stdout.strip()
    return f"nproc {os.cpu_count()}, CPU {cpu}, Python {platform.python_version()}; `{uname}`"


def _broken_double(f: dict[str, Any]) -> list[str]:
    out = []
    if f["overlappingSubmissions"]:
        out.append("two submissions of one settlement overlapped")
    if f["wrongProviderId"] or f["stillProcessing"] or f["settledInDb"] != f["settlements"]:
        out.append("not every settlement settled once with the provider's id")
    pauses = f["pausedClaimants"]
    if (
        not (
            f.get("pausedLateAnswersDiscarded")
            == f.get("pausedDiscardsAudited")
            == f.get("pausedSettledOnce")
            == f.get("pausedBookedOnceAtProvider")
            == pauses
        )
        or f["overlappingSubmissionsAfterPauses"]
    ):
        out.append("a paused claimant's late answer was not discarded and audited")
    return out


def _broken_storm(f: dict[str, Any]) -> list[str]:
    out = []
    if f["answers4xx"] or f["answers5xx"] or f["noAnswer"]:
        out.append("answers other than 200/201")
    if (
        f["duplicatedSettlements"]
        or f["keysAnsweredWithTwoSettlements"]
        or f["settlements"] != f["settlementsExpected"]
    ):
        out.append("a key billed other than once")
    if f["campaignsOverBudget"]:
        out.append("a campaign past its budget")
    if (
        f["receiptsWithMissingSettlement"]
        or f["settlementsWithoutRetryJob"]
        or f["billableReceiptsWithoutSettlement"]
    ):
        out.append("a receipt, settlement and job out of step")
    return out


def _broken_workers(f: dict[str, Any]) -> list[str]:
    out = []
    if f["stuckProcessing"] or f["notSettledOrDlq"] or f["settlementsLost"]:
        out.append("a settlement neither settled nor in the DLQ")
    if f["settledTwiceAtProvider"] or f["overlappingSubmissions"] or f["wrongProviderId"]:
        out.append("a settlement settled twice or concurrently")
    if f["resubmissions"] > f["leadersKilled"]:
        out.append("more resubmissions than kills")
    return out


def _broken_servers(f: dict[str, Any]) -> list[str]:
    keys = (
        "serverErrors",
        "acknowledgedButNotStored",
        "receiptsWithMissingSettlement",
        "settlementsWithoutRetryJob",
        "billableReceiptsWithoutSettlement",
        "duplicatedSettlements",
        "sentButNotStored",
    )
    return [k for k in keys if f[k]]


def _broken_faults(f: dict[str, Any]) -> list[str]:
    out = [
        k
        for k in ("scheduleErrors", "wrongFinalCodes", "retryableSettledBeforeReplay", "stillProcessing")
        if f[k]
    ]
    if not f["dlqIsExactlyTheExhausted"] or f["settledAfterReplay"] != f["settlements"]:
        out.append("the DLQ or the replay")
    return out


def _broken_redis(f: dict[str, Any]) -> list[str]:
    keys = (
        "answered500",
        "otherStatuses",
        "clientTimeouts",
        "unclear503",
        "acknowledgedButNotStored",
        "passwordShown",
    )
    return [k for k in keys if f[k]] + (
        ["a resent receipt refused"] if f["resentAccepted"] != f["refusedThenResent"] else []
    )


def proofs(full: bool) -> list[Proof]:
    def pick(module: Any) -> dict[str, Any]:
        return module.FULL if full else module.SUITE

    kills = pick(crashes)
    out: list[Proof] = []
    for backend in ("sqlite", "postgres"):
        out.append(
            (
                "double submission",
                backend,
                lambda s, b=backend: double_submission.prove(s, b, pick(double_submission)),
                _broken_double,
            )
        )
    for deployment in storms.DEPLOYMENTS:
        out.append(
            (
                "duplicate storm",
                deployment,
                lambda s, d=deployment: storms.prove(s, d, pick(storms)),
                _broken_storm,
            )
        )
    for backend in ("sqlite", "postgres"):
        out.append(
            (
                "worker crashes",
                backend,
                lambda s, b=backend: crashes.prove_worker_kills(s, b, kills["worker_kills"]),
                _broken_workers,
            )
        )
        out.append(
            (
                "server crashes",
                backend,
                lambda s, b=backend: crashes.prove_server_kills(s, b, kills["server_kills"]),
                _broken_servers,
            )
        )
    for backend in ("sqlite", "postgres"):
        out.append(
            (
                "provider faults",
                backend,
                lambda s, b=backend: faults.prove(s, b, pick(faults)),
                _broken_faults,
            )
        )
    out.append(
        ("redis outage", "postgres+redis", lambda s: redis_outage.prove(s, pick(redis_outage)), _broken_redis)
    )
    return out


def _section(name: str, where: str, figures: dict[str, Any], problems: list[str]) -> list[str]:
    shown = {k: v for k, v in figures.items() if not k.startswith("_")}
    lines = [f"### {name} — {where}", "", "| figure | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in shown.items()]
    lines += ["", f"Guarantees: {'all hold' if not problems else 'BROKEN: ' + '; '.join(problems)}.", ""]
    if problems:  # what the proof kept to explain a failure (first errors, offending keys)
        details = {k: v for k, v in figures.items() if k.startswith("_") and not isinstance(v, (set, dict))}
        lines += [f"- {k[1:]}: {str(v)[:1500]}" for k, v in details.items()] + [""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the full counts (else the suite's)")
    parser.add_argument("--out", help="also write the Markdown report to this file")
    parser.add_argument("--only", action="append", help="only proofs whose name contains this (repeatable)")
    parser.add_argument(
        "--where",
        action="append",
        help="only on this backend or deployment: sqlite, postgres, postgres-redis-2, sqlite-1, …",
    )
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("interrupted; every process this run started was stopped", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    lines = [
        f"## {dt.date.today().isoformat()} — chaos proofs ({'full' if args.full else 'suite'} counts)",
        "",
        f"Machine: {_machine()}.",
        "",
    ]
    broken: list[str] = []
    postgres = SharedPostgres()
    try:
        for name, where, run, check in proofs(args.full):
            if args.only and not any(o in name for o in args.only):
                continue
            if args.where and where not in args.where:
                continue
            print(f"running {name} on {where} …", file=sys.stderr, flush=True)
            with Stack(postgres=postgres) as stack:
                try:
                    figures = run(stack)
                except BaseException as exc:
                    reason = cannot_run(exc)
                    if reason is None:
                        raise
                    print(f"{name} on {where} could not run: {reason}", file=sys.stderr)
                    return 2
            lines += _section(name, where, figures, check(figures))
            broken += [f"{name} on {where}: {p}" for p in check(figures)]
            print("\n".join(_section(name, where, figures, check(figures))), file=sys.stderr, flush=True)
    finally:
        postgres.close()
    lines.append(f"Total time: {time.monotonic() - started:.0f} s.")
    report = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(report)
    print(report)
    if broken:
        print("BROKEN:\n  " + "\n  ".join(broken), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
