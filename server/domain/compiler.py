"""The offer compiler (spec §2): a product draft becomes the agent-readable OfferCard.

Buyer agents read the narrative variants verbatim, so their wording is part of
the contract and is built here exactly as the spec writes it.
"""

from __future__ import annotations

from collections.abc import Sequence

from .models import NarrativeVariants, OfferCard, ProductDraft

MAX_POSITIONING_BULLETS = 2


def positioning(bullets: Sequence[str]) -> str:
    """The first two non-empty bullets (whitespace stripped), joined with "; "; "" when there are none."""
    kept = [b.strip() for b in bullets if b and b.strip()]
    return "; ".join(kept[:MAX_POSITIONING_BULLETS])


def narrative_variants(product: ProductDraft) -> NarrativeVariants:
    """The rational, premium and simple pitches; without bullets the first two fall back to fixed wording."""
    name, p = product.name, positioning(product.positioning_bullets)
    if p:
        rational = f"{name} focuses on measurable value: {p}."
        premium = f"{name} delivers a polished buying experience with {p}."
    else:
        rational = f"{name} focuses on measurable value and operational clarity."
        premium = f"{name} delivers a polished buying experience for demanding buyers."
    simple = f"{name} is a clear, structured option for {' / '.join(product.intended_for)} tasks."
    return NarrativeVariants(rational=rational, premium=premium, simple=simple)


def compile_offer(draft: ProductDraft, offer_id: str) -> OfferCard:
    """Build the OfferCard: ``title`` is the product name, lists and constraints are copied (not shared)."""
    return OfferCard(
        offer_id=offer_id,
        title=draft.name,
        description=draft.description,
        price=draft.price,
        currency=draft.currency,
        intended_for=list(draft.intended_for),
        constraints=dict(draft.constraints),
        claims=list(draft.claims),
        action_endpoints=list(draft.action_endpoints),
        narrative_variants=narrative_variants(draft),
    )
