"""The strict contract's building blocks: nesting depth, cursors, whole numbers, patterns, drafts."""

from __future__ import annotations

import json
import re
import typing

import msgspec
import pytest

from server.adapters.store.ports import MAX_SEQ
from server.api.errors import MAX_JSON_DEPTH, json_too_deep
from server.api.strict import _whole_floats_as_ints
from server.domain.errors import ValidationFailed
from server.domain.models import CampaignDraft, CurrencyCode, HttpUrl, Id, Text
from server.services.pages import CURSOR_PATTERN, decode_cursor, encode_cursor

from .factories import TEMPLATE_PATH, draft_dict


def _pattern(annotated: object) -> re.Pattern[str]:
    return re.compile(typing.get_args(annotated)[1].pattern)


# -- nesting depth -----------------------------------------------------------


def _nested(depth: int) -> bytes:
    return b'{"a": ' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("depth", [0, 1, MAX_JSON_DEPTH])
def test_nesting_up_to_the_limit_passes(depth: int) -> None:
    assert not json_too_deep(_nested(depth))
    assert not json_too_deep(b"[" * depth + b"]" * depth)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 2000, 100_000])
def test_nesting_beyond_the_limit_is_found(depth: int) -> None:
    assert json_too_deep(_nested(depth))
    assert json_too_deep(b"[" * depth)  # unbalanced: still too deep


def test_brackets_inside_strings_do_not_count() -> None:
    body = json.dumps({"text": "[" * 100 + "{" * 100, "escaped": '\\"[[[[' * 50, "list": [[1], [2]]}).encode()
    assert not json_too_deep(body)
    assert json_too_deep(json.dumps({"t": "]]]]", "deep": json.loads(_nested(40))}).encode())


def test_many_shallow_brackets_are_not_deep() -> None:
    assert not json_too_deep(json.dumps({"items": [[i] for i in range(1000)]}).encode())


# -- cursors -------------------------------------------------------------------


@pytest.mark.parametrize("seq", [1, 2, 255, 10**6, 2**40 + 7, MAX_SEQ])
def test_a_cursor_round_trips(seq: int) -> None:
    cursor = encode_cursor(seq)
    assert re.fullmatch(CURSOR_PATTERN.replace(r"$(?!\n)", "$"), cursor)
    assert decode_cursor(cursor) == seq


def test_every_well_formed_cursor_is_a_position() -> None:
    assert decode_cursor("__________-") == MAX_SEQ  # beyond the largest BIGINT: the first page
    assert decode_cursor("AAAAAAAAAAA") == 0  # before the first row: an empty page
    assert decode_cursor(None) == MAX_SEQ


@pytest.mark.parametrize("bad", ["", "short", "not-a-cursor", "!!!!!!!!!!!", "AAAAAAAAAAA\n", "AAAAAAAAAA="])
def test_a_malformed_cursor_is_refused_naming_it(bad: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        decode_cursor(bad)
    assert refused.value.field == "cursor"


# -- whole numbers ---------------------------------------------------------------


def test_whole_floats_become_ints_and_nothing_else_changes() -> None:
    value = {"a": 3.0, "b": [1.5, 2.0, True, "4.0", None], "c": {"d": -0.0, "e": 1e20}}
    assert _whole_floats_as_ints(value) == {
        "a": 3,
        "b": [1.5, 2, True, "4.0", None],
        "c": {"d": 0, "e": 10**20},
    }
    assert type(_whole_floats_as_ints(3.0)) is int and _whole_floats_as_ints(True) is True


# -- patterns (the same in Python and in ECMA-262) --------------------------------


def test_text_must_hold_a_character_strip_keeps() -> None:
    text = _pattern(Text)
    for code in range(0x110000):
        char = chr(code)
        assert (text.search(char) is None) == char.isspace(), hex(code)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://lumio.dev/security", True),
        ("http://localhost:8080/demo", True),
        ("https://a.example/path?q=1#frag", True),
        ("not a url", False),
        ("ftp://lumio.dev/x", False),
        ("https://", False),
        ("https:///path", False),
        ("https://lumio.dev/a b", False),
        ("https://lumio.dev/\n", False),
        ("https://lumio.dev\n", False),
        ("https://lumio.dev/\x00", False),
    ],
)
def test_http_urls(url: str, ok: bool) -> None:
    assert bool(_pattern(HttpUrl).search(url)) is ok


def test_currency_codes_have_no_trailing_newline() -> None:
    currency = _pattern(CurrencyCode)
    assert currency.search("USD") and not currency.search("USD\n") and not currency.search("US")


def test_ids_are_at_most_200_characters_without_nul() -> None:
    decode = msgspec.json.Decoder(Id).decode
    assert decode(json.dumps("x" * 200)) == "x" * 200
    for bad in ("", "x" * 201, "a\u0000b"):
        with pytest.raises(msgspec.ValidationError):
            decode(json.dumps(bad))


# -- campaign drafts ---------------------------------------------------------------


def test_the_original_template_decodes_strictly() -> None:
    for item in json.loads(TEMPLATE_PATH.read_text(encoding="utf-8")):
        draft = msgspec.json.decode(json.dumps(item), type=CampaignDraft, strict=True)
        assert draft.product.claims and draft.proof_references and draft.product.intended_for


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"disclosureText": "  "}, "$.disclosureText"),
        ({"proofReferences": []}, "$.proofReferences"),
        ({"product": {"claims": []}}, "$.product.claims"),
        ({"product": {"intendedFor": []}}, "$.product.intendedFor"),
        ({"product": {"actionEndpoints": ["www.lumio.dev"]}}, "$.product.actionEndpoints[0]"),
    ],
)
def test_an_incomplete_draft_does_not_decode(change: dict, path: str) -> None:
    raw = draft_dict()
    product = change.pop("product", None)
    raw.update(change)
    if product:
        raw["product"].update(product)
    with pytest.raises(msgspec.ValidationError, match=re.escape(path)):
        msgspec.convert(raw, CampaignDraft, strict=True)
