"""Every request the DIGIT client builds, and every answer the sandbox gives, validates against
DIGIT's Swagger definitions (corrected by the digest's §9, see `digit_schemas`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis as redis_lib
import requests
import responses as responses_lib

from integrator import jsonutil
from integrator.digit.client import DigitClient, payment_body
from integrator.digit.errors import DigitRejected
from integrator.digit.http import build_session, request_info
from integrator.digit.models import PaymentCreate, PaymentLine
from integrator.settings import Settings
from tests.contract.digit_schemas import (
    BILLING_URI,
    COLLECTION_URI,
    COMMON_URL,
    errors,
    request_info_validator,
    validator,
)


@dataclass
class Exchange:
    path: str
    status: int
    request_body: Any
    response_body: Any


def _recording_session(settings: Settings, log: list[Exchange]) -> requests.Session:
    session = build_session(settings)

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        body = response.request.body
        try:
            sent = json.loads(body) if body and not isinstance(body, str) else body
        except ValueError:
            sent = body
        try:
            answer = json.loads(response.content) if response.content else None
        except ValueError:
            answer = response.content
        log.append(Exchange(urlsplit(response.url).path, response.status_code, sent, answer))

    session.hooks["response"].append(record)
    return session


def _payment(bill_id: str, amount: Decimal, *, mode: str = "CASH") -> PaymentCreate:
    return PaymentCreate(
        tenant_id="pb.amritsar",
        payment_mode=mode,
        paid_by="Ramesh Kumar",
        payer_name="Ramesh Kumar",
        mobile_number="9876543210",
        transaction_number="POS-C-1",
        instrument_number="4242" if mode != "CASH" else None,
        instrument_date=datetime(2025, 1, 1, tzinfo=UTC) if mode != "CASH" else None,
        lines=(
            PaymentLine(bill_id=bill_id, business_service="WS", amount=amount, total_due=amount),
        ),
        additional_details={"posTxnId": "POS-C-1"},
    )


# --- requests, without any DIGIT ---


@pytest.mark.parametrize("mode", ["CASH", "CARD", "CHEQUE", "OFFLINE_NEFT", "POSTAL_ORDER"])
def test_payment_create_request_validates(mode: str) -> None:
    body = {
        "RequestInfo": request_info("tok", action="_create"),
        "Payment": payment_body(_payment("bill-1", Decimal("1200"), mode=mode)),
    }
    plain = json.loads(jsonutil.dumps(body))
    assert errors(validator(COLLECTION_URI, "PaymentRequest"), plain) == []
    assert errors(request_info_validator(), plain["RequestInfo"]) == []


def test_request_info_satisfies_the_strict_common_contract() -> None:
    assert errors(request_info_validator(), json.loads(jsonutil.dumps(request_info("t")))) == []


def test_the_corrections_are_real_corrections() -> None:
    """The patched schema still rejects what DIGIT rejects (the patches do not open it up)."""
    v = validator(COLLECTION_URI, "PaymentRequest")
    assert errors(v, {"RequestInfo": {}, "Payment": {"paymentMode": "BARTER"}})
    assert errors(v, {"Payment": {}})  # RequestInfo is required
    assert errors(validator(BILLING_URI, "BillResponse"), {"Bill": [{"status": "UNPAID"}]})
    assert errors(validator(COLLECTION_URI, "PaymentResponse"), {"Payments": {}})


# --- requests and answers, against the sandbox ---


@pytest.fixture
def exchanges(
    sandbox: str, settings: Settings, redis: redis_lib.Redis
) -> Iterator[tuple[DigitClient, list[Exchange]]]:
    log: list[Exchange] = []
    client = DigitClient(settings=settings, redis=redis, session=_recording_session(settings, log))
    yield client, log


REQUEST_SCHEMAS = {
    "/collection-services/payments/_create": (COLLECTION_URI, "PaymentRequest"),
}
RESPONSE_SCHEMAS = {
    "/billing-service/bill/v2/_fetchbill": (BILLING_URI, "BillResponse"),
    "/billing-service/bill/v2/_search": (BILLING_URI, "BillResponse"),
    "/collection-services/payments/_create": (COLLECTION_URI, "PaymentResponse"),
    "/collection-services/payments/WS/_search": (COLLECTION_URI, "PaymentResponse"),
}


def _check(log: list[Exchange]) -> set[str]:
    checked: set[str] = set()
    problems: list[str] = []
    for ex in log:
        if ex.path == "/user/oauth/token":
            continue  # no Swagger for the token endpoint (digest 1, 2); covered by unit tests
        assert isinstance(ex.request_body, dict), ex.path
        problems += [
            f"{ex.path} request RequestInfo {p}"
            for p in errors(request_info_validator(), ex.request_body["RequestInfo"])
        ]
        if ex.path in REQUEST_SCHEMAS:
            problems += [
                f"{ex.path} request {p}"
                for p in errors(validator(*REQUEST_SCHEMAS[ex.path]), ex.request_body)
            ]
        if ex.status >= 400:
            problems += [
                f"{ex.path} {ex.status} {p}"
                for p in errors(validator(COMMON_URL, "ErrorRes"), ex.response_body)
            ]
            checked.add(f"{ex.path} error")
        elif ex.path in RESPONSE_SCHEMAS:
            problems += [
                f"{ex.path} response {p}"
                for p in errors(validator(*RESPONSE_SCHEMAS[ex.path]), ex.response_body)
            ]
            checked.add(ex.path)
    assert problems == []
    return checked


def test_every_exchange_with_the_sandbox_validates(exchanges) -> None:
    client, log = exchanges
    [bill] = client.fetch_bills(
        tenant_id="pb.amritsar", business_service="WS", consumer_code="WS/107/2019-20/000022"
    )
    client.bills_for_mobile(tenant_id="pb", mobile_number="9876543210")
    client.search_bills(tenant_id="pb.amritsar", bill_ids=[bill.id])
    created = client.create_payment(_payment(bill.id, bill.total_amount))
    client.search_payments(tenant_id="pb.amritsar", module="WS", bill_ids=[bill.id])
    client.search_payments(
        tenant_id="pb.amritsar", module="WS", receipt_numbers=[created.details[0].receipt_number]
    )
    with pytest.raises(DigitRejected):  # BILL_ALREADY_PAID: a 400 ErrorRes
        client.create_payment(_payment(bill.id, bill.total_amount))
    client.payment_rules()
    client.tenants()

    checked = _check(log)

    assert set(RESPONSE_SCHEMAS) <= checked
    assert "/collection-services/payments/_create error" in checked


def test_a_fresh_fetchbill_with_null_response_info_validates(exchanges) -> None:
    client, log = exchanges
    client.fetch_bills(
        tenant_id="pb.jalandhar", business_service="WS", consumer_code="WS/1013/2019-20/000102"
    )  # nothing due: Bill: []
    client.fetch_bills(
        tenant_id="pb.amritsar", business_service="WS", consumer_code="WS/107/2019-20/000023"
    )
    _check(log)


@responses_lib.activate
def test_requests_validate_without_the_sandbox(redis: redis_lib.Redis, redis_url: str) -> None:
    settings = Settings.from_env(
        {
            "DIGIT_BASE_URL": "https://digit.test",
            "DATABASE_URL": "postgresql://unused@127.0.0.1:9/unused",
            "DIGIT_USERNAME": "u",
            "DIGIT_PASSWORD": "p",
            "DIGIT_TENANT_ID": "pb.amritsar",
            "REDIS_URL": redis_url,
        }
    )
    log: list[Exchange] = []
    client = DigitClient(settings=settings, redis=redis, session=_recording_session(settings, log))
    responses_lib.add(
        "POST",
        "https://digit.test/user/oauth/token",
        json={"access_token": "t", "expires_in": 600, "refresh_token": "r"},
    )
    for path in ("billing-service/bill/v2/_fetchbill", "billing-service/bill/v2/_search"):
        responses_lib.add(
            "POST",
            f"https://digit.test/{path}",
            json={"ResposneInfo": None, "Bill": []},
            status=201,
        )
    responses_lib.add(
        "POST",
        "https://digit.test/collection-services/payments/_create",
        json={"ResponseInfo": None, "Payments": []},
    )
    responses_lib.add(
        "POST",
        "https://digit.test/collection-services/payments/PT/_search",
        json={"ResponseInfo": None, "Payments": []},
    )
    client.fetch_bills(tenant_id="pb.amritsar", business_service="WS", consumer_code="c")
    client.search_bills(tenant_id="pb", mobile_number="9876543210")
    client.search_payments(tenant_id="pb.amritsar", module="PT", bill_ids=["b"])
    with pytest.raises(Exception):
        client.create_payment(_payment("bill-1", Decimal(100), mode="CARD"))
    _check([ex for ex in log if ex.path != "/collection-services/payments/_create"])
    create = next(ex for ex in log if ex.path == "/collection-services/payments/_create")
    assert errors(validator(COLLECTION_URI, "PaymentRequest"), create.request_body) == []
