"""What each mode (lane) puts in a database: the default seed, the demo seed and bootstrap, or nothing
but the approved discovery sources (real_test). Every lane stores the approved discovery sources."""

from __future__ import annotations

import logging

import msgspec

from ..adapters.store.ports import UnitOfWork
from ..domain.discovery import DiscoverySource
from ..domain.models import Base
from . import demo, seed
from .context import Services

log = logging.getLogger("promotion_agent")


class _Sources(Base, kw_only=True):
    discovery_sources: list[DiscoverySource] = []


def approved_discovery_sources(seed_path: str) -> list[DiscoverySource]:
    """The active discovery sources listed in the seed file (the only seed data real_test uses)."""
    path = seed.resolve_seed_path(seed_path)
    try:
        sources = msgspec.json.decode(path.read_bytes(), type=_Sources).discovery_sources
    except FileNotFoundError:
        raise seed.SeedError(f"seed file {path} does not exist") from None
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise seed.SeedError(f"seed file {path}: {exc}") from None
    return [source for source in sources if source.active]


async def load_discovery_sources(svc: Services, sources: list[DiscoverySource]) -> int:
    """Store the approved discovery sources not stored yet; how many were new."""

    async def work(uow: UnitOfWork) -> int:
        return sum([await uow.discovery.insert_discovery_source(source) for source in sources])

    return await svc.store.write(work)


async def discovery_sources(svc: Services) -> list[DiscoverySource]:
    return await svc.store.read(lambda uow: uow.discovery.list_discovery_sources())


async def prepare(svc: Services, *, force: bool = False) -> dict[str, int]:
    """Fill a database for the mode in force: at serve time only an empty one; ``force`` (db init) always,
    as far as that is safe (the default seed is inserted record by record, existing ones kept)."""
    settings = svc.settings
    sources = approved_discovery_sources(settings.seed_path)
    added = await load_discovery_sources(
        svc, sources
    )  # in every lane (a database made before they existed too)
    if settings.mode == "real_test":
        if added or force:
            log.info(
                "real_test: no seed market loaded; approved discovery sources: %s",
                ", ".join(f"{s.source_id} ({s.base_url})" for s in sources) or "none",
            )
        return {"discoverySources": added}
    empty = await seed.database_is_empty(svc)
    if settings.mode == "demo":
        if not empty:
            return {}
        counts = await demo.load_demo(svc)
        counts["discoverySources"] = added
        log.info("demo: loaded the demo seed and bootstrap activity: %s", counts)
        return counts
    if not (empty or force):
        return {"discoverySources": added} if added else {}
    counts = await seed.load_seed(svc, seed.read_seed(settings.seed_path))
    counts["discoverySources"] = added
    log.info("seeded the database from %s: %s", settings.seed_path, counts)
    return counts


async def prepare_for_mode(svc: Services) -> dict[str, int]:
    return await prepare(svc)
