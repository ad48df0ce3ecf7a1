"""Receipts a printer can print, end to end: the integrator and the DIGIT sandbox over real HTTP,
a real Redis and ledger. The PDF is rasterised (pdftoppm) and read back (pdftotext); the print
count is the ledger's."""

from __future__ import annotations

import logging
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
import zxingcpp
from openapi_spec_validator import validate
from PIL import Image

from integrator.digit.models import WorkflowItem
from integrator.services import Services
from tests.e2e.conftest import Pos, Sandbox, body_of
from tests.e2e.test_pos_api import (
    AMRITSAR,
    RAMESH_MOBILE,
    SW_RAMESH,
    WS_RAMESH,
    current_bill,
    payment_body,
)

PT_RAMESH = "PT-107-000123"


def receipt(pos: Pos, payment_id: str, accept: str | None = None, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {pos.key}"}
    if accept is not None:
        headers["Accept"] = accept
    return requests.get(
        f"{pos.base}/v1/payments/{payment_id}/receipt", params=params, headers=headers, timeout=30
    )


def paid(pos: Pos, key: str, *bills: tuple[str, Any], **overrides: Any) -> dict[str, Any]:
    response = pos.pay(payment_body(list(bills), **overrides), key=key)
    assert response.status_code == 201, response.text
    payment: dict[str, Any] = body_of(response)
    return payment


def pdf_text(pdf: bytes, folder: Path) -> str:
    """The PDF rasterised to PNG (it must render) and its text as pdftotext reads it; the QR
    codes found on its pages are appended as `QR:<payload>`."""
    for tool in ("pdftoppm", "pdftotext"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} missing: run bin/ensure-poppler (make test does)")
    path = folder / "receipt.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "150", path, folder / "page"], check=True, timeout=60)
    pages = sorted(folder.glob("page-*.png"))
    assert pages, "pdftoppm made no page"
    text = subprocess.run(
        ["pdftotext", "-layout", path, "-"], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    codes = []
    for page in pages:
        with Image.open(page) as image:
            codes += [f"QR:{code.text}" for code in zxingcpp.read_barcodes(image)]
    return " ".join([*text.split(), *codes])


def test_the_json_receipt_has_everything_a_receipt_shows_for_every_bill(
    pos: Pos, services: Services
) -> None:
    ws = current_bill(pos, WS_RAMESH)
    sw = current_bill(pos, SW_RAMESH, "SW")
    payment = paid(pos, "rcpt-json-1", (ws["billId"], 500), (sw["billId"], sw["totalAmount"]))

    response = receipt(pos, payment["id"])

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["X-Receipt-Print"] == "1"
    doc = body_of(response)
    assert doc["paymentId"] == payment["id"] and doc["status"] == "REGISTERED"
    assert (doc["printNumber"], doc["duplicate"]) == (1, False)
    assert doc["cityName"] == "Amritsar" and doc["tenantId"] == AMRITSAR
    assert doc["collector"] == "pos-amritsar-1"
    assert doc["paymentMode"] == "CASH"
    assert doc["mobileNumber"] == "******" + RAMESH_MOBILE[-4:]
    by_consumer = {b["consumerCode"]: b for b in doc["bills"]}
    assert set(by_consumer) == {WS_RAMESH, SW_RAMESH}
    receipts = {r["billId"]: r["receiptNumber"] for r in payment["receipts"]}
    water = by_consumer[WS_RAMESH]
    assert water["receiptNumber"] == receipts[ws["billId"]]
    assert water["billNumber"] == ws["billNumber"]
    assert water["consumerName"] == ws["payerName"]
    assert water["serviceName"] == "Water Charges"
    assert (water["billAmount"], water["amountPaid"], water["balanceLeft"]) == (815, 500, 315)
    assert water["periodFrom"] <= water["periodTo"]
    heads = water["taxHeads"]
    assert heads and sum(h["amount"] for h in heads) == 815
    assert {h["taxHeadCode"] for h in heads} == {
        line["taxHeadCode"] for line in ws["lines"] if line["amount"] != 0
    }
    assert all(h["periodFrom"] <= h["periodTo"] for h in heads)
    assert sorted(doc["receiptNumbers"]) == sorted(receipts.values())
    total = 500 + sw["totalAmount"]
    assert doc["totalPaid"] == total
    assert doc["balanceLeft"] == 315
    assert doc["amountInWords"].startswith("Rupees ") and doc["amountInWords"].endswith(" Only")
    assert doc["qrPayload"] == ",".join(doc["receiptNumbers"])


@pytest.mark.parametrize("width", [32, 48])
def test_the_slip_fits_the_paper_and_every_later_print_says_duplicate(
    pos: Pos, services: Services, width: int
) -> None:
    bill = current_bill(pos, WS_RAMESH)
    payment = paid(pos, f"rcpt-text-{width}", (bill["billId"], 815))
    number = payment["receipts"][0]["receiptNumber"]

    first = receipt(pos, payment["id"], "text/plain", width=width)
    second = receipt(pos, payment["id"], "text/plain", width=width)

    assert first.status_code == 200, first.text
    assert first.headers["Content-Type"].startswith("text/plain")
    lines = first.text.splitlines()
    assert all(len(line) <= width for line in lines)
    assert any(line.endswith("Rs. 815") and line.startswith("Amount paid") for line in lines)
    assert "Rupees Eight Hundred Fifteen Only" in " ".join(lines)
    assert number in first.text and "Amritsar" in first.text
    assert "DUPLICATE" not in first.text
    assert "DUPLICATE" in second.text.splitlines()[1]
    assert (first.headers["X-Receipt-Print"], second.headers["X-Receipt-Print"]) == ("1", "2")
    assert services.receipt_prints.prints(payment["id"]) == 2


@pytest.mark.parametrize("size", ["A6", "A4"])
def test_the_pdf_renders_and_says_duplicate_on_the_second_print(
    pos: Pos, tmp_path: Path, size: str
) -> None:
    bill = current_bill(pos, WS_RAMESH)
    payment = paid(
        pos,
        f"rcpt-pdf-{size}",
        (bill["billId"], 815),
        paymentMode="CHEQUE",
        instrumentNumber="004512",
        instrumentDate=datetime.now(ZoneInfo("Asia/Kolkata")).date().isoformat(),
    )
    number = payment["receipts"][0]["receiptNumber"]

    first = receipt(pos, payment["id"], "application/pdf", size=size)
    second = receipt(pos, payment["id"], "application/pdf", size=size)

    assert first.status_code == 200, first.text
    assert first.headers["Content-Type"] == "application/pdf"
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    text = pdf_text(first.content, tmp_path / "1")
    assert number in text and "Amritsar" in text
    assert "Rupees Eight Hundred Fifteen Only" in text
    assert "Cheque no. 004512" in text
    assert "DUPLICATE" not in text
    assert f"QR:{number}" in text
    again = pdf_text(second.content, tmp_path / "2")
    assert "DUPLICATE" in again and f"QR:{number}" in again


def test_a_payment_without_a_digit_receipt_is_not_ready(pos: Pos, world: Sandbox) -> None:
    bill = current_bill(pos, WS_RAMESH)
    world.faults(down=True)
    response = pos.pay(payment_body([(bill["billId"], 815)]), key="rcpt-pending")
    assert response.status_code == 202, response.text
    pending = body_of(response)

    answer = receipt(pos, pending["id"], "text/plain")

    assert answer.status_code == 409
    problem = body_of(answer)
    assert problem["code"] == "RECEIPT_NOT_READY"
    assert (problem["paymentId"], problem["paymentStatus"]) == (pending["id"], "PENDING")
    assert problem["status"] == 409


def test_another_devices_payment_has_no_receipt_for_this_device(pos: Pos, other_pos: Pos) -> None:
    bill = current_bill(pos, WS_RAMESH)
    payment = paid(pos, "rcpt-other-1", (bill["billId"], 815))

    answer = receipt(other_pos, payment["id"])

    assert answer.status_code == 404
    assert body_of(answer)["code"] == "PAYMENT_NOT_FOUND"


@pytest.mark.parametrize(
    ("params", "accept", "status", "code"),
    [
        ({"width": 40}, "text/plain", 422, "INVALID_RECEIPT_LAYOUT"),
        ({"size": "Letter"}, "application/pdf", 422, "INVALID_RECEIPT_LAYOUT"),
        ({"colour": "red"}, None, 422, "UNKNOWN_FIELD"),
        ({}, "image/png", 406, "NOT_ACCEPTABLE"),
    ],
)
def test_a_layout_or_rendering_not_offered_is_refused_and_not_counted(
    pos: Pos,
    services: Services,
    params: dict[str, Any],
    accept: str | None,
    status: int,
    code: str,
) -> None:
    bill = current_bill(pos, WS_RAMESH)
    payment = paid(pos, "rcpt-bad-layout", (bill["billId"], 815))

    answer = receipt(pos, payment["id"], accept, **params)

    assert answer.status_code == status, answer.text
    assert body_of(answer)["code"] == code
    assert services.receipt_prints.prints(payment["id"]) == 0


def test_a_head_request_is_refused_and_not_counted_as_a_print(pos: Pos, services: Services) -> None:
    bill = current_bill(pos, WS_RAMESH)
    payment = paid(pos, "rcpt-head", (bill["billId"], 815))

    answer = requests.head(
        f"{pos.base}/v1/payments/{payment['id']}/receipt",
        headers={"Authorization": f"Bearer {pos.key}"},
        timeout=30,
    )

    assert answer.status_code == 405
    assert services.receipt_prints.prints(payment["id"]) == 0


def test_while_digit_is_down_the_served_bill_stands_in_for_digits_copy(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    bill = current_bill(pos, WS_RAMESH)
    payment = paid(pos, "rcpt-down", (bill["billId"], 815))
    world.faults(down=True)

    answer = receipt(pos, payment["id"])

    assert answer.status_code == 200, answer.text
    [shown] = body_of(answer)["bills"]
    assert shown["consumerName"] == bill["payerName"]
    assert sum(h["amount"] for h in shown["taxHeads"]) == 815


def test_a_receipt_digit_cancelled_prints_as_cancelled(
    pos: Pos, services: Services, tmp_path: Path
) -> None:
    bill = current_bill(pos, PT_RAMESH, "PT")
    payment = paid(pos, "rcpt-cancelled", (bill["billId"], bill["totalAmount"]))
    stored = services.payments_store.get(payment["id"])
    assert stored is not None and stored.digit_payment_id
    services.digit.workflow(
        tenant_id=AMRITSAR,
        module="PT",
        action="CANCEL",
        items=[WorkflowItem(payment_id=stored.digit_payment_id, reason="wrong consumer")],
    )

    shown = body_of(receipt(pos, payment["id"]))
    slip = receipt(pos, payment["id"], "text/plain").text
    pdf = pdf_text(receipt(pos, payment["id"], "application/pdf").content, tmp_path)

    assert shown["status"] == "CANCELLED"
    assert slip.splitlines()[1].strip() == "CANCELLED"
    assert "THIS RECEIPT IS NOT VALID" in slip
    assert "CANCELLED" in pdf


# --- GET /v1/receipts: access rules ---


def lookup(pos: Pos, number: str, **params: Any) -> requests.Response:
    return pos.get(
        "/v1/receipts", receiptNumber=number, tenantId=AMRITSAR, businessService="WS", **params
    )


def test_a_device_reprints_its_own_receipt_by_number_with_the_mobile(pos: Pos) -> None:
    bill = current_bill(pos, WS_RAMESH)
    number = paid(pos, "rcpt-own", (bill["billId"], 815))["receipts"][0]["receiptNumber"]

    answer = lookup(pos, number)

    assert answer.status_code == 200, answer.text
    assert body_of(answer)["mobileNumber"] == "******" + RAMESH_MOBILE[-4:]


def test_another_devices_receipt_needs_the_consumer_code_and_hides_the_mobile(
    pos: Pos, other_pos: Pos, caplog: pytest.LogCaptureFixture
) -> None:
    bill = current_bill(pos, WS_RAMESH)
    number = paid(pos, "rcpt-others", (bill["billId"], 815))["receipts"][0]["receiptNumber"]
    caplog.set_level(logging.INFO, logger="integrator.receipts")

    without = lookup(other_pos, number)
    wrong = lookup(other_pos, number, consumerCode=SW_RAMESH)
    right = lookup(other_pos, number, consumerCode=WS_RAMESH)

    assert without.status_code == 422
    assert body_of(without)["code"] == "CONSUMER_CODE_REQUIRED"
    assert body_of(without)["errors"][0]["field"] == "consumerCode"
    assert wrong.status_code == 404 and body_of(wrong)["code"] == "RECEIPT_NOT_FOUND"
    assert right.status_code == 200, right.text
    shown = body_of(right)
    assert shown["receiptNumber"] == number and shown["consumerCode"] == WS_RAMESH
    assert shown["mobileNumber"] is None
    assert RAMESH_MOBILE not in right.text
    misses = [r for r in caplog.records if r.getMessage().startswith("receipt lookup refused")]
    assert len(misses) == 2
    assert all(getattr(r, "device_id", None) for r in misses)
    assert all(other_pos.key not in r.getMessage() for r in misses)


def test_a_receipt_looked_up_after_digit_cancelled_its_payment_is_shown_not_valid(
    pos: Pos, other_pos: Pos, services: Services
) -> None:
    bill = current_bill(pos, PT_RAMESH, "PT")
    payment = paid(pos, "rcpt-lookup-cancelled", (bill["billId"], bill["totalAmount"]))
    number = payment["receipts"][0]["receiptNumber"]
    where = {"receiptNumber": number, "tenantId": AMRITSAR, "businessService": "PT"}
    before = body_of(pos.get("/v1/receipts", **where))
    stored = services.payments_store.get(payment["id"])
    assert stored is not None and stored.digit_payment_id
    services.digit.workflow(
        tenant_id=AMRITSAR,
        module="PT",
        action="CANCEL",
        items=[WorkflowItem(payment_id=stored.digit_payment_id, reason="wrong consumer")],
    )

    own = pos.get("/v1/receipts", **where)
    others = other_pos.get("/v1/receipts", consumerCode=PT_RAMESH, **where)

    assert (before["status"], before["valid"]) == ("REGISTERED", True)
    for answer in (own, others):
        assert answer.status_code == 200, answer.text
        assert body_of(answer)["receiptNumber"] == number
        assert (body_of(answer)["status"], body_of(answer)["valid"]) == ("CANCELLED", False)


def test_receipt_numbers_cannot_be_walked(
    pos: Pos, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    limit = services.settings.receipt_lookups_per_minute
    caplog.set_level(logging.INFO, logger="integrator.receipts")
    answers = [
        lookup(pos, f"11/2026-27/{n:06d}", consumerCode=WS_RAMESH).status_code
        for n in range(limit + 1)
    ]

    assert answers[:limit] == [404] * limit
    assert answers[limit] == 429
    over = lookup(pos, "11/2026-27/999999", consumerCode=WS_RAMESH)
    assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
    assert body_of(over)["code"] == "RATE_LIMITED"
    misses = [r for r in caplog.records if r.getMessage().startswith("receipt lookup refused")]
    assert len(misses) == limit


def test_the_receipt_route_is_documented(live: str) -> None:
    document = requests.get(f"{live}/openapi.json", timeout=10).json()
    validate(document)
    operation = document["paths"]["/v1/payments/{payment_id}/receipt"]["get"]
    assert set(operation["responses"]["200"]["content"]) == {
        "application/json",
        "text/plain",
        "application/pdf",
    }
