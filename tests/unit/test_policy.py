"""The policy engine and the placeholder rule (spec §3)."""

from __future__ import annotations

import json
from datetime import timedelta

import msgspec
import pytest

from server.domain.errors import ValidationFailed
from server.domain.models import CampaignDraft
from server.domain.policy import (
    HIGH_PAYOUT,
    HIGH_RISK_CLAIM,
    PASSED_REASON,
    STALE_PROOF,
    check_policy,
    ensure_no_placeholder,
    find_placeholder,
    is_placeholder,
)

from .factories import (
    SEED_CLOCK,
    SHARED_TEMPLATE_PATH,
    TEMPLATE_PATH,
    draft,
    draft_dict,
    hubflow,
    replace,
    seed_campaigns,
    signalstack,
    with_offer,
    with_proof,
)

DISCLOSURE = "Disclosure text is required before activation."
CLAIMS = "At least one product claim is required."
ENDPOINTS = "At least one action endpoint is required."
PROOF = "The proof bundle must contain at least one reference."
PRICE = "The offer price must be greater than zero."


def check(campaign, clock=SEED_CLOCK):
    return check_policy(campaign, clock, "pol_0000abcd")


# ---------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------


def test_seed_campaigns_pass():
    for campaign in seed_campaigns():
        result = check(campaign)
        assert result.decision == "pass"
        assert result.reasons == [PASSED_REASON] == ["Policy checks passed."]
        assert result.risk_flags == []
        assert result.policy_check_id == "pol_0000abcd"
        assert result.campaign_id == campaign.campaign_id
        assert result.checked_at == SEED_CLOCK


@pytest.mark.parametrize(
    ("campaign", "reason"),
    [
        (replace(hubflow(), disclosure_text=""), DISCLOSURE),
        (replace(hubflow(), disclosure_text=" \n\t "), DISCLOSURE),
        (with_offer(hubflow(), claims=[]), CLAIMS),
        (with_offer(hubflow(), claims=["", "  "]), CLAIMS),
        (with_offer(hubflow(), action_endpoints=[]), ENDPOINTS),
        (with_offer(hubflow(), action_endpoints=[" "]), ENDPOINTS),
        (with_proof(hubflow(), references=[]), PROOF),
        (with_offer(hubflow(), price=0.0), PRICE),
        (with_offer(hubflow(), price=-1.0), PRICE),
    ],
)
def test_each_fail_reason_alone(campaign, reason):
    result = check(campaign)
    assert result.decision == "fail"
    assert result.reasons == [reason]
    assert result.risk_flags == []


def test_all_fail_reasons_in_order():
    c = replace(hubflow(), disclosure_text="")
    c = with_offer(c, claims=[], action_endpoints=[], price=0.0)
    c = with_proof(c, references=[])
    assert check(c).reasons == [DISCLOSURE, CLAIMS, ENDPOINTS, PROOF, PRICE]


def test_a_small_positive_price_passes():
    assert check(with_offer(hubflow(), price=0.01)).decision == "pass"


@pytest.mark.parametrize(
    "claim",
    [
        "100% uptime",
        "Guaranteed results",
        "We guarantee ROI",
        "GUARANTEES included",
        "Best price in the market",
        "BEST PRICE",
        "No risk trial",
        "no RISK",
        "可以治愈",
        "稳赚不赔",
    ],
)
def test_high_risk_claim_language(claim):
    result = check(with_offer(hubflow(), claims=["ISO 27001 certified", claim]))
    assert result.decision == "manual_review"
    assert result.risk_flags == [HIGH_RISK_CLAIM] == ["high_risk_claim_language"]
    (reason,) = result.reasons
    assert claim in reason  # the operator sees which claim


@pytest.mark.parametrize(
    "claim", ["99.9% uptime", "Best-in-class support", "Low risk of churn", "Price match"]
)
def test_ordinary_claims_are_not_risky(claim):
    assert check(with_offer(hubflow(), claims=[claim])).decision == "pass"


def test_stale_proof_bundle_boundary_is_180_days_fractional():
    exactly = with_proof(hubflow(), updated_at=SEED_CLOCK - timedelta(days=180))
    assert check(exactly).decision == "pass"
    one_second_more = with_proof(hubflow(), updated_at=SEED_CLOCK - timedelta(days=180, seconds=1))
    result = check(one_second_more)
    assert result.decision == "manual_review" and result.risk_flags == [STALE_PROOF] == ["stale_proof_bundle"]
    half_day = with_proof(hubflow(), updated_at=SEED_CLOCK - timedelta(days=180.5))
    (reason,) = check(half_day).reasons
    assert "180.5 days" in reason and "180" in reason


def test_stale_depends_on_the_injected_clock():
    c = hubflow()  # proof updated 2026-03-01
    assert check(c, SEED_CLOCK).decision == "pass"
    assert check(c, SEED_CLOCK + timedelta(days=200)).risk_flags == [STALE_PROOF]


def test_high_cpa_payout_boundary():
    assert check(replace(signalstack(), payout_amount=1500.0)).decision == "pass"
    result = check(replace(signalstack(), payout_amount=1500.01))
    assert result.decision == "manual_review"
    assert result.risk_flags == [HIGH_PAYOUT] == ["high_payout_requires_manual_review"]
    assert "1500.01 USD" in result.reasons[0]


def test_high_cpqr_payout_needs_no_review():
    assert check(replace(hubflow(), payout_amount=5000.0)).decision == "pass"


def test_all_flags_in_order_with_one_reason_each():
    c = replace(signalstack(), payout_amount=2000.0)
    c = with_offer(c, claims=["100% guaranteed"])
    c = with_proof(c, updated_at=SEED_CLOCK - timedelta(days=365))
    result = check(c)
    assert result.decision == "manual_review"
    assert result.risk_flags == [HIGH_RISK_CLAIM, STALE_PROOF, HIGH_PAYOUT]
    assert len(result.reasons) == 3 and PASSED_REASON not in result.reasons


def test_fail_wins_over_flags_and_keeps_them():
    c = with_offer(replace(hubflow(), disclosure_text=""), claims=["Guaranteed"])
    result = check(c)
    assert result.decision == "fail"
    assert result.reasons == [DISCLOSURE]
    assert result.risk_flags == [HIGH_RISK_CLAIM]


# ---------------------------------------------------------------------------
# Placeholder data
# ---------------------------------------------------------------------------


def template_drafts() -> list[CampaignDraft]:
    return [msgspec.convert(item, CampaignDraft) for item in json.loads(TEMPLATE_PATH.read_text())]


def test_the_original_template_is_accepted_as_is():
    drafts = template_drafts()
    assert drafts  # "activate" and any other extra key is ignored on decoding
    for d in drafts:
        assert find_placeholder(d) is None
        ensure_no_placeholder(d)  # does not raise


@pytest.mark.skipif(not SHARED_TEMPLATE_PATH.exists(), reason="shared fixtures not present")
def test_the_template_copy_matches_the_shared_fixture():
    assert json.loads(TEMPLATE_PATH.read_text()) == json.loads(SHARED_TEMPLATE_PATH.read_text())


def test_query_strings_with_underscored_words_are_not_placeholders():
    url = "https://lumio-b-end-platform.vercel.app/?page=workspace&workspace_mode=local_lab&lab_actor_id=x_01"
    assert not is_placeholder(url)


def test_a_valid_draft_has_no_placeholder():
    assert find_placeholder(draft()) is None


def _product(**changes):
    p = draft_dict()["product"]
    p.update(changes)
    return p


@pytest.mark.parametrize(
    ("overrides", "path", "value"),
    [
        ({"advertiser": "Your Company"}, "advertiser", "Your Company"),
        ({"externalRef": "replace-with-ref"}, "externalRef", "replace-with-ref"),
        ({"sourceDocumentUrl": "https://example.com/doc"}, "sourceDocumentUrl", "https://example.com/doc"),
        ({"disclosureText": "PLACEHOLDER disclosure"}, "disclosureText", "PLACEHOLDER disclosure"),
        ({"product": _product(name="Sandbox CRM")}, "product.name", "Sandbox CRM"),
        (
            {"product": _product(description="your_product does x")},
            "product.description",
            "your_product does x",
        ),
        ({"product": _product(claims=["SOC 2", "REPLACE_ME"])}, "product.claims[1]", "REPLACE_ME"),
        (
            {"product": _product(actionEndpoints=["https://api.example.com/demo"])},
            "product.actionEndpoints[0]",
            "https://api.example.com/demo",
        ),
        (
            {"product": _product(positioningBullets=["your-feature"])},
            "product.positioningBullets[0]",
            "your-feature",
        ),
        (
            {
                "proofReferences": [
                    {"label": "Example proof", "type": "doc", "url": "https://acme-analytics.io/p"}
                ]
            },
            "proofReferences[0].label",
            "Example proof",
        ),
        (
            {"proofReferences": [{"label": "Proof", "type": "doc", "url": "https://EXAMPLE.COM/proof"}]},
            "proofReferences[0].url",
            "https://EXAMPLE.COM/proof",
        ),
        (
            {
                "linkBundle": {
                    "homepageUrl": "https://acme-analytics.io",
                    "conversionUrl": "https://www.example.com",
                }
            },
            "linkBundle.conversionUrl",
            "https://www.example.com",
        ),
    ],
)
def test_placeholder_found_with_its_field_path(overrides, path, value):
    d = draft(**overrides)
    assert find_placeholder(d) == (path, value)
    with pytest.raises(ValidationFailed) as err:
        ensure_no_placeholder(d)
    assert err.value.field == path
    assert "real value" in err.value.message


def test_the_first_offending_field_in_document_order_is_reported():
    d = draft(advertiser="Example Corp", product=_product(name="Sandbox CRM"))
    assert find_placeholder(d) == ("advertiser", "Example Corp")


@pytest.mark.parametrize(
    "value",
    [
        "https://example.com",
        "http://example.com:8080/x",
        "https://docs.example.com/x",
        "https://a.b.example.com",
        "https://www.example.org/x",  # the word rule
        "replace",
        "Replace with your URL",
        "replace-with-real-key",
        "REPLACE_ME",
        "placeholder",
        "a placeholder_value",
        "your-company",
        "YOUR_API_KEY",
        "for your team",  # "your " followed by a space is on the spec's list
        "example",
        "An Example",
        "sandbox",
        "Sandbox-Key",
        "https://acme-analytics.io/sandbox/demo",
    ],
)
def test_placeholder_positives(value):
    assert is_placeholder(value)


@pytest.mark.parametrize(
    "value",
    [
        "http://localhost:3000/example/demo",  # localhost URLs are allowed, whatever their path
        "http://127.0.0.1:8080/sandbox",
        "http://[::1]:9000/placeholder",
        "http://agent.localhost/your-endpoint",
        "https://notexample.com/x",  # not example.com nor a subdomain of it
        "https://acme-analytics.io/examples",  # "examples" is another word
        "Counterexample analysis",
        "Replacement parts",
        "Sandboxed execution",
        "Yours truly",
        "Your",  # "your" alone is not on the list; "your " (with a space) is
        "ISO 27001 certified",
        "",
    ],
)
def test_placeholder_negatives(value):
    assert not is_placeholder(value)


def test_localhost_endpoints_pass_in_a_draft():
    d = draft(product=_product(actionEndpoints=["http://localhost:4000/demo"]))
    assert find_placeholder(d) is None
