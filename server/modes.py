"""The three ways to run the exchange (``default``, ``demo``, ``real_test``) and their start-up rules.

- Mode selection: ``promotion-agent serve --mode …`` wins; else ``APP_MODE``, with
  ``PROMOTION_AGENT_MODE`` kept as an alias (both set and different: refused). Each mode
  has its own default port (``PORT`` still wins).
- ``demo`` ignores ``DATABASE_URL``, ``REDIS_URL`` and ``BILLING_ADAPTER_URL``: an in-memory
  SQLite database, in-process hot state and the simulated billing gateway.
- ``real_test`` refuses to start unless every backend variable is set, refuses a fixed or
  offset evaluation clock and a ranking-config file, and (``refuse_demo_records``) refuses a
  database that holds any ``demo_*`` record, before any schema change or write.

Everything here runs before the settings are built, on the raw environment, so that a
refusal happens before anything is opened or touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from .adapters.store.engine import Engines

MODES = ("default", "demo", "real_test")
DEFAULT_PORTS = {"default": 3000, "demo": 3001, "real_test": 3002}
REAL_TEST_REQUIRED = ("DATABASE_URL", "REDIS_URL", "BILLING_ADAPTER_URL")
DEMO_IGNORED = ("DATABASE_URL", "REDIS_URL", "BILLING_ADAPTER_URL")
# One in-memory database shared by the process's connections (the store keeps a writer and readers).
DEMO_DATABASE_URL = "sqlite:///file:promotion-agent-demo?mode=memory&cache=shared&uri=true"

IMPLIES = {
    "default": "your database (DATABASE_URL, else .data/promotion-agent.sqlite3) with the default seed; "
    "demo and real data may mix",
    "demo": "an in-memory SQLite database with the demo seed and bootstrap activity (the same at every start); "
    "DATABASE_URL, REDIS_URL and BILLING_ADAPTER_URL are ignored; nothing is kept",
    "real_test": "real data only: PostgreSQL/SQLite at DATABASE_URL, Redis, the billing adapter; no demo_* "
    "records; receipts must be real_event, settlements are sandbox_settlement; receipt verification "
    "at least shortlist",
}


class ModeError(ValueError):
    """The mode or a mode rule stops the start; the message is one line naming the variables."""


def resolve_mode(env: Mapping[str, str], cli_mode: str | None = None) -> str:
    """The mode in force: ``--mode``, else ``APP_MODE`` / ``PROMOTION_AGENT_MODE``, else ``default``."""
    app_mode = (env.get("APP_MODE") or "").strip()
    alias = (env.get("PROMOTION_AGENT_MODE") or "").strip()
    if app_mode and alias and app_mode != alias:
        raise ModeError(
            f"APP_MODE={app_mode!r} and PROMOTION_AGENT_MODE={alias!r} disagree: set one of them "
            "(PROMOTION_AGENT_MODE is an alias of APP_MODE)"
        )
    mode = cli_mode or app_mode or alias or "default"
    if mode not in MODES:
        source = "--mode" if cli_mode else ("APP_MODE" if app_mode else "PROMOTION_AGENT_MODE")
        raise ModeError(f"{source} must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def missing_for_real_test(env: Mapping[str, str]) -> list[str]:
    """The backend variables real_test needs that are unset or empty."""
    return [name for name in REAL_TEST_REQUIRED if not (env.get(name) or "").strip()]


def real_test_refusal(env: Mapping[str, str]) -> str | None:
    """Why real_test must not start with this environment (one line), or None."""
    missing = missing_for_real_test(env)
    if missing:
        return (
            f"real_test mode refuses to start: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set (it needs DATABASE_URL, REDIS_URL and "
            "BILLING_ADAPTER_URL)"
        )
    clock = (env.get("EXCHANGE_CLOCK") or "").strip()
    if clock and clock.lower() != "wall":
        return f"real_test mode refuses EXCHANGE_CLOCK={clock!r}: a fixed or offset evaluation clock is for scenarios"
    if (env.get("RANKING_CONFIG_FILE") or "").strip():
        return "real_test mode refuses RANKING_CONFIG_FILE: real traffic is ranked with the default RankingConfig"
    return None


def environment_for(
    env: Mapping[str, str], cli_mode: str | None = None, purpose: str = "serve"
) -> tuple[dict[str, str], str, list[str]]:
    """The environment the settings are read from in the resolved mode, the mode, and what it ignored.

    ``purpose``: ``serve`` (and the worker) apply every rule; ``db`` (``db init --mode``) prepares the
    database at ``DATABASE_URL`` for the lane, so it keeps that URL and needs only it in real_test.
    Raises ``ModeError`` when the mode cannot start (real_test without its backends, ...).
    """
    mode = resolve_mode(env, cli_mode)
    out = dict(env)
    out["APP_MODE"] = mode
    out["PROMOTION_AGENT_MODE"] = mode
    ignored: list[str] = []
    if mode == "real_test" and purpose == "db":
        if not (env.get("DATABASE_URL") or "").strip():
            raise ModeError("db init --mode real_test needs DATABASE_URL: the database to prepare")
        return out, mode, ignored
    if mode == "real_test":
        refusal = real_test_refusal(env)
        if refusal:
            raise ModeError(refusal)
    if mode == "demo" and purpose == "worker":
        raise ModeError(
            "demo mode keeps its data in the server's memory: there is no worker to run "
            "(POST /settlements/retry-queue/process processes the demo's queue)"
        )
    if mode == "demo" and purpose == "db":
        out.pop("REDIS_URL", None)
        out.pop("BILLING_ADAPTER_URL", None)
    elif mode == "demo":
        ignored = [name for name in DEMO_IGNORED if (env.get(name) or "").strip()]
        for name in DEMO_IGNORED:
            out.pop(name, None)
        out["DATABASE_URL"] = DEMO_DATABASE_URL
        out["WEB_CONCURRENCY"] = "1"  # one process: the in-memory database lives in it
    if not (env.get("PORT") or "").strip():
        out["PORT"] = str(DEFAULT_PORTS[mode])
    return out, mode, ignored


def demo_ignored_line(ignored: list[str]) -> str:
    if ignored:
        return f"demo mode ignores {', '.join(ignored)}: in-memory SQLite, in-process hot state, simulated billing"
    return "demo mode: in-memory SQLite, in-process hot state, simulated billing"


# Tables whose rows carry their provenance in a column, and those that keep it only in the document.
_PROVENANCE_COLUMN_TABLES = ("agent_leads", "partners", "campaigns", "settlements", "audit_events")
_PROVENANCE_DOC_TABLES = ("receipts", "reputation_records")


def count_demo_records(sync_conn: Connection) -> dict[str, int]:
    """Rows whose provenance starts with ``demo_``, per table (tables that do not exist yet count 0).

    Reads only: no schema change, no write.
    """
    from sqlalchemy import inspect, text

    existing = set(inspect(sync_conn).get_table_names())
    counts: dict[str, int] = {}
    for table in _PROVENANCE_COLUMN_TABLES:
        if table in existing:
            n = sync_conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE provenance LIKE 'demo\\_%' ESCAPE '\\'")
            )
            counts[table] = int(n.scalar_one())
    for table in _PROVENANCE_DOC_TABLES:
        if table in existing:
            n = sync_conn.execute(
                text(
                    f"SELECT count(*) FROM {table} WHERE doc LIKE '%\"dataProvenance\":\"demo\\_%' ESCAPE '\\'"
                )
            )
            counts[table] = int(n.scalar_one())
    return {table: n for table, n in counts.items() if n}


def demo_records_refusal(counts: Mapping[str, int]) -> str | None:
    if not counts:
        return None
    found = ", ".join(f"{table}: {n}" for table, n in counts.items())
    return (
        f"real_test mode refuses to start: the database holds demo records (provenance demo_*) - {found}; "
        "use a database that has only real data"
    )


async def refuse_demo_records(engines: Engines) -> None:
    """real_test: stop (``ModeError`` naming each table and count) if the database holds demo records.

    Runs on a read connection before the migrations, so a refused database is left exactly as it was.
    """
    if engines.sync_read is not None:
        with engines.sync_read.connect() as conn:
            counts = count_demo_records(conn)
    else:
        assert engines.read is not None  # create_engines sets the async pair when there is no sync one
        async with engines.read.connect() as conn:
            counts = await conn.run_sync(count_demo_records)
    refusal = demo_records_refusal(counts)
    if refusal:
        raise ModeError(refusal)
