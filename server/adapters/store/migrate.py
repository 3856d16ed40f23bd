"""Schema migrations (Alembic) run on the store's own write connection."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from . import schema
from .dialect import migration_lock
from .engine import Engines

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


async def upgrade(engines: Engines) -> None:
    """Bring the schema to the latest revision (a no-op when it is there already)."""

    def _upgrade(sync_conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = sync_conn
        command.upgrade(config, "head")

    def _initialise(sync_conn: Connection) -> None:
        lock = migration_lock(engines.kind)
        if lock is not None:  # several processes starting at once: one migrates, the others wait here
            sync_conn.execute(lock)
        _upgrade(sync_conn)
        if sync_conn.execute(select(schema.market_version.c.id)).first() is None:
            sync_conn.execute(insert(schema.market_version).values(id=1, version=1))

    if engines.sync_write is not None:
        with engines.sync_write.begin() as conn:
            _initialise(conn)
        return
    assert engines.write is not None
    async with engines.write.begin() as conn:
        await conn.run_sync(_initialise)
