"""Statements on the request paths, built once per dialect and executed with parameters.

Building a SQLAlchemy construct per call (``insert(...).values(...)``) costs more
than running it on SQLite; a prebuilt statement with bind parameters has its
cache key and compiled form computed once. Used by the repositories on the
receipt, evaluation and settlement paths; the statements that differ between
SQLite and PostgreSQL (upserts) are built in ``dialect.py``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, outerjoin, select, update

from . import schema as s
from .raw_sqlite import prebuilt


@prebuilt
def doc_by(table_name: str, column: str) -> Any:
    table = s.metadata.tables[table_name]
    return select(table.c.doc).where(table.c[column] == bindparam("key"))


@prebuilt
def plain_insert(table_name: str) -> Any:
    return s.metadata.tables[table_name].insert()


@prebuilt
def update_doc(table_name: str, key: str, columns: tuple[str, ...]) -> Any:
    """``UPDATE table SET col = :v_col, … WHERE key = :k`` (bind names apart from column names)."""
    table = s.metadata.tables[table_name]
    values = {c: bindparam("v_" + c) for c in columns}
    return update(table).where(table.c[key] == bindparam("k")).values(values)


@prebuilt
def add_spend() -> Any:
    t = s.campaigns
    return (
        update(t)
        .where(t.c.campaign_id == bindparam("k"))
        .values(committed_spend=t.c.committed_spend + bindparam("delta"))
    )


@prebuilt
def add_spend_within() -> Any:
    """Commit ``:amount`` of the campaign's budget only while it fits ``:budget`` (one guarded update)."""
    t = s.campaigns
    return (
        update(t)
        .where(
            and_(
                t.c.campaign_id == bindparam("k"),
                t.c.committed_spend + bindparam("amount") <= bindparam("budget"),
            )
        )
        .values(committed_spend=t.c.committed_spend + bindparam("amount"))
    )


@prebuilt
def campaign_gates() -> Any:
    """Per campaign: committed spend and its workspace's available millicredits (NULL: no wallet yet)."""
    c, w = s.campaigns, s.wallets
    return select(c.c.campaign_id, c.c.committed_spend, w.c.available_mc).select_from(
        outerjoin(c, w, w.c.workspace_id == c.c.workspace_id)
    )


@prebuilt
def market_version() -> Any:
    return select(s.market_version.c.version).where(s.market_version.c.id == 1)


@prebuilt
def campaign_spend() -> Any:
    return select(s.campaigns.c.campaign_id, s.campaigns.c.committed_spend)
