"""Every HTTP route of the server, one controller per resource (each a thin layer over one service)."""

from __future__ import annotations

from typing import Any

from .audit import AuditController
from .campaigns import CampaignsController
from .dashboard import DashboardController
from .dlq import DeadLetterController
from .leads import LeadsController
from .opportunities import OpportunitiesController
from .outreach import OutreachController
from .pages import PAGE_HANDLERS
from .partners import PartnersController
from .ranking_config import RankingConfigController
from .settlements import SettlementsController
from .system import SystemController
from .top_ups import PlansController, StripeWebhookController, TopUpController
from .wallet import WalletController

ROUTES: list[Any] = [
    SystemController,
    RankingConfigController,
    LeadsController,
    OutreachController,
    PartnersController,
    CampaignsController,
    OpportunitiesController,
    SettlementsController,
    DeadLetterController,
    DashboardController,
    AuditController,
    WalletController,
    PlansController,
    TopUpController,
    StripeWebhookController,
    *PAGE_HANDLERS,
]
