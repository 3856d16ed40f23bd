"""The Litestar application: wiring settings → adapters → services → controllers."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components
from sqlalchemy.exc import SQLAlchemyError

from .adapters.billing import gateway_from_settings
from .adapters.hot_state import HotState, MemoryHotState
from .adapters.store.engine import DatabaseUnavailable, create_engines, redacted
from .adapters.store.migrate import upgrade
from .adapters.store.store import SqlStore
from .api.auth import document_security, key_guard, security_components
from .api.errors import EXCEPTION_HANDLERS, MAX_BODY_BYTES, screen_raw_input
from .api.routes import ROUTES
from .api.strict import StrictJsonBody
from .heap import settle_heap
from .modes import IMPLIES, refuse_demo_records
from .services.access import access_from_settings, current_caller
from .services.context import Services, evaluation_clock
from .services.demo import demo_clock
from .services.lanes import prepare_for_mode
from .settings import Settings, load_signing_secrets

log = logging.getLogger("promotion_agent")


async def build_services(settings: Settings, *, load_seed: bool = True) -> Services:
    """Open the store (migrating it), hot state and billing gateway; seed an empty database."""
    engines = create_engines(settings.database_url)
    store = SqlStore(engines, carry=(current_caller,))
    try:
        if settings.mode == "real_test":
            await refuse_demo_records(engines)  # before any schema change or write
        await upgrade(engines)
    except (OSError, SQLAlchemyError) as exc:
        await store.close()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseUnavailable(
            f"the database at {redacted(engines.url)} cannot be used: {reason}"
        ) from None
    except BaseException:
        await store.close()
        raise
    try:
        hot = await hot_state_from_settings(settings)
    except Exception:
        await store.close()
        raise
    try:
        secrets = (
            load_signing_secrets(settings.receipt_signing_secrets) if settings.receipt_signing_secrets else {}
        )
    except Exception:
        await hot.close()
        await store.close()
        raise
    gateway = gateway_from_settings(settings)
    svc = Services(
        store=store,
        hot=hot,
        gateway=gateway,
        settings=settings,
        ranking=settings.ranking,
        evaluation_clock=evaluation_clock(settings.exchange_clock),
    )
    svc.state["receipt_secrets"] = secrets
    if settings.mode == "demo":
        svc.clock = demo_clock()
    if load_seed:
        await prepare_for_mode(svc)
    return svc


async def hot_state_from_settings(settings: Settings) -> HotState:
    """Redis when REDIS_URL is set (checked with a ping), else in-process memory."""
    if not settings.redis_url:
        return MemoryHotState(settings.hot_state_namespace, settings.hot_state_version)
    from .adapters.redis_hot_state import RedisHotState

    hot = RedisHotState(settings.redis_url, settings.hot_state_namespace, settings.hot_state_version)
    try:
        await hot.ping()
    except Exception:
        await hot.close()
        raise
    return hot


def _provide_services(state: State) -> Services:
    return state.svc


def create_app(settings: Settings | None = None, services: Services | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    policy = access_from_settings(settings)  # the keys file is read here: a bad one stops the start
    access = policy.describe() if policy else "none (loopback only)"

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        svc = services or await build_services(settings)
        app.state.svc = svc
        if os.environ.get("GC_FREEZE") == "1":  # set by ``promotion-agent serve`` (``serving.settle_heap``)
            settle_heap()
        log.info(
            "promotion-agent ready: mode=%s persistence=%s hotState=%s billing=%s keys=%s "
            "ranking=%s clock=%s (%s)",
            settings.mode,
            svc.store.kind,
            svc.hot.kind,
            svc.gateway.mode,
            access,
            settings.ranking_config_file or "defaults",
            settings.exchange_clock.describe(),
            IMPLIES[settings.mode],
        )
        try:
            yield
        finally:
            if services is None:
                await svc.close()

    app = Litestar(
        route_handlers=ROUTES,
        dependencies={"svc": Provide(_provide_services, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=screen_raw_input,
        guards=[key_guard(policy)] if policy else None,
        dto=StrictJsonBody,  # every JSON body decoded strictly, into the handler's type (api/strict.py)
        request_max_body_size=MAX_BODY_BYTES,
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="promotion-agent",
            version="0.1.0",
            description="The promotion exchange: sponsored shortlists for AI buyer agents, receipts, "
            "billing and settlement, workspace credits.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
            components=security_components() if policy else Components(),
        ),
        debug=False,
    )
    if policy:
        document_security(app, policy)
    return app
