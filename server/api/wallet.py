"""Workspace wallets and their credit ledger (spec/api.md "Wallet and Stripe": the wallet core)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter

from ..domain.lifecycle import DEFAULT_WORKSPACE_ID
from ..domain.models import ID_MAX_LENGTH, NO_NUL
from ..domain.wallet import CreditLedgerEntry, Wallet
from ..services import wallet
from ..services.context import Services
from .errors import documented
from .params import PAGING_HEADERS, CursorQuery, LimitQuery, paged

WorkspaceIdQuery = Annotated[
    str,
    QueryParameter(
        name="workspaceId",
        description=f"the workspace (default `{DEFAULT_WORKSPACE_ID}`, the workspace of campaigns created "
        "without one)",
        min_length=1,
        max_length=ID_MAX_LENGTH,
        pattern=NO_NUL,
    ),
]


class WalletController(Controller):
    path = "/wallet"
    tags = ["wallet"]

    @get(
        "/",
        responses=documented(),
        description="The workspace's wallet, created on first use with 100 credits (a `promo_grant` ledger "
        "entry). Receipts consume credits (presented 2, viewed 3, interacted 5, conversion 10); the balance "
        "may go below zero (`owedCredits`), and while `availableCredits` is 0 or less the workspace's "
        "campaigns fail the ranking's `credits` gate.",
    )
    async def get_wallet(
        self, svc: Services, workspace_id: WorkspaceIdQuery = DEFAULT_WORKSPACE_ID
    ) -> Wallet:
        return await wallet.get_wallet(svc, workspace_id)

    @get(
        "/ledger",
        responses=documented(),
        response_headers=PAGING_HEADERS,
        description="The workspace's credit ledger, newest first, as an array: signed entries with the "
        "balance after each; follow the `Link` header for the next page.",
    )
    async def ledger(
        self,
        request: Request,
        svc: Services,
        workspace_id: WorkspaceIdQuery = DEFAULT_WORKSPACE_ID,
        limit: Annotated[int, LimitQuery(wallet.LEDGER_DEFAULT_LIMIT)] = wallet.LEDGER_DEFAULT_LIMIT,
        cursor: CursorQuery = None,
    ) -> Response[list[CreditLedgerEntry]]:
        page = await wallet.page_ledger(svc, workspace_id, limit, cursor)
        return paged(request, page, limit)
