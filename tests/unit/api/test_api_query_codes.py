"""Query parameters of the report and the receipt refused with their own codes, never the
fallback INVALID_FIELD (every message of a rule is coded, `schemas.fields.coded`)."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import Schema, ValidationError

from integrator.api.errors import field_errors
from integrator.api.receipts import ReceiptLayoutQuerySchema
from integrator.api.reports import SettlementQuerySchema


@pytest.mark.parametrize(
    ("schema", "query", "field", "code"),
    [
        (SettlementQuerySchema(), {"cursor": "1" * 121}, "cursor", "INVALID_CURSOR"),
        (SettlementQuerySchema(), {"limit": "abc"}, "limit", "LIMIT_OUT_OF_RANGE"),
        (SettlementQuerySchema(), {"limit": "1.5"}, "limit", "LIMIT_OUT_OF_RANGE"),
        (SettlementQuerySchema(), {"limit": "501"}, "limit", "LIMIT_OUT_OF_RANGE"),
        (SettlementQuerySchema(), {"limit": "9" * 400}, "limit", "LIMIT_OUT_OF_RANGE"),
        (ReceiptLayoutQuerySchema(), {"width": "abc"}, "width", "INVALID_RECEIPT_LAYOUT"),
        (ReceiptLayoutQuerySchema(), {"width": "32.5"}, "width", "INVALID_RECEIPT_LAYOUT"),
        (ReceiptLayoutQuerySchema(), {"width": "40"}, "width", "INVALID_RECEIPT_LAYOUT"),
    ],
)
def test_a_query_value_breaking_its_rule_is_refused_with_its_code(
    schema: Schema, query: dict[str, Any], field: str, code: str
) -> None:
    if isinstance(schema, SettlementQuerySchema):
        query = {"date": "2026-03-31", **query}

    with pytest.raises(ValidationError) as refused:
        schema.load(query)

    assert [(e.field, e.code) for e in field_errors(refused.value.messages)] == [(field, code)]
