"""Proof 2 at suite counts (``python -m tests.chaos.storms --full`` for 10,000 receipts)."""

from __future__ import annotations

import pytest

from . import storms
from .harness import Stack


@pytest.mark.timeout(300)
@pytest.mark.parametrize("deployment", storms.DEPLOYMENTS)
def test_a_duplicate_storm_bills_each_key_once_within_budget(stack: Stack, deployment: str) -> None:
    f = storms.prove(stack, deployment, storms.SUITE)
    assert f["requestsSent"] == f["receipts"] * 3
    assert (f["answers4xx"], f["answers5xx"], f["noAnswer"]) == (0, 0, 0), f["_errors"]
    assert f["answers2xx"] == f["requestsSent"] and f["answers201"] == f["receipts"]
    assert f["receiptsNotExactlyOnce201"] == 0 and f["copiesNamingDifferentSettlements"] == 0
    assert f["keysAnsweredWithTwoSettlements"] == 0
    assert f["receiptsStored"] == f["receipts"]
    assert f["duplicatedSettlements"] == 0
    assert f["settlements"] == f["settlementsExpected"], f
    assert f["smallBudgetBills"] == storms.BUDGET_FITS and f["campaignsOverBudget"] == 0
    assert f["receiptsWithMissingSettlement"] == f["settlementsWithoutRetryJob"] == 0
    assert f["billableReceiptsWithoutSettlement"] == 0
