"""The API's error codes: one list (``promptlab.api.ERROR_CODES``), which the OpenAPI
document's envelope states and every envelope is held to."""

from __future__ import annotations

import pytest
import yaml
from django.test import Client

from promptlab.api import ERROR_CODES, STATUS_CODES, error_body


def test_the_openapi_document_lists_exactly_the_error_codes(client: Client) -> None:
    document = yaml.safe_load(client.get("/api/schema/").content)
    envelope = document["components"]["schemas"]["ErrorEnvelope"]
    assert envelope["properties"]["error"]["properties"]["code"]["enum"] == list(ERROR_CODES)


def test_every_envelope_carries_a_listed_code() -> None:
    assert set(STATUS_CODES.values()) <= set(ERROR_CODES)
    assert error_body("not_found", "Not found.")["error"]["code"] == "not_found"
    with pytest.raises(ValueError, match="not_a_code"):
        error_body("not_a_code", "An undocumented code is refused where it is written.")
