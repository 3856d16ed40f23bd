"""The campaign lifecycle (spec §4): review, activation, operator decisions, and building from a draft."""

from __future__ import annotations

import json

import msgspec
import pytest

from server.domain.errors import Conflict, ValidationFailed
from server.domain.lifecycle import (
    activation,
    activation_refusal,
    apply_review,
    campaign_from_draft,
    operator_decision,
)
from server.domain.models import CampaignDraft, LinkBundle, PolicyCheckResult
from server.domain.policy import check_policy

from .factories import SEED_CLOCK, TEMPLATE_PATH, draft, hubflow, replace


def a_check(decision: str, campaign_id: str = "cmp_hubflow", flags=()) -> PolicyCheckResult:
    return PolicyCheckResult(
        policy_check_id="pol_1",
        campaign_id=campaign_id,
        decision=decision,
        reasons=["Policy checks passed."] if decision == "pass" else ["Something."],
        risk_flags=list(flags),
        checked_at=SEED_CLOCK,
    )


def in_state(status: str, policy_pass: bool = False):
    return replace(hubflow(), status=status, policy_pass=policy_pass)


# ---------------------------------------------------------------------------
# Building a campaign from a draft
# ---------------------------------------------------------------------------


def test_campaign_from_draft_defaults():
    d = draft()
    c = campaign_from_draft(d, "cmp_1", "offer_1", "proof_1", SEED_CLOCK)
    assert c.campaign_id == "cmp_1"
    assert c.status == "draft" and c.policy_pass is False
    assert c.workspace_id == "workspace_default"
    assert c.data_provenance == "real_campaign"
    assert c.min_trust == 0.65
    assert c.link_bundle == LinkBundle()
    assert c.offer.offer_id == "offer_1" and c.offer.title == "Acme CRM"
    assert c.offer.narrative_variants.rational == "Acme CRM focuses on measurable value: fast setup."
    assert c.proof_bundle.proof_bundle_id == "proof_1"
    assert c.proof_bundle.updated_at == SEED_CLOCK
    assert [r.url for r in c.proof_bundle.references] == ["https://acme-analytics.io/security"]
    assert (c.advertiser, c.category, c.regions, c.billing_model) == (
        "Acme Analytics",
        "crm_software",
        ["UK"],
        "CPQR",
    )
    assert (c.payout_amount, c.currency, c.budget) == (100, "USD", 5000)
    assert c.disclosure_text == "Sponsored recommendation from Acme Analytics."


def test_campaign_from_draft_keeps_given_values():
    d = draft(
        workspaceId="ws_acme",
        minTrust=0.8,
        targetingPartnerIds=["partner_procure_pilot"],
        linkBundle={"homepageUrl": "https://acme-analytics.io"},
        dataProvenance="ops_manual",
    )
    c = campaign_from_draft(d, "cmp_1", "offer_1", "proof_1", SEED_CLOCK)
    assert c.workspace_id == "ws_acme"
    assert c.min_trust == 0.8
    assert c.targeting_partner_ids == ["partner_procure_pilot"]
    assert c.link_bundle.homepage_url == "https://acme-analytics.io"
    assert c.data_provenance == "ops_manual"


def test_the_template_goes_from_draft_to_active():
    (raw,) = json.loads(TEMPLATE_PATH.read_text())
    c = campaign_from_draft(
        msgspec.convert(raw, CampaignDraft), "cmp_lumio", "offer_lumio", "proof_lumio", SEED_CLOCK
    )
    result = check_policy(c, SEED_CLOCK, "pol_1")
    assert result.decision == "pass"
    reviewed = apply_review(c, result)
    assert (reviewed.status, reviewed.policy_pass) == ("reviewing", True)
    active, activated = activation(reviewed, result)
    assert activated and active.status == "active"


# ---------------------------------------------------------------------------
# Review
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "status", "policy_pass"),
    [("pass", "reviewing", True), ("manual_review", "reviewing", False), ("fail", "rejected", False)],
)
@pytest.mark.parametrize("start", ["draft", "reviewing", "active", "paused"])
def test_apply_review(start, decision, status, policy_pass):
    c = apply_review(in_state(start, policy_pass=not policy_pass), a_check(decision))
    assert (c.status, c.policy_pass) == (status, policy_pass)


def test_a_check_for_another_campaign_is_a_programming_error():
    with pytest.raises(ValueError):
        apply_review(hubflow(), a_check("pass", campaign_id="cmp_other"))


# ---------------------------------------------------------------------------
# Activation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("start", ["draft", "reviewing", "paused"])
def test_activation_with_a_passing_check(start):
    c, activated = activation(in_state(start), a_check("pass"))
    assert activated is True
    assert (c.status, c.policy_pass) == ("active", True)


@pytest.mark.parametrize("start", ["draft", "reviewing", "paused"])
def test_activation_with_a_failing_check_rejects(start):
    c, activated = activation(in_state(start, policy_pass=True), a_check("fail"))
    assert activated is False
    assert (c.status, c.policy_pass) == ("rejected", False)


def test_activation_in_manual_review_stays_reviewing():
    before = in_state("reviewing")
    c, activated = activation(before, a_check("manual_review", flags=["stale_proof_bundle"]))
    assert activated is False
    assert c == before
    assert "stale_proof_bundle" in activation_refusal(
        c, a_check("manual_review", flags=["stale_proof_bundle"])
    )


def test_activation_of_a_paused_campaign_in_manual_review_stays_paused():
    c, activated = activation(in_state("paused"), a_check("manual_review"))
    assert activated is False and c.status == "paused"


def test_activating_a_rejected_campaign_is_a_conflict():
    with pytest.raises(Conflict) as err:
        activation(in_state("rejected"), a_check("pass"))
    assert "rejected" in err.value.message and "cmp_hubflow" in err.value.message
    assert err.value.status_code == 409
    assert err.value.to_body()["activated"] is False


def test_activating_an_active_campaign_is_idempotent():
    before = in_state("active", policy_pass=True)
    c, activated = activation(before, a_check("pass"))
    assert activated is True and c is before


def test_activation_refusal_for_a_failed_check_lists_its_reasons():
    check = a_check("fail")
    c, _ = activation(in_state("reviewing"), check)
    assert activation_refusal(c, check) == "Campaign cmp_hubflow failed the policy check: Something."


# ---------------------------------------------------------------------------
# Operator decisions
# ---------------------------------------------------------------------------


def test_approve_then_activate():
    check = a_check("manual_review", flags=["high_payout_requires_manual_review"])
    reviewed = apply_review(in_state("draft"), check)
    assert (reviewed.status, reviewed.policy_pass) == ("reviewing", False)
    approved = operator_decision(reviewed, "approve", "Payout agreed with finance.")
    assert (approved.status, approved.policy_pass) == ("reviewing", True)
    active, activated = activation(approved, check)
    assert activated and active.status == "active"


def test_a_re_review_with_flags_withdraws_an_approval():
    check = a_check("manual_review")
    approved = operator_decision(apply_review(in_state("draft"), check), "approve", None)
    again = apply_review(approved, check)
    assert again.policy_pass is False
    assert activation(again, check)[1] is False


def test_reject_in_review():
    c = operator_decision(in_state("reviewing"), "reject", "Claims are misleading.")
    assert (c.status, c.policy_pass) == ("rejected", False)


@pytest.mark.parametrize("status", ["draft", "active", "paused", "rejected"])
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_operator_decisions_only_in_review(status, decision):
    with pytest.raises(Conflict) as err:
        operator_decision(in_state(status), decision, None)
    assert status in err.value.message


def test_unknown_operator_decision():
    with pytest.raises(ValidationFailed) as err:
        operator_decision(in_state("reviewing"), "maybe", None)
    assert err.value.field == "decision"
