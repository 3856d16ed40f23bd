"""System: health and the runtime profile (the ranking config is ``ranking_config``)."""

from __future__ import annotations

from litestar import Controller, get

from ..domain.models import Base
from ..modes import IMPLIES
from ..services.context import Services


class Health(Base, kw_only=True):
    ok: bool
    service: str
    persistence: str
    hot_state: str
    billing_mode: str


class RuntimeProfile(Base, kw_only=True):
    mode: str
    persistence: str
    hot_state: str
    billing_mode: str
    demo_enabled: bool
    real_data_only: bool
    default_lead_filter: list[str]
    # What the mode means for this server, in a sentence (server/modes.py).
    implies: str = ""


def runtime_profile(svc: Services) -> RuntimeProfile:
    return RuntimeProfile(
        mode=svc.settings.mode,
        persistence=svc.store.kind,
        hot_state=svc.hot.kind,
        billing_mode=svc.gateway.mode,
        demo_enabled=svc.settings.demo_enabled,
        real_data_only=svc.settings.real_data_only,
        default_lead_filter=svc.settings.default_lead_filter,
        implies=IMPLIES[svc.settings.mode],
    )


class SystemController(Controller):
    tags = ["system"]

    @get("/health")
    async def health(self, svc: Services) -> Health:
        return Health(
            ok=True,
            service="promotion-agent",
            persistence=svc.store.kind,
            hot_state=svc.hot.kind,
            billing_mode=svc.gateway.mode,
        )

    @get("/system/runtime-profile")
    async def profile(self, svc: Services) -> RuntimeProfile:
        return runtime_profile(svc)
