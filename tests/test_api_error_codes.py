"""The API's error codes: one table (``promptlab.api.ERROR_STATUSES``, status → code and
description), which the OpenAPI document states and every envelope is held to."""

from __future__ import annotations

import pytest
import yaml
from django.test import Client

from promptlab.api import ERROR_CODES, ERROR_STATUSES, Conflict, ProviderUnavailable, error_body


@pytest.fixture
def document(client: Client, db: None) -> dict:
    # db: on the embedded defaults the API's rate limits count in the database cache.
    return yaml.safe_load(client.get("/api/schema/").content)


def test_the_openapi_document_lists_exactly_the_error_codes(document: dict) -> None:
    envelope = document["components"]["schemas"]["ErrorEnvelope"]
    assert envelope["properties"]["error"]["properties"]["code"]["enum"] == list(ERROR_CODES)
    assert len(set(ERROR_CODES)) == len(ERROR_CODES)
    for entry in ERROR_STATUSES.values():
        assert {entry.code, *entry.other_codes} <= set(ERROR_CODES)


def test_every_operation_documents_the_tables_statuses_with_its_descriptions(document: dict) -> None:
    documented = {
        str(status): entry.description for status, entry in ERROR_STATUSES.items() if entry.description
    }
    assert "500" not in documented  # the document promises no server error
    operations = [op for item in document["paths"].values() for op in item.values() if isinstance(op, dict)]
    assert operations
    for operation in operations:
        responses = operation["responses"]
        assert set(documented) <= set(responses)
        for status, description in documented.items():
            assert responses[status]["description"] == description
        assert "500" not in responses


def test_the_exception_classes_carry_their_statuses_code() -> None:
    assert Conflict.default_code == ERROR_STATUSES[Conflict.status_code].code == "conflict"
    assert ProviderUnavailable.default_code == ERROR_STATUSES[503].code == "provider_unavailable"


def test_every_envelope_carries_a_listed_code() -> None:
    assert error_body("not_found", "Not found.")["error"]["code"] == "not_found"
    with pytest.raises(ValueError, match="not_a_code"):
        error_body("not_a_code", "An undocumented code is refused where it is written.")


@pytest.mark.django_db
def test_an_unanswerable_accept_header_is_a_documented_406_envelope(client: Client) -> None:
    response = client.get("/api/v1/templates", HTTP_ACCEPT="text/csv")
    assert response.status_code == 406
    assert response.json()["error"]["code"] == ERROR_STATUSES[406].code == "validation_error"
