"""The payment-mode table the documents are rendered from says what `check_instrument` checks."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from integrator.api.modes import MODE_RULES
from integrator.payments.models import PaymentMode
from integrator.payments.rules import check_instrument
from tests.unit.api.conftest import Edge

TODAY = date(2024, 5, 1)
REQUIRED_CODES = {
    "instrumentNumber": "INSTRUMENT_NUMBER_REQUIRED",
    "instrumentDate": "INSTRUMENT_DATE_REQUIRED",
    "transactionNumber": "TRANSACTION_NUMBER_REQUIRED",
}


@pytest.mark.parametrize("mode", list(PaymentMode))
def test_a_mode_without_instrument_fields_is_refused_for_exactly_the_published_fields(
    mode: PaymentMode,
) -> None:
    refused = {v.field for v in check_instrument(mode.value, None, None, None, today=TODAY)}

    assert refused == set(MODE_RULES[mode].required)
    assert {REQUIRED_CODES[f] for f in refused} == {
        v.code for v in check_instrument(mode.value, None, None, None, today=TODAY)
    }


@pytest.mark.parametrize("mode", list(PaymentMode))
def test_a_mode_with_its_published_fields_is_accepted(mode: PaymentMode) -> None:
    given = {field: True for field in MODE_RULES[mode].required}

    refused = check_instrument(
        mode.value,
        "000123" if given.get("instrumentNumber") else None,
        TODAY if given.get("instrumentDate") else None,
        "TXN-1" if given.get("transactionNumber") else None,
        today=TODAY,
    )

    assert refused == []


@pytest.mark.parametrize(
    ("mode", "required"),
    [
        ("CASH", []),
        ("CHEQUE", ["instrumentNumber", "instrumentDate"]),
        ("DD", ["instrumentNumber", "instrumentDate"]),
        ("CARD", ["instrumentNumber", "transactionNumber"]),
        ("ONLINE", ["instrumentNumber", "transactionNumber"]),
    ],
)
def test_the_document_states_each_modes_fields_in_the_schema(
    edge: Edge, mode: str, required: list[str]
) -> None:
    document: dict[str, Any] = json.loads(edge.client.get("/openapi.json").data)
    request = document["components"]["schemas"]["PaymentRequest"]

    [branch] = [b for b in request["oneOf"] if mode in b["properties"]["paymentMode"]["enum"]]
    assert branch.get("required", []) == required
    assert request["x-payment-mode-rules"][mode]["required"] == required
    assert f"{mode}: " in request["properties"]["paymentMode"]["description"]


def test_the_docs_page_has_the_mode_table(edge: Edge) -> None:
    html = edge.client.get("/docs").get_data(as_text=True)

    row = html[html.index('id="mode-CHEQUE"') :].split("</tr>")[0]
    assert "<code>instrumentNumber</code>" in row and "<code>instrumentDate</code>" in row
    assert "89 days" in row
