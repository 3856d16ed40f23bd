"""Every place where the SQL the store runs differs between SQLite and PostgreSQL.

- Upserts: ``INSERT … ON CONFLICT (cols) DO NOTHING`` through each dialect's own ``insert``
  (``insert_ignoring``), and the two ``ON CONFLICT … DO UPDATE`` statements (intent flags,
  counters), which both databases spell the same way.
- Row locks: PostgreSQL locks a settlement row for the rest of its transaction
  (``FOR UPDATE``, with ``SKIP LOCKED`` for the queue); SQLite writers are serial already.
- Advisory locks (PostgreSQL only): the migration lock and the worker's leader lease.
- Counter shards: PostgreSQL spreads a hot counter over 8 rows so concurrent writers do not
  queue on one row lock; SQLite has one writer, so one row.

How each database is opened (pragmas, ``BEGIN IMMEDIATE``, drivers) is in ``engine.py``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite

from . import schema as s
from .raw_sqlite import prebuilt


# -- upserts ----------------------------------------------------------------
def insert_ignoring(kind: str, table: Any, conflict_columns: list[str]) -> Any:
    """``INSERT … ON CONFLICT (cols) DO NOTHING`` for the active dialect."""
    module = sqlite if kind == "sqlite" else postgresql
    return module.insert(table).on_conflict_do_nothing(index_elements=conflict_columns)


@prebuilt
def insert_or_ignore(kind: str, table_name: str, conflict: tuple[str, ...]) -> Any:
    """``insert_ignoring`` built once per dialect and table (executed with parameters)."""
    return insert_ignoring(kind, s.metadata.tables[table_name], list(conflict))


@prebuilt
def mark_intent(column: str) -> Any:
    return text(
        "INSERT INTO intents (intent_id, evaluated, presented) VALUES (:intent_id, :e, :p) "
        f"ON CONFLICT (intent_id) DO UPDATE SET {column} = 1 WHERE intents.{column} = 0"
    )


@prebuilt  # one per row count: as many as a transaction's distinct counters, a handful
def counters_upsert(rows: int) -> Any:
    values = ", ".join(f"(:n{i}, :shard, :d{i})" for i in range(rows))
    return text(
        f"INSERT INTO counters (name, shard, value) VALUES {values} "
        "ON CONFLICT (name, shard) DO UPDATE SET value = counters.value + excluded.value"
    )


def counter_shards(kind: str) -> int:
    """How many rows one counter is spread over."""
    return 1 if kind == "sqlite" else 8


# -- row locks ----------------------------------------------------------------
def locked(kind: str, stmt: Any, *, skip_locked: bool = False) -> Any:
    """``stmt`` locking the rows it reads for the rest of the transaction on PostgreSQL
    (``FOR UPDATE``, or ``FOR UPDATE SKIP LOCKED``: a row another transaction holds is passed by);
    unchanged on SQLite, whose writers are serial."""
    if kind == "sqlite":
        return stmt
    return stmt.with_for_update(skip_locked=skip_locked)


# -- advisory locks (PostgreSQL) ------------------------------------------------
# Several processes may start at once on an empty database: one migrates, the others wait on
# this lock and then find the schema current. (SQLite's BEGIN IMMEDIATE does the same.)
MIGRATION_LOCK = text("SELECT pg_advisory_xact_lock(7253190041)")

# The worker's leader lease: a session lock on one dedicated connection.
TRY_ADVISORY_LOCK = text("SELECT pg_try_advisory_lock(:k)")
ADVISORY_UNLOCK = text("SELECT pg_advisory_unlock(:k)")
ADVISORY_LOCK_HELD = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
    " AND pid = pg_backend_pid() AND classid::bigint = :hi AND objid::bigint = :lo)"
)


def migration_lock(kind: str) -> Any | None:
    """The statement that serialises migrations across processes, None where BEGIN does it (SQLite)."""
    return MIGRATION_LOCK if kind == "postgres" else None
