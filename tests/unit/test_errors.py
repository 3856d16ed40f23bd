"""Domain errors carry their HTTP status and the JSON body the API sends."""

from __future__ import annotations

import pytest

from server.domain.errors import Conflict, DomainError, NotFound, Unprocessable, ValidationFailed


@pytest.mark.parametrize(
    ("cls", "status"),
    [(DomainError, 400), (ValidationFailed, 400), (NotFound, 404), (Conflict, 409), (Unprocessable, 422)],
)
def test_status_codes(cls, status):
    err = cls("Something is wrong.")
    assert err.status_code == status
    assert isinstance(err, DomainError) and isinstance(err, Exception)
    assert str(err) == err.message == "Something is wrong."


def test_field_is_in_the_body_when_known():
    assert ValidationFailed("Bad.", field="product.name").to_body() == {
        "message": "Bad.",
        "field": "product.name",
    }
    assert Unprocessable("Unknown campaign.", field="campaignId").field == "campaignId"
    assert NotFound("No such lead.").to_body() == {"message": "No such lead."}


def test_conflict_body_adds_fields_but_never_replaces_the_message():
    err = Conflict("Not allowed.", body={"activated": False, "message": "ignored"})
    assert err.to_body() == {"activated": False, "message": "Not allowed."}
    assert Conflict("x").body == {}
