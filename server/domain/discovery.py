"""Discovery sources: the registries and directories buyer agents are found in (the seed's ``discoverySources``).

A lead whose endpoint is on a registry's own host is a listing on that registry,
not the agent itself: it is never promoted to a partner by ``import partners``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .models import Base


class DiscoverySource(Base, kw_only=True):
    source_id: str
    source_type: str
    name: str
    base_url: str
    seed_urls: list[str] = []
    active: bool = True


def registry_hosts(sources: list[DiscoverySource]) -> set[str]:
    """The hosts of the registries themselves (base and seed URLs), lower-case."""
    hosts: set[str] = set()
    for source in sources:
        for url in [source.base_url, *source.seed_urls]:
            host = (urlsplit(url).hostname or "").lower()
            if host:
                hosts.add(host)
    return hosts


def on_registry_host(endpoint_url: str | None, hosts: set[str]) -> bool:
    return (urlsplit(endpoint_url or "").hostname or "").lower() in hosts
