"""Wallet and credit rules (spec §6 "Credits", §5 ``credits_ok``), with the spec's numbers."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from server.domain import wallet as rules
from server.domain.errors import ValidationFailed
from server.domain.wallet import WalletBalance

CLOCK = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("event_type", "credits"),
    [
        ("offer.presented", 2), ("presented", 2), ("shown", 2),
        ("owner.viewed", 3), ("viewed", 3), ("detail_view", 3),
        ("owner.interacted", 5), ("interacted", 5), ("handoff", 5),
        ("conversion.attributed", 10), ("conversion", 10),
        ("offer.shortlisted", 0), ("shortlisted", 0),
        ("delivery.sent", 0), ("offer.eligible", 0),
    ],
)  # fmt: skip
def test_a_receipt_consumes_the_spec_credits(event_type: str, credits: int) -> None:
    assert rules.receipt_charge(event_type, "not_required") == credits * rules.MILLI
    assert rules.receipt_charge(event_type, "verified") == credits * rules.MILLI


def test_a_receipt_that_failed_verification_costs_nothing() -> None:
    assert rules.receipt_charge("conversion", "failed") == 0


def test_a_new_wallet_holds_the_promo_grant_and_charges_go_below_zero() -> None:
    balance = WalletBalance(available=rules.PROMO_GRANT_CREDITS * rules.MILLI)
    assert rules.PROMO_GRANT_CREDITS == 100
    for event in ["presented", "viewed", "interacted", "conversion"] * 5:  # 20 credits a round
        balance = balance.apply(-rules.receipt_charge(event, "not_required"))
    assert balance == WalletBalance(available=0, consumed=100_000)
    balance = balance.apply(-rules.receipt_charge("presented", "not_required"))
    assert rules.from_milli(balance.available) == -2.0  # never refused: the balance is owed
    assert rules.from_milli(balance.consumed) == 102.0
    view = rules.wallet_view("ws", balance, CLOCK)
    assert (view.available_credits, view.owed_credits, view.consumed_credits) == (-2.0, 2.0, 102.0)
    topped = balance.apply(10 * rules.MILLI)  # a credit adds to available, not to consumed
    assert (topped.available, topped.consumed) == (8_000, 102_000)


def test_the_credits_gate_is_open_only_above_zero() -> None:
    assert rules.credits_ok(None)  # no wallet yet: the promo grant is waiting
    assert rules.credits_ok(1)  # a thousandth of a credit left
    assert not rules.credits_ok(0)
    assert not rules.credits_ok(-7_500)
    assert rules.gate_changed(2_000, 0) and rules.gate_changed(-1, 5)
    assert not rules.gate_changed(5_000, 3_000) and not rules.gate_changed(0, -2_000)


def test_credits_are_kept_in_exact_thousandths() -> None:
    assert rules.to_milli(12.5) == 12_500
    assert rules.to_milli(0.1) + rules.to_milli(0.2) == rules.to_milli(0.3)
    assert rules.from_milli(rules.to_milli(12.5) - 2_000) == 10.5
    for bad in (float("nan"), float("inf"), 2e12, True, "3"):
        with pytest.raises(ValidationFailed) as err:
            rules.to_milli(bad, "availableCredits")  # type: ignore[arg-type]
        assert err.value.field == "availableCredits"


def test_ledger_sources_name_what_caused_an_entry() -> None:
    assert rules.receipt_source("rcpt_1") == "receipt:rcpt_1"
    assert rules.promo_grant_source("ws_a") == "promo_grant:ws_a"
    assert rules.seed_grant_source("ws_a") == "seed:ws_a"
    entry = rules.ledger_entry(
        entry_id="led_1", workspace_id="ws_a", entry_type="receipt_charge", amount=-2_000, balance_after=98_000,
        source="receipt:rcpt_1", campaign_id="cmp_a", occurred_at=CLOCK,
    )  # fmt: skip
    assert msgspec.to_builtins(entry) == {
        "entryId": "led_1", "workspaceId": "ws_a", "entryType": "receipt_charge", "amount": -2.0,
        "balanceAfter": 98.0, "source": "receipt:rcpt_1", "campaignId": "cmp_a",
        "occurredAt": "2026-03-11T12:00:00Z",
    }  # fmt: skip
