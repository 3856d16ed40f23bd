"""The policy engine (spec §3): may this campaign be shown to buyer agents at all?

Two kinds of findings. *Fail reasons* are hard rules (no disclosure, nothing to
back the offer): any one rejects the campaign. *Risk flags* are judgement calls
(bold claims, old proof, a large CPA payout): they send the campaign to an
operator (``manual_review``). A third rule, refusing placeholder data, runs
earlier, when a draft is submitted, because a campaign made of template values
should never be stored (``find_placeholder``).

The evaluation clock is a parameter, so the stale-proof rule is reproducible.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import urlsplit

from .errors import ValidationFailed
from .models import Campaign, CampaignDraft, PolicyCheckResult

# Risk-flag names (wire values).
HIGH_RISK_CLAIM = "high_risk_claim_language"
STALE_PROOF = "stale_proof_bundle"
HIGH_PAYOUT = "high_payout_requires_manual_review"

STALE_PROOF_DAYS = 180.0
HIGH_CPA_PAYOUT = 1500.0
PASSED_REASON = "Policy checks passed."

# Substring matches, as in the original: "guarantees" and "100% uptime" are both risky.
_HIGH_RISK_CLAIM = re.compile(r"100%|guaranteed?|best price|no risk|治愈|稳赚", re.IGNORECASE)


def _present(values: list[str]) -> list[str]:
    """Entries that say something: a blank claim or endpoint is no claim or endpoint."""
    return [v for v in values if v and v.strip()]


def fail_reasons(campaign: Campaign) -> list[str]:
    """The hard rules, one sentence each, in the spec's order."""
    reasons: list[str] = []
    if not campaign.disclosure_text.strip():
        reasons.append("Disclosure text is required before activation.")
    if not _present(campaign.offer.claims):
        reasons.append("At least one product claim is required.")
    if not _present(campaign.offer.action_endpoints):
        reasons.append("At least one action endpoint is required.")
    if not campaign.proof_bundle.references:
        reasons.append("The proof bundle must contain at least one reference.")
    if campaign.offer.price <= 0:
        reasons.append("The offer price must be greater than zero.")
    return reasons


def risky_claims(campaign: Campaign) -> list[str]:
    return [claim for claim in campaign.offer.claims if _HIGH_RISK_CLAIM.search(claim)]


def proof_age_days(campaign: Campaign, clock: datetime) -> float:
    """Fractional days since the proof bundle was updated (the same measure ranking uses for freshness)."""
    return (clock - campaign.proof_bundle.updated_at).total_seconds() / 86400.0


def risk_findings(campaign: Campaign, clock: datetime) -> list[tuple[str, str]]:
    """``(flag, sentence)`` for each risk flag raised, in the spec's order."""
    findings: list[tuple[str, str]] = []
    claims = risky_claims(campaign)
    if claims:
        quoted = ", ".join(f'"{c}"' for c in claims)
        findings.append(
            (
                HIGH_RISK_CLAIM,
                f"Claim language needs an operator's review (absolute or guaranteed promises): {quoted}.",
            )
        )
    age = proof_age_days(campaign, clock)
    if age > STALE_PROOF_DAYS:
        findings.append(
            (
                STALE_PROOF,
                f"The proof bundle was last updated {age:.1f} days ago (more than {STALE_PROOF_DAYS:g}); "
                "refresh it or have an operator review it.",
            )
        )
    if campaign.billing_model == "CPA" and campaign.payout_amount > HIGH_CPA_PAYOUT:
        findings.append(
            (
                HIGH_PAYOUT,
                f"A CPA payout of {campaign.payout_amount:g} {campaign.currency} is above {HIGH_CPA_PAYOUT:g} "
                "and needs an operator's review.",
            )
        )
    return findings


def check_policy(campaign: Campaign, clock: datetime, policy_check_id: str) -> PolicyCheckResult:
    """Run every rule: any fail reason → ``fail``; else any risk flag → ``manual_review``; else ``pass``.

    ``reasons`` holds the fail reasons for ``fail``, one sentence per flag for
    ``manual_review`` (so an operator sees what to look at), and
    "Policy checks passed." for ``pass``. ``riskFlags`` is always filled, even
    when the campaign also fails.
    """
    failures = fail_reasons(campaign)
    findings = risk_findings(campaign, clock)
    if failures:
        decision, reasons = "fail", failures
    elif findings:
        decision, reasons = "manual_review", [sentence for _, sentence in findings]
    else:
        decision, reasons = "pass", [PASSED_REASON]
    return PolicyCheckResult(
        policy_check_id=policy_check_id,
        campaign_id=campaign.campaign_id,
        decision=decision,
        reasons=reasons,
        risk_flags=[flag for flag, _ in findings],
        checked_at=clock,
    )


# ---------------------------------------------------------------------------
# Placeholder data (refused at campaign creation)
# ---------------------------------------------------------------------------

# "As words": the match may not touch a letter or digit on either side. Underscore
# and hyphen count as separators, so REPLACE_ME and sandbox-key are caught, while
# "examples", "counterexample", "replacement", "sandboxed" and "yours" are not.
_NOT_AFTER_ALNUM = r"(?<![^\W_])"
_NOT_BEFORE_ALNUM = r"(?![^\W_])"
_PLACEHOLDER_WORDS = re.compile(
    _NOT_AFTER_ALNUM + r"(?:(?:replace|placeholder|example|sandbox)" + _NOT_BEFORE_ALNUM + r"|your[-_ ])",
    re.IGNORECASE,
)
_PLACEHOLDER_DOMAIN = "example.com"
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _url_host(value: str) -> str | None:
    """The lower-cased host when ``value`` is an absolute http(s) URL, else None."""
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return host.lower()


def is_placeholder(value: str) -> bool:
    """True for template data: an example.com URL (or subdomain) or a placeholder word; localhost URLs pass."""
    host = _url_host(value)
    if host is not None:
        if host in _LOCAL_HOSTS or host.endswith(".localhost"):
            return False  # local development endpoints are real enough
        if host == _PLACEHOLDER_DOMAIN or host.endswith("." + _PLACEHOLDER_DOMAIN):
            return True
    return _PLACEHOLDER_WORDS.search(value) is not None


def draft_text_fields(draft: CampaignDraft) -> Iterator[tuple[str, str]]:
    """Every free-text and URL field of a draft as ``(camelCase path, value)``, in document order."""
    yield "advertiser", draft.advertiser
    if draft.external_ref:
        yield "externalRef", draft.external_ref
    if draft.source_document_url:
        yield "sourceDocumentUrl", draft.source_document_url
    yield "disclosureText", draft.disclosure_text
    product = draft.product
    yield "product.name", product.name
    yield "product.description", product.description
    for i, claim in enumerate(product.claims):
        yield f"product.claims[{i}]", claim
    for i, url in enumerate(product.action_endpoints):
        yield f"product.actionEndpoints[{i}]", url
    for i, bullet in enumerate(product.positioning_bullets):
        yield f"product.positioningBullets[{i}]", bullet
    for i, ref in enumerate(draft.proof_references):
        yield f"proofReferences[{i}].label", ref.label
        yield f"proofReferences[{i}].url", ref.url
    if draft.link_bundle is not None:
        for name in ("homepage_url", "product_detail_url", "proof_url", "conversion_url", "contact_url"):
            value = getattr(draft.link_bundle, name)
            if value:
                camel = name.split("_")[0] + "".join(w.capitalize() for w in name.split("_")[1:])
                yield f"linkBundle.{camel}", value


def find_placeholder(draft: CampaignDraft) -> tuple[str, str] | None:
    """The first field holding placeholder data as ``(path, value)``, or None when the draft is real."""
    for path, value in draft_text_fields(draft):
        if value and is_placeholder(value):
            return path, value
    return None


def ensure_no_placeholder(draft: CampaignDraft) -> None:
    """Raise ``ValidationFailed`` (400, naming the field) when the draft holds placeholder data."""
    found = find_placeholder(draft)
    if found is not None:
        path, value = found
        raise ValidationFailed(
            f"{path} looks like placeholder data ({value!r}); a real value is needed.",
            field=path,
        )
