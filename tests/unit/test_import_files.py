"""Reading import files (server/services/imports.py): JSON arrays, wrapped arrays, JSON Lines, and what is refused."""

from __future__ import annotations

import json

import pytest

from server.services.imports import ImportFileError, ItemError, decode_items, split_items, stable_campaign_ids
from tests.support import campaign_draft, receipt


def test_a_json_array_a_wrapped_array_and_json_lines_give_the_same_items() -> None:
    array = b'[{"receiptId": "a"}, {"receiptId": "b"}]'
    wrapped = b'{"receipts": [{"receiptId": "a"}, {"receiptId": "b"}], "other": 1}'
    lines = b'{"receiptId": "a"}\n\n{"receiptId": "b"}\n'
    for data in (array, wrapped, lines):
        assert [bytes(raw).replace(b" ", b"") for raw in split_items(data, "receipts")] == [
            b'{"receiptId":"a"}',
            b'{"receiptId":"b"}',
        ]


def test_a_json_lines_line_that_is_not_json_is_an_item_error_with_its_index() -> None:
    items = split_items(b'{"receiptId": "a"}\n{"receiptId": \n{"receiptId": "c"}\n', "receipts")
    assert isinstance(items[1], ItemError) and items[1].index == 1
    assert len(items) == 3


@pytest.mark.parametrize("data", [b"", b"   \n", b"[1, 2", b"[]"])
def test_files_without_items_are_refused(data: bytes) -> None:
    with pytest.raises(ImportFileError):
        split_items(data, "receipts")


def test_every_bad_item_is_reported_with_its_field() -> None:
    good = receipt()
    raws = split_items(
        b"\n".join(
            [
                json.dumps(item).encode()
                for item in (
                    good,
                    {**good, "eventType": 5},
                    {k: v for k, v in good.items() if k != "partnerId"},
                )
            ]
        ),
        "receipts",
    )
    decoded, errors = decode_items(raws, "receipts")
    assert len(decoded) == 1
    assert [(e.index, e.field) for e in errors] == [(1, "eventType"), (2, "partnerId")]


def test_a_receipt_without_provenance_defaults_to_real_event() -> None:
    item = {k: v for k, v in receipt().items() if k != "dataProvenance"}
    decoded, errors = decode_items(split_items(json.dumps([item]).encode(), "receipts"), "receipts")
    assert errors == [] and decoded[0].item.data_provenance == "real_event"


def test_campaign_ids_are_stable_by_external_ref_or_given() -> None:
    import msgspec

    from server.services.imports import CampaignItem

    item = msgspec.convert(campaign_draft(), CampaignItem)
    first, again = (
        stable_campaign_ids(item),
        stable_campaign_ids(msgspec.convert(campaign_draft(), CampaignItem)),
    )
    assert first == again and first[0].startswith("cmp_") and len(first[0]) == 12
    other = msgspec.convert(campaign_draft(externalRef="another-campaign"), CampaignItem)
    assert stable_campaign_ids(other)[0] != first[0]
    given = msgspec.convert(campaign_draft(campaignId="cmp_lumio_real_001", offerId="offer_x"), CampaignItem)
    assert stable_campaign_ids(given) == ("cmp_lumio_real_001", "offer_x")
