"""The dashboard: counts and amounts across the exchange."""

from __future__ import annotations

from litestar import Controller, get

from ..services import dashboard
from ..services.context import Services
from .errors import documented


class DashboardController(Controller):
    tags = ["dashboard and audit"]

    @get("/dashboard", responses=documented())
    async def dashboard(self, svc: Services) -> dashboard.Dashboard:
        return await dashboard.dashboard(svc)
