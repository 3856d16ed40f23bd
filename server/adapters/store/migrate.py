"""Schema migrations (Alembic) run on the store's own write connection."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import insert, select

from . import schema
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

    def _upgrade(sync_conn) -> None:  # type: ignore[no-untyped-def]
        config = alembic_config()
        config.attributes["connection"] = sync_conn
        command.upgrade(config, "head")

    async with engines.write.begin() as conn:
        await conn.run_sync(_upgrade)
        has_version = (await conn.execute(select(schema.market_version.c.id))).first()
        if has_version is None:
            await conn.execute(insert(schema.market_version).values(id=1, version=1))
