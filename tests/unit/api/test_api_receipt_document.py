"""The printable receipt's JSON (GET /v1/payments/{id}/receipt) against its published schema."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from integrator import jsonutil
from integrator.api import receipts
from integrator.api.openapi import build_spec
from integrator.api.wire import Wire
from integrator.payments.receipt_service import PrintedReceipt
from tests.unit.receipts.receipt_factories import GOLDEN_DOCUMENTS


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    spec = build_spec()
    receipts.document_paths(spec)
    parsed: dict[str, Any] = json.loads(jsonutil.dumps(spec.to_dict()))
    return parsed


@pytest.mark.parametrize("name", sorted(GOLDEN_DOCUMENTS))
def test_the_json_receipt_is_exactly_what_its_schema_publishes(
    document: dict[str, Any], name: str
) -> None:
    printed = PrintedReceipt(
        payment_id="pay_1",
        document=GOLDEN_DOCUMENTS[name],
        print_number=2 if GOLDEN_DOCUMENTS[name].duplicate else 1,
        mobile_number="9876543210",
    )
    view = json.loads(jsonutil.dumps(receipts.receipt_document_view(printed, Wire())))
    schemas = document["components"]["schemas"]

    OAS30Validator({"$ref": "#/components/schemas/ReceiptDocument", **document}).validate(view)
    assert set(view) == set(schemas["ReceiptDocument"]["properties"])
    assert set(view["bills"][0]) == set(schemas["ReceiptBill"]["properties"])
    assert view["mobileNumber"] == "******3210"


def test_figures_and_words_follow_the_indian_system() -> None:
    doc = GOLDEN_DOCUMENTS["three_bills"]
    printed = PrintedReceipt(payment_id="p", document=doc, print_number=1, mobile_number=None)

    view = receipts.receipt_document_view(printed, Wire())

    assert view["totalPaidText"] == "1,22,440"
    assert view["amountInWords"] == ("Rupees One Lakh Twenty Two Thousand Four Hundred Forty Only")
    heads = view["bills"][0]["taxHeads"]
    assert [h["amountText"] for h in heads[:3]] == ["1,200", "30", "0"]
    assert view["bills"][2]["taxHeads"][0]["amountText"] == "1,23,456"
    assert view["qrPayload"] == ",".join(doc.receipt_numbers)


def test_a_cancelled_receipt_says_so_in_json() -> None:
    doc = GOLDEN_DOCUMENTS["cancelled"]
    printed = PrintedReceipt(
        payment_id="p", document=replace(doc, duplicate=True), print_number=3, mobile_number=None
    )

    view = receipts.receipt_document_view(printed, Wire())

    assert (view["status"], view["duplicate"], view["printNumber"]) == ("CANCELLED", True, 3)
