"""The offer compiler (spec §2): the OfferCard and the exact narrative strings."""

from __future__ import annotations

import json

import msgspec
import pytest

from server.domain.compiler import compile_offer, narrative_variants, positioning
from server.domain.models import CampaignDraft, ProductDraft

from .factories import TEMPLATE_PATH


def product(**overrides) -> ProductDraft:
    fields = {
        "name": "Acme CRM",
        "description": "A CRM for small teams.",
        "price": 49.0,
        "currency": "USD",
        "intended_for": ["compare_and_shortlist", "vendor_discovery"],
        "constraints": {"company_size": "10-50"},
        "claims": ["SOC 2 Type II"],
        "action_endpoints": ["https://acme-analytics.io/demo"],
        "positioning_bullets": ["fast setup", "clear pricing", "local support"],
    }
    fields.update(overrides)
    return ProductDraft(**fields)


def test_narratives_with_bullets_use_the_first_two():
    v = narrative_variants(product())
    assert v.rational == "Acme CRM focuses on measurable value: fast setup; clear pricing."
    assert v.premium == "Acme CRM delivers a polished buying experience with fast setup; clear pricing."
    assert (
        v.simple
        == "Acme CRM is a clear, structured option for compare_and_shortlist / vendor_discovery tasks."
    )


def test_narratives_without_bullets_fall_back():
    v = narrative_variants(product(positioning_bullets=[]))
    assert v.rational == "Acme CRM focuses on measurable value and operational clarity."
    assert v.premium == "Acme CRM delivers a polished buying experience for demanding buyers."
    assert (
        v.simple
        == "Acme CRM is a clear, structured option for compare_and_shortlist / vendor_discovery tasks."
    )


def test_blank_bullets_are_skipped_and_the_rest_stripped():
    bullets = ["", "   ", "  fast setup ", "\t", "clear pricing  ", "local support"]
    assert positioning(bullets) == "fast setup; clear pricing"
    v = narrative_variants(product(positioning_bullets=bullets))
    assert v.rational == "Acme CRM focuses on measurable value: fast setup; clear pricing."


def test_only_blank_bullets_count_as_no_bullets():
    v = narrative_variants(product(positioning_bullets=["", "  "]))
    assert v.rational == "Acme CRM focuses on measurable value and operational clarity."
    assert v.premium == "Acme CRM delivers a polished buying experience for demanding buyers."


def test_a_single_bullet_is_used_alone():
    assert narrative_variants(product(positioning_bullets=["fast setup"])).premium == (
        "Acme CRM delivers a polished buying experience with fast setup."
    )


def test_simple_with_one_task_type():
    v = narrative_variants(product(intended_for=["pricing_analysis"]))
    assert v.simple == "Acme CRM is a clear, structured option for pricing_analysis tasks."


def test_compile_offer_copies_the_product():
    draft = product()
    card = compile_offer(draft, "offer_1a2b3c4d")
    assert card.offer_id == "offer_1a2b3c4d"
    assert card.title == "Acme CRM"
    assert card.description == "A CRM for small teams."
    assert card.price == 49.0 and card.currency == "USD"
    assert card.intended_for == ["compare_and_shortlist", "vendor_discovery"]
    assert card.constraints == {"company_size": "10-50"}
    assert card.claims == ["SOC 2 Type II"]
    assert card.action_endpoints == ["https://acme-analytics.io/demo"]
    assert card.narrative_variants == narrative_variants(draft)
    # copies, not shared lists: changing the draft afterwards leaves the card alone
    draft.claims.append("later")
    draft.constraints["x"] = 1
    assert card.claims == ["SOC 2 Type II"] and "x" not in card.constraints


def test_compile_the_original_template_product():
    (raw,) = json.loads(TEMPLATE_PATH.read_text())
    draft = msgspec.convert(raw, CampaignDraft)
    card = compile_offer(draft.product, "offer_00000001")
    assert card.title == "Lumio Workspace Governance"
    assert card.narrative_variants.rational == (
        "Lumio Workspace Governance focuses on measurable value: workspace governance; operator visibility."
    )
    assert card.narrative_variants.premium == (
        "Lumio Workspace Governance delivers a polished buying experience with "
        "workspace governance; operator visibility."
    )
    assert card.narrative_variants.simple == (
        "Lumio Workspace Governance is a clear, structured option for compare_and_shortlist / vendor_discovery tasks."
    )


def test_compiled_card_encodes_in_camel_case():
    encoded = json.loads(msgspec.json.encode(compile_offer(product(), "offer_1")))
    assert set(encoded) >= {"offerId", "intendedFor", "actionEndpoints", "narrativeVariants"}
    assert set(encoded["narrativeVariants"]) == {"rational", "premium", "simple"}


@pytest.mark.parametrize("bullets", [["a", "b"], ["a", "b", "c", "d"]])
def test_never_more_than_two_bullets(bullets):
    assert positioning(bullets) == "a; b"
