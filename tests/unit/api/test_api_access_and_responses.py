"""Auth, rate limit, success shapes and the error mapper of the PoS API."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest

from integrator import jsonutil
from integrator.api.schemas import BillSchema, BillsResponseSchema
from integrator.digit.errors import DigitErrorDetail, DigitRejected, DigitUnavailable
from integrator.payments.models import InvalidTransition, PaymentRejected, PaymentStatus, Violation
from integrator.payments.use_cases import (
    BillOffer,
    DigitUnreachable,
    IdempotencyKeyReused,
    PaymentInProgress,
    PendingPayment,
    ReceiptNotReady,
    RequestInFlight,
)
from tests.unit.api.conftest import (
    KEY,
    REVOKED_KEY,
    Edge,
    build_edge,
    make_bill,
    make_offer,
    valid_body,
)
from tests.unit.api.test_api_requests import problem_of

BILLS = "/v1/bills?tenantId=pb.amritsar&businessService=WS&consumerCode=WS/107/2024-25/000123"


# --- auth ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic abc",
        f"Token {KEY}",
        "Bearer unknown-key",
        f"Bearer {REVOKED_KEY}",
    ],
)
def test_missing_unknown_or_revoked_keys_are_401(edge: Edge, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = edge.client.get(BILLS, headers=headers)

    assert response.status_code == 401
    assert problem_of(response)["code"] == "UNAUTHORIZED"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert edge.payments.calls == []


def test_bearer_scheme_is_case_insensitive(edge: Edge) -> None:
    response = edge.client.get(BILLS, headers={"Authorization": f"bearer {KEY}"})

    assert response.status_code == 200


@pytest.mark.parametrize("tenant", ["hr.panipat", "pbx.amritsar", "hr"])
def test_a_tenant_outside_the_device_scope_is_403(edge: Edge, tenant: str) -> None:
    bills = edge.client.get(
        f"/v1/bills?tenantId={tenant}&mobileNumber=9876543210", headers=edge.headers()
    )
    payment = edge.post_payment(valid_body(tenantId=tenant))

    # a state is never a payment's tenant, in scope or not: that is the request's shape
    refused = (bills, payment) if "." in tenant else (bills,)
    for response in refused:
        assert response.status_code == 403
        assert problem_of(response)["code"] == "TENANT_FORBIDDEN"
    if "." not in tenant:
        assert problem_of(payment)["code"] == "CITY_TENANT_REQUIRED"
    assert edge.payments.calls == []


@pytest.mark.parametrize("tenant", ["pb", "pb.amritsar", "pb.jalandhar"])
def test_a_state_scope_covers_its_cities(edge: Edge, tenant: str) -> None:
    response = edge.client.get(
        f"/v1/bills?tenantId={tenant}&mobileNumber=9876543210", headers=edge.headers()
    )

    assert response.status_code == 200


def test_over_the_rate_limit_is_429_with_retry_after() -> None:
    edge = build_edge(rate_limit=2)

    statuses = [edge.client.get(BILLS, headers=edge.headers()).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    response = edge.client.get(BILLS, headers=edge.headers())
    assert problem_of(response)["code"] == "RATE_LIMITED"
    assert response.headers["Retry-After"] == "13"


def test_the_device_key_appears_in_no_response_or_log(
    edge: Edge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    edge.payments.raise_error = RuntimeError(f"boom {KEY}")

    responses = [
        edge.client.get(BILLS, headers=edge.headers()),
        edge.client.get(BILLS, headers=edge.headers(key="nope-" + KEY)),
    ]

    for response in responses:
        assert KEY not in response.get_data(as_text=True)
        assert KEY not in str(response.headers)
    assert all(KEY not in r.getMessage() for r in caplog.records)


def test_docs_and_openapi_need_no_key(edge: Edge) -> None:
    assert edge.client.get("/openapi.json").status_code == 200
    assert edge.client.get("/docs").status_code == 200


# --- success shapes --------------------------------------------------------------------------


def test_bills_by_consumer_shape(edge: Edge) -> None:
    edge.payments.offers = [
        make_offer(pending_payment=PendingPayment(id="pay-9", status="PENDING"))
    ]

    response = edge.client.get(BILLS, headers=edge.headers())

    assert response.status_code == 200
    (bill,) = response.get_json()["bills"]
    assert bill == {
        "billId": "bill-1",
        "billNumber": "BILL/bill-1",
        "tenantId": "pb.amritsar",
        "businessService": "WS",
        "consumerCode": "WS/107/2024-25/000123",
        "payerName": "Ramesh Kumar",
        "mobileNumber": "******3210",
        "billDate": "2024-04-02T09:30:00+05:30",
        "expiryDate": "2024-05-31T23:59:59+05:30",
        "periodFrom": "2024-04-01T00:00:00+05:30",
        "periodTo": "2024-06-30T23:59:59+05:30",
        "totalAmount": Decimal(1200),
        "lines": [
            {"taxHeadCode": "WS_CHARGE", "amount": Decimal(1000)},
            {"taxHeadCode": "WS_TIME_PENALTY", "amount": Decimal(200)},
        ],
        "partPaymentAllowed": True,
        "advanceAllowed": False,
        "minimumPayable": Decimal(100),
        "maximumPayable": Decimal(1200),
        "amountExactness": "EXACT_AND_BELOW",
        "paymentModesNotAllowed": ["DD"],
        "pendingPayment": {
            "id": "pay-9",
            "status": "PENDING",
            "byThisDevice": True,
            "message": "A payment by this device is in progress.",
        },
        "payable": True,
        "notPayableReason": None,
    }
    assert response.get_json()["unsearchedTenants"] == []
    name, kwargs = edge.payments.calls[0]
    assert name == "bills_for_consumer"
    assert kwargs["consumer_code"] == "WS/107/2024-25/000123"
    assert kwargs["device"].id == "dev-1"


def test_a_partial_state_wide_answer_names_the_cities_it_could_not_search(edge: Edge) -> None:
    edge.payments.unsearched_tenants = ("pb.nawanshahr",)

    response = edge.client.get(
        "/v1/bills?tenantId=pb&mobileNumber=9876543210", headers=edge.headers()
    )

    assert response.status_code == 200
    assert response.get_json()["unsearchedTenants"] == ["pb.nawanshahr"]
    assert len(response.get_json()["bills"]) == 1


def test_a_bill_of_a_city_we_cannot_collect_in_says_so(edge: Edge) -> None:
    edge.payments.offers = [make_offer(not_payable_reason="TENANT_NOT_COLLECTABLE")]

    (bill,) = edge.client.get(BILLS, headers=edge.headers()).get_json()["bills"]

    assert (bill["payable"], bill["notPayableReason"]) == (False, "TENANT_NOT_COLLECTABLE")


def test_bills_by_mobile_calls_the_mobile_use_case_and_may_be_empty(edge: Edge) -> None:
    edge.payments.offers = []

    response = edge.client.get(
        "/v1/bills?tenantId=pb.amritsar&mobileNumber=9876543210", headers=edge.headers()
    )

    assert response.status_code == 200
    assert response.get_json() == {"bills": [], "unsearchedTenants": [], "duesReopening": []}
    name, kwargs = edge.payments.calls[0]
    assert (name, kwargs["mobile_number"], kwargs["business_service"]) == (
        "bills_for_mobile",
        "9876543210",
        None,
    )


def test_registered_payment_is_201_with_receipts_and_location(edge: Edge) -> None:
    response = edge.post_payment()

    assert response.status_code == 201
    assert response.headers["Location"] == "/v1/payments/pay-1"
    assert "Idempotent-Replayed" not in response.headers
    body = response.get_json()
    assert body["status"] == "REGISTERED"
    assert body["receipts"] == [
        {
            "billId": "bill-1",
            "consumerCode": "WS/107/2024-25/000123",
            "businessService": "WS",
            "amount": Decimal(1200),
            "receiptNumber": "05/2024-25/000001",
            "receiptDate": "2024-05-01T15:30:00+05:30",  # 10:00 UTC, in DIGIT_TIMEZONE
        }
    ]
    assert set(body) == {
        "id",
        "idempotencyKey",
        "status",
        "provisional",
        "tenantId",
        "paymentMode",
        "totalAmount",
        "collectedAt",
        "bills",
        "receipts",
        "createdAt",
        "registeredAt",
        "attempts",
        "lastError",
        "reversal",
        "resolution",
    }
    assert body["reversal"] is None and body["resolution"] is None


def test_pending_payment_is_202_with_location_and_no_receipts() -> None:
    edge = build_edge(configure=lambda p: setattr(p, "accept_status", PaymentStatus.PENDING))

    response = edge.post_payment()

    assert response.status_code == 202
    assert response.headers["Location"] == "/v1/payments/pay-1"
    body = response.get_json()
    assert (body["id"], body["status"], body["receipts"]) == ("pay-1", "PENDING", [])


def test_a_replay_is_200_with_idempotent_replayed(edge: Edge) -> None:
    first = edge.post_payment(key='"same"')
    again = edge.post_payment(key="same")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()


def test_get_and_find_payment_only_for_its_device(edge: Edge) -> None:
    edge.post_payment(key="k-1")

    by_id = edge.client.get("/v1/payments/pay-1", headers=edge.headers())
    by_key = edge.client.get("/v1/payments?idempotencyKey=k-1", headers=edge.headers())
    other = edge.client.get("/v1/payments/pay-2", headers=edge.headers())
    missing_key = edge.client.get("/v1/payments?idempotencyKey=k-2", headers=edge.headers())

    assert by_id.status_code == 200 and by_id.get_json()["idempotencyKey"] == "k-1"
    assert by_key.get_json() == by_id.get_json()
    for response in (other, missing_key):
        assert response.status_code == 404
        assert problem_of(response)["code"] == "PAYMENT_NOT_FOUND"


def test_validate_answers_what_may_be_paid(edge: Edge) -> None:
    response = edge.post_payment(
        valid_body(bills=[{"billId": "b1", "amount": Decimal("150")}]),
        path="/v1/payments/validate",
        key=None,
    )

    assert response.status_code == 200
    body = response.get_json()
    assert body["valid"] is True and body["totalAmount"] == Decimal(150)
    assert body["bills"][0]["billId"] == "b1"
    assert body["bills"][0]["minimumPayable"] == Decimal(100)
    assert edge.payments.calls[0][0] == "validate_payment"


def test_receipt_by_number_with_slashes(edge: Edge) -> None:
    response = edge.client.get(
        "/v1/receipts?receiptNumber=05/2024-25/000001&tenantId=pb.amritsar&businessService=WS",
        headers=edge.headers(),
    )
    missing = edge.client.get(
        "/v1/receipts?receiptNumber=05/2024-25/000999&tenantId=pb.amritsar&businessService=WS",
        headers=edge.headers(),
    )

    assert response.status_code == 200
    body = response.get_json()
    assert body["receiptNumber"] == "05/2024-25/000001"
    assert body["amountPaid"] == Decimal(1200)
    assert body["lines"][1] == {"taxHeadCode": "WS_TIME_PENALTY", "amount": Decimal(200)}
    assert missing.status_code == 404
    assert problem_of(missing)["code"] == "RECEIPT_NOT_FOUND"


def test_a_receipt_is_looked_up_in_a_city_not_a_state(edge: Edge) -> None:
    response = edge.client.get(
        "/v1/receipts?receiptNumber=05/2024-25/000001&tenantId=pb&businessService=WS",
        headers=edge.headers(),
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"][0]["field"] == "tenantId"
    assert problem_of(response)["code"] == "CITY_TENANT_REQUIRED"
    assert edge.payments.calls == []  # refused before any use case


# --- the error mapper ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "code", "retry_after"),
    [
        (
            PaymentRejected(
                [Violation(code="AMOUNT_BELOW_MINIMUM", field="bills[0].amount", message="below")]
            ),
            422,
            "AMOUNT_BELOW_MINIMUM",
            None,
        ),
        (IdempotencyKeyReused("pay-1"), 422, "IDEMPOTENCY_KEY_REUSED", None),
        (PaymentInProgress("pay-7", bill_id="bill-1"), 409, "PAYMENT_IN_PROGRESS", None),
        (RequestInFlight(2.2), 409, "REQUEST_IN_FLIGHT", "3"),
        (ReceiptNotReady("pay-8", "REFUSED"), 409, "RECEIPT_NOT_READY", None),
        (DigitUnreachable(60), 503, "DIGIT_UNAVAILABLE", "60"),
        (DigitUnavailable("timeout"), 503, "DIGIT_UNAVAILABLE", "30"),
        (
            DigitRejected("no", errors=[DigitErrorDetail("INVALID_BILL_ID", "x")]),
            502,
            "DIGIT_REJECTED",
            None,
        ),
        (
            InvalidTransition("p", PaymentStatus.PENDING, PaymentStatus.RESOLVED),
            500,
            "INTERNAL_ERROR",
            None,
        ),
    ],
)
def test_domain_errors_map_to_one_status_each(
    edge: Edge, error: Exception, status: int, code: str, retry_after: str | None
) -> None:
    edge.payments.raise_error = error

    response = edge.post_payment()

    assert response.status_code == status
    assert problem_of(response)["code"] == code
    assert problem_of(response)["status"] == status  # RFC 9457: the HTTP status, an integer
    assert response.headers.get("Retry-After") == retry_after


def test_a_receipt_not_ready_names_the_payments_status_apart_from_the_http_status(
    edge: Edge,
) -> None:
    edge.payments.raise_error = ReceiptNotReady("pay-8", "REFUSED")

    body = problem_of(edge.post_payment())

    assert (body["status"], body["paymentId"], body["paymentStatus"]) == (409, "pay-8", "REFUSED")


def test_rule_violations_name_the_field_as_a_path(edge: Edge) -> None:
    edge.payments.raise_error = PaymentRejected(
        [
            Violation(code="BILL_NOT_FOUND", field="bills[0].billId", message="no such bill"),
            Violation(code="PAYMENT_MODE_NOT_ALLOWED", field="paymentMode", message="DD"),
        ]
    )

    body = problem_of(edge.post_payment())

    assert body["errors"] == [
        {"field": "bills/0/billId", "code": "BILL_NOT_FOUND", "message": "no such bill"},
        {"field": "paymentMode", "code": "PAYMENT_MODE_NOT_ALLOWED", "message": "DD"},
    ]


def test_an_unexpected_error_is_a_generic_500_with_the_traceback_only_in_the_log(
    edge: Edge, caplog: pytest.LogCaptureFixture
) -> None:
    edge.payments.raise_error = ZeroDivisionError("secret internals /srv/app.py")

    response = edge.client.get(BILLS, headers=edge.headers())

    text = response.get_data(as_text=True)
    assert response.status_code == 500
    assert problem_of(response)["code"] == "INTERNAL_ERROR"
    assert "Traceback" not in text and "internals" not in text and "ZeroDivision" not in text
    # the JSON log handler's redaction turns exc_info into a (redacted) exc_text in place
    assert any(
        (r.exc_info and r.exc_info[0] is ZeroDivisionError)
        or "ZeroDivisionError" in (r.exc_text or "")
        for r in caplog.records
    )


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/v1/nothing-here", 404, "NOT_FOUND"),
        ("get", "/nowhere", 404, "NOT_FOUND"),
        ("delete", "/v1/payments", 405, "METHOD_NOT_ALLOWED"),
        ("put", "/v1/bills", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_http_errors_are_problems(
    edge: Edge, method: str, path: str, status: int, code: str
) -> None:
    response = getattr(edge.client, method)(path, headers=edge.headers())

    assert response.status_code == status
    assert problem_of(response)["code"] == code
    if status == 405:
        assert "Allow" in response.headers


def test_every_problem_matches_the_documented_shape(edge: Edge) -> None:
    responses: list[Any] = [
        edge.client.get("/v1/bills", headers=edge.headers()),
        edge.client.get(BILLS),
        edge.post_payment(key=None),
    ]
    for response in responses:
        body = problem_of(response)
        for error in body["errors"]:
            assert set(error) == {"field", "code", "message"}


def test_bill_dump_handles_missing_dates_and_mobile(edge: Edge) -> None:
    bill = make_bill(mobile_number=None, bill_date=None, details=())
    edge.payments.offers = [make_offer(bill)]

    body = edge.client.get(BILLS, headers=edge.headers()).get_json()["bills"][0]

    assert (body["mobileNumber"], body["billDate"], body["expiryDate"], body["lines"]) == (
        None,
        None,
        None,
        [],
    )


def test_an_unreachable_redis_is_a_503_not_a_500(edge: Edge) -> None:
    import redis

    edge.payments.raise_error = redis.exceptions.ConnectionError("Connection refused")

    response = edge.client.get(BILLS, headers=edge.headers())

    assert response.status_code == 503
    assert problem_of(response)["code"] == "STORE_UNAVAILABLE"
    assert "Retry-After" in response.headers


def test_another_devices_pending_payment_is_shown_without_its_id(edge: Edge) -> None:
    edge.payments.offers = [
        make_offer(
            pending_payment=PendingPayment(id="pay-9", status="PENDING", by_this_device=False)
        )
    ]

    response = edge.client.get(BILLS, headers=edge.headers())

    assert response.status_code == 200
    (bill,) = response.get_json()["bills"]
    assert bill["pendingPayment"] == {
        "id": None,
        "status": "PENDING",
        "byThisDevice": False,
        "message": "A payment is in progress.",
    }
    assert "pay-9" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "offer",
    [
        make_offer(),
        make_offer(make_bill(mobile_number=None, bill_date=None, details=(), payer_name=None)),
        make_offer(
            make_bill(total="815.50"), pending_payment=PendingPayment(id="pay_1", status="PENDING")
        ),
        make_offer(make_bill(id="b-2", total=0)),
    ],
    ids=["full", "sparse", "pending", "zero"],
)
def test_the_bills_answer_is_exactly_what_bill_schema_dumps(edge: Edge, offer: BillOffer) -> None:
    """list_bills builds BillSchema's JSON directly (bill_view); it must not drift from it."""
    edge.payments.offers = [offer]
    response = edge.client.get(BILLS, headers=edge.headers())
    expected = jsonutil.loads(
        jsonutil.dumps(
            BillsResponseSchema().dump(
                {"bills": [offer], "unsearchedTenants": [], "duesReopening": []}
            )
        )
    )
    assert jsonutil.loads(response.data) == expected
    assert set(expected["bills"][0]) == set(BillSchema().fields)
