"""Statements on the request paths, built once per dialect and executed with parameters.

Building a SQLAlchemy construct per call (``insert(...).values(...)``) costs more
than running it on SQLite; a prebuilt statement with bind parameters has its
cache key and compiled form computed once. Used by ``repository.Tx`` for the
receipt, evaluation and settlement paths.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, select, text, update

from . import schema as s
from .engine import insert_ignoring


@lru_cache(maxsize=None)
def doc_by(table_name: str, column: str) -> Any:
    table = s.metadata.tables[table_name]
    return select(table.c.doc).where(table.c[column] == bindparam("key"))


@lru_cache(maxsize=None)
def insert_or_ignore(kind: str, table_name: str, conflict: tuple[str, ...]) -> Any:
    return insert_ignoring(kind, s.metadata.tables[table_name], list(conflict))


@lru_cache(maxsize=None)
def plain_insert(table_name: str) -> Any:
    return s.metadata.tables[table_name].insert()


@lru_cache(maxsize=None)
def update_doc(table_name: str, key: str, columns: tuple[str, ...]) -> Any:
    """``UPDATE table SET col = :v_col, … WHERE key = :k`` (bind names apart from column names)."""
    table = s.metadata.tables[table_name]
    return update(table).where(table.c[key] == bindparam("k")).values({c: bindparam("v_" + c) for c in columns})


@lru_cache(maxsize=None)
def add_spend() -> Any:
    t = s.campaigns
    return (
        update(t)
        .where(t.c.campaign_id == bindparam("k"))
        .values(committed_spend=t.c.committed_spend + bindparam("delta"))
    )


@lru_cache(maxsize=None)
def mark_intent(column: str) -> Any:
    return text(
        "INSERT INTO intents (intent_id, evaluated, presented) VALUES (:intent_id, :e, :p) "
        f"ON CONFLICT (intent_id) DO UPDATE SET {column} = 1 WHERE intents.{column} = 0"
    )


@lru_cache(maxsize=64)
def counters_upsert(rows: int) -> Any:
    values = ", ".join(f"(:n{i}, :shard, :d{i})" for i in range(rows))
    return text(
        f"INSERT INTO counters (name, shard, value) VALUES {values} "
        "ON CONFLICT (name, shard) DO UPDATE SET value = counters.value + excluded.value"
    )


@lru_cache(maxsize=None)
def market_version() -> Any:
    return select(s.market_version.c.version).where(s.market_version.c.id == 1)


@lru_cache(maxsize=None)
def campaign_spend() -> Any:
    return select(s.campaigns.c.campaign_id, s.campaigns.c.committed_spend)
