"""What each mode (lane) puts in a database: the default seed, the demo seed and bootstrap, or nothing
but the approved discovery sources (real_test)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import msgspec

from ..domain.models import Base
from . import demo, seed
from .context import Services

log = logging.getLogger("promotion_agent")


class DiscoverySource(Base, kw_only=True):
    """A registry or directory buyer agents are discovered in (the seed's ``discoverySources``)."""

    source_id: str
    source_type: str
    name: str
    base_url: str
    seed_urls: list[str] = []
    active: bool = True


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


def registry_hosts(sources: list[DiscoverySource]) -> set[str]:
    """The hosts of the registries themselves (a lead whose endpoint is on one is a listing, not an agent)."""
    hosts: set[str] = set()
    for source in sources:
        for url in [source.base_url, *source.seed_urls]:
            host = (urlsplit(url).hostname or "").lower()
            if host:
                hosts.add(host)
    return hosts


async def prepare(svc: Services, *, force: bool = False) -> dict[str, int]:
    """Fill a database for the mode in force: at serve time only an empty one; ``force`` (db init) always,
    as far as that is safe (the default seed is inserted record by record, existing ones kept)."""
    settings = svc.settings
    if settings.mode == "real_test":
        sources = approved_discovery_sources(settings.seed_path)
        log.info(
            "real_test: no seed market loaded; approved discovery sources: %s",
            ", ".join(f"{s.source_id} ({s.base_url})" for s in sources) or "none",
        )
        return {"discoverySources": len(sources)}
    empty = await seed.database_is_empty(svc)
    if settings.mode == "demo":
        if not empty:
            return {}
        counts = await demo.load_demo(svc)
        log.info("demo: loaded the demo seed and bootstrap activity: %s", counts)
        return counts
    if not (empty or force):
        return {}
    counts = await seed.load_seed(svc, seed.read_seed(settings.seed_path))
    log.info("seeded the database from %s: %s", settings.seed_path, counts)
    return counts


async def prepare_for_mode(svc: Services) -> dict[str, int]:
    return await prepare(svc)
