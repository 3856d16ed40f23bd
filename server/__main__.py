"""``promotion-agent``: the server's command line (serve, worker, db init, import, outreach, mock, dev).

``main`` is long on purpose: it is the table of subcommands and how each one's errors become one
line and an exit code."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from sqlalchemy.exc import SQLAlchemyError

from .adapters.redis_hot_state import HotStateUnavailable
from .adapters.store.engine import DatabaseUnavailable
from .domain.errors import DomainError
from .modes import ModeError, demo_ignored_line, environment_for, resolve_mode
from .redaction import RedactingFilter, redact_text
from .settings import Settings, SettingsError

# Settings whose values are credentials: masked wherever they would appear in a log line.
SECRET_SETTINGS = (
    "BILLING_ADAPTER_API_KEY",
    "BILLING_ADAPTER_HMAC_SECRET",
    "ALERT_WEBHOOK_API_KEY",
    "SLACK_WEBHOOK_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "OUTREACH_SMTP_PASS",
    "OUTREACH_SMTP_PASSWORD",
)


# How long an idle client connection is kept open. Longer than what clients and proxies keep an idle
# connection for (httpx 5 s, load balancers 60 s): with uvicorn's 5 s, a client reusing a connection
# at the moment the server closes it got a reset instead of an answer (1 to 9 in 30,000 receipts
# at c=64 in the duplicate-storm proof).
KEEP_ALIVE_S = 75
MODE_CHOICES = ("default", "demo", "real_test")


def _configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    redacting = RedactingFilter(os.environ.get(name) for name in SECRET_SETTINGS)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redacting)


async def _preflight(settings: Settings) -> None:
    """Open the database (migrating and seeding it) once before serving, so that a database
    that cannot be reached or used fails with one clear line instead of a server traceback."""
    from .app import build_services

    svc = await build_services(settings)
    await svc.close()


def _serve(settings: Settings) -> int:
    import uvicorn

    from .app import create_app
    from .services.access import access_from_settings, listen_refusal

    refusal = listen_refusal(settings.host, access_from_settings(settings))  # a bad keys file stops here
    if refusal:
        raise SettingsError(refusal)
    if settings.mode != "demo":  # the demo's in-memory database lives only in the serving process
        asyncio.run(_preflight(settings))
    os.environ.setdefault("GC_FREEZE", "1")  # the serving process freezes its start-up heap (server/heap.py)
    logging.getLogger("promotion_agent").info(
        "listening on http://%s:%d with %d process(es)", settings.host, settings.port, settings.workers
    )
    uvicorn.run(
        "server.app:create_app" if settings.workers > 1 else create_app(settings),
        factory=settings.workers > 1,
        workers=settings.workers if settings.workers > 1 else None,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    return 0


async def _db_init(settings: Settings) -> int:
    from .app import build_services
    from .services import lanes

    svc = await build_services(settings, load_seed=False)
    try:
        counts = await lanes.prepare(svc, force=True)
    finally:
        await svc.close()
    added = ", ".join(f"{k}={v}" for k, v in counts.items()) or "none (already prepared)"
    print(f"database ready ({svc.store.kind}) for the {settings.mode} lane; seed records added: {added}")
    return 0


async def _outreach_send(settings: Settings, lead_id: str) -> int:
    """``outreach send --lead ID``: send the lead's due targets (drafts, retries now due) once each."""
    from .app import build_services
    from .services import outreach

    svc = await build_services(settings, load_seed=False)
    try:
        results = await outreach.send_due_for_lead(svc, lead_id)
    finally:
        await svc.close()
    if not results:
        print(f"{lead_id}: no outreach target is due (drafts and retries whose time came are sent)")
        return 0
    counts: dict[str, int] = {}
    for target, refusal in results:
        if refusal is not None:
            state, line = "skipped", f"skipped: {refusal}"
        else:
            state = target.status
            line = f"{target.status} {target.result_code}"
            if target.smtp_code is not None:
                line += f" {target.smtp_code}"
            if target.status == "sent":
                line += f" {target.message_id}"
            elif target.next_attempt_at is not None:
                line += f" next attempt {target.next_attempt_at.isoformat().replace('+00:00', 'Z')}"
            if target.status != "sent" and target.smtp_reply:
                line += f" ({target.smtp_reply})"
        counts[state] = counts.get(state, 0) + 1
        print(f"{target.target_id} {target.channel} {target.contact_point}: {redact_text(line)}")
    summary = ", ".join(f"{n} {state}" for state, n in counts.items())
    print(f"{lead_id}: {summary} ({settings.outreach.sender_mode} sender)")
    return 0 if set(counts) == {"sent"} else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="promotion-agent", description="The promotion exchange server.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve", help="run the HTTP API (APP_MODE, HOST, PORT, DATABASE_URL, REDIS_URL, ...)"
    )
    serve.add_argument("--mode", choices=MODE_CHOICES, help="default | demo | real_test (else APP_MODE)")
    db = sub.add_parser("db", help="database tasks")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    init = db_sub.add_parser("init", help="create the schema and load the mode's seed (safe to run twice)")
    init.add_argument("--mode", choices=MODE_CHOICES, help="default | demo | real_test (else APP_MODE)")
    outreach = sub.add_parser("outreach", help="partner outreach by e-mail (OUTREACH_SENDER_MODE, ...)")
    outreach_sub = outreach.add_subparsers(dest="outreach_command", required=True)
    send = outreach_sub.add_parser(
        "send", help="send a lead's due outreach targets once each (exit 1 if any was not sent)"
    )
    send.add_argument("--lead", required=True, metavar="ID", help="the agent lead's id")
    send.add_argument("--mode", choices=MODE_CHOICES, help="default | real_test (else APP_MODE)")
    sub.add_parser("import", help="import receipts | partners | campaigns from a file", add_help=False)
    # Long-running helpers live in their own modules; each takes the rest of the command line.
    sub.add_parser(
        "worker", help="run the settlement worker (leader lease, retry queue, metrics)", add_help=False
    )
    mock = sub.add_parser("mock", help="local mock services: billing | alerts | stripe", add_help=False)
    mock.add_argument("service", choices=["billing", "alerts", "stripe"])
    dev = sub.add_parser(
        "dev", help="private local servers for development: postgres | redis", add_help=False
    )
    dev.add_argument("service", choices=["postgres", "redis"])
    args, rest = parser.parse_known_args(argv)
    _configure_logging()
    if rest and args.command in ("serve", "db", "outreach"):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command == "import":
            from .importing import run as run_import

            return run_import(rest)
        # The local helpers are not the exchange: its mode rules (real_test's backends) do not apply to them.
        if args.command == "mock":
            from .mocks import run as run_mock

            return run_mock(args.service, rest)
        if args.command == "dev":
            from .dev import run as run_dev

            return run_dev(args.service, rest)
        if args.command == "outreach" and (getattr(args, "mode", None) or resolve_mode(os.environ)) == "demo":
            raise ModeError(
                "demo mode keeps its data in the server's memory: send outreach through the API "
                "(POST /outreach-targets/{targetId}/send)"
            )
        env, mode, ignored = environment_for(os.environ, getattr(args, "mode", None), purpose=args.command)
        settings = Settings.from_env(env)
        if args.command == "serve":
            if mode == "demo":
                logging.getLogger("promotion_agent").info(demo_ignored_line(ignored))
            os.environ["APP_MODE"] = os.environ["PROMOTION_AGENT_MODE"] = mode  # for worker processes
            return _serve(settings)
        if args.command == "db" and args.db_command == "init":
            return asyncio.run(_db_init(settings))
        if args.command == "outreach":
            return asyncio.run(_outreach_send(settings, args.lead))
        if args.command == "worker":
            from .worker import run as run_worker

            return run_worker(rest, settings)
    except DomainError as exc:  # an unknown lead, ...
        print(f"promotion-agent: {redact_text(exc.message)}", file=sys.stderr)
        return 2
    except (ModeError, SettingsError, ValueError, OSError, HotStateUnavailable, DatabaseUnavailable) as exc:
        print(f"promotion-agent: {redact_text(str(exc))}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(f"promotion-agent: the database cannot be used: {reason}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    parser.error("unknown command")
    return 2


if __name__ == "__main__":
    sys.exit(main())
