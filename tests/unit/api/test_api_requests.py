"""What POST /v1/payments (and /validate) refuses before any use case is called."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest

from integrator.api.schemas import NAME_PATTERN
from integrator.payments.models import PaymentRejected, Violation
from tests.unit.api.conftest import DROP, Edge, build_edge, valid_body


def problem_of(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert set(body) >= {"type", "title", "status", "detail", "code", "errors"}
    assert body["status"] == response.status_code
    return body


def field_codes(response: Any) -> set[tuple[str | None, str]]:
    return {(e["field"], e["code"]) for e in problem_of(response)["errors"]}


def bill(amount: Any, bill_id: str = "bill-1") -> dict[str, Any]:
    return {"billId": bill_id, "amount": amount}


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"tenantId": DROP}, "tenantId", "REQUIRED"),
        ({"tenantId": "PB.Amritsar"}, "tenantId", "INVALID_TENANT"),
        ({"tenantId": "pb"}, "tenantId", "CITY_TENANT_REQUIRED"),
        ({"tenantId": "pb." + "a" * 70}, "tenantId", "INVALID_LENGTH"),
        ({"tenantId": 5}, "tenantId", "INVALID_TYPE"),
        ({"paymentMode": "BITCOIN"}, "paymentMode", "INVALID_PAYMENT_MODE"),
        ({"paymentMode": DROP}, "paymentMode", "REQUIRED"),
        ({"paidBy": DROP}, "paidBy", "REQUIRED"),
        ({"paidBy": None}, "paidBy", "NOT_NULL"),
        ({"paidBy": "Ramesh 2"}, "paidBy", "INVALID_NAME"),
        ({"paidBy": "Rámesh"}, "paidBy", "INVALID_NAME"),
        ({"paidBy": "Ramesh\n"}, "paidBy", "INVALID_NAME"),
        ({"paidBy": "a" * 129}, "paidBy", "INVALID_LENGTH"),
        ({"payerName": "R2D2"}, "payerName", "INVALID_NAME"),
        ({"mobileNumber": "5876543210"}, "mobileNumber", "INVALID_MOBILE"),
        ({"mobileNumber": "98765432101"}, "mobileNumber", "INVALID_MOBILE"),
        ({"transactionNumber": "x" * 129}, "transactionNumber", "INVALID_LENGTH"),
        ({"instrumentNumber": "x" * 129}, "instrumentNumber", "INVALID_LENGTH"),
        ({"instrumentDate": "01-05-2024"}, "instrumentDate", "INVALID_DATE"),
        ({"instrumentDate": "20240501"}, "instrumentDate", "INVALID_DATE"),
        ({"instrumentDate": "2024-02-30"}, "instrumentDate", "INVALID_DATE"),
        ({"instrumentDate": "1999-12-31"}, "instrumentDate", "INVALID_DATE"),  # before any payment
        ({"instrumentDate": "9999-12-31"}, "instrumentDate", "INVALID_DATE"),
        ({"collectedAt": "2024-05-01T10:00:00"}, "collectedAt", "INVALID_DATETIME"),
        ({"collectedAt": "yesterday"}, "collectedAt", "INVALID_DATETIME"),
        ({"bills": DROP}, "bills", "REQUIRED"),
        ({"bills": []}, "bills", "INVALID_BILL_COUNT"),
        ({"bills": {"billId": "b"}}, "bills", "INVALID_TYPE"),
        ({"bills": [bill(1, f"b{i}") for i in range(21)]}, "bills", "INVALID_BILL_COUNT"),
        ({"bills": [bill(1), bill(2)]}, "bills", "DUPLICATE_BILL_ID"),
        ({"bills": [{"amount": 1}]}, "bills/0/billId", "REQUIRED"),
        ({"bills": [bill(1, "has space")]}, "bills/0/billId", "INVALID_IDENTIFIER"),
        ({"bills": [{"billId": "b", "amount": 1, "x": 1}]}, "bills/0/x", "UNKNOWN_FIELD"),
        ({"surprise": True}, "surprise", "UNKNOWN_FIELD"),
        # NUL and unpaired surrogates never reach the ledger: every stored text has a pattern
        ({"paidBy": "Ramesh\u0000Kumar"}, "paidBy", "INVALID_NAME"),
        ({"payerName": "Ramesh\ud800"}, "payerName", "INVALID_NAME"),
        ({"instrumentNumber": "00\u00001"}, "instrumentNumber", "INVALID_REFERENCE"),
        ({"transactionNumber": "T\udfff1"}, "transactionNumber", "INVALID_REFERENCE"),
        ({"mobileNumber": "987654321\u0000"}, "mobileNumber", "INVALID_MOBILE"),
        ({"tenantId": "pb.amritsar\u0000"}, "tenantId", "INVALID_TENANT"),
        ({"bills": [bill(1, "bill\u0000")]}, "bills/0/billId", "INVALID_IDENTIFIER"),
        # money: JSON numbers only, positive whole rupees (the domain's rule), bounded
        ({"bills": [bill("1200")]}, "bills/0/amount", "NOT_A_NUMBER"),
        ({"bills": [bill(True)]}, "bills/0/amount", "NOT_A_NUMBER"),
        ({"bills": [bill(False)]}, "bills/0/amount", "NOT_A_NUMBER"),
        ({"bills": [bill([1200])]}, "bills/0/amount", "NOT_A_NUMBER"),
        ({"bills": [bill(None)]}, "bills/0/amount", "NOT_NULL"),
        ({"bills": [bill(Decimal(0))]}, "bills/0/amount", "AMOUNT_NOT_POSITIVE"),
        ({"bills": [bill(Decimal(-5))]}, "bills/0/amount", "AMOUNT_NOT_POSITIVE"),
        ({"bills": [bill(Decimal("0.5"))]}, "bills/0/amount", "FRACTIONAL_AMOUNT"),
        ({"bills": [bill(Decimal("100.50"))]}, "bills/0/amount", "FRACTIONAL_AMOUNT"),
        ({"bills": [bill(Decimal("100.505"))]}, "bills/0/amount", "FRACTIONAL_AMOUNT"),
        ({"bills": [bill(Decimal("1E+400"))]}, "bills/0/amount", "TOO_LARGE"),
        ({"bills": [bill(Decimal("1000000000"))]}, "bills/0/amount", "TOO_LARGE"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/payments", "/v1/payments/validate"])
def test_each_rule_is_refused_with_422_naming_field_and_code(
    edge: Edge, overrides: dict[str, Any], field: str, code: str, path: str
) -> None:
    response = edge.post_payment(valid_body(**overrides), path=path)

    assert response.status_code == 422, response.get_data(as_text=True)
    assert (field, code) in field_codes(response)
    assert edge.payments.calls == []


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (
            '{"tenantId": "pb.amritsar", "bills": [{"billId": "b", "amount": NaN}]}',
            "INVALID_NUMBER",
        ),
        ('{"bills": [{"billId": "b", "amount": Infinity}]}', "INVALID_NUMBER"),
        ('{"bills": [{"billId": "b", "amount": -Infinity}]}', "INVALID_NUMBER"),
        ('{"bills": [', "INVALID_JSON"),
        ("", "INVALID_JSON"),
        ("\xff", "INVALID_JSON"),
    ],
)
def test_unusable_json_is_a_400_problem(edge: Edge, raw: str, code: str) -> None:
    response = edge.post_payment(raw=raw)

    assert response.status_code == 400
    assert problem_of(response)["code"] == code


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        (
            '{"tenantId": "pb.amritsar", "bills": [{"billId": "b", "amount": NaN}]}',
            [("bills/0/amount", "NaN")],
        ),
        (
            '{"bills": [{"billId": "a", "amount": 1}, {"billId": "b", "amount": -Infinity}],'
            ' "x": Infinity}',
            [("bills/1/amount", "-Infinity"), ("x", "Infinity")],
        ),
    ],
)
def test_a_nan_or_infinity_names_its_field_and_the_rule(
    edge: Edge, raw: str, fields: list[tuple[str, str]]
) -> None:
    response = edge.post_payment(raw=raw)

    assert response.status_code == 400
    errors = problem_of(response)["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(f, "INVALID_NUMBER") for f, _ in fields]
    for error, (_, constant) in zip(errors, fields, strict=True):
        assert error["message"].startswith(f"{constant} is not a number")
    assert edge.payments.calls == []


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 1_000 + "]" * 1_000,
        "[" * 20_000,
        '{"bills": ' + "[" * 5_000 + "]" * 5_000 + "}",
        '{"bills": [' + '{"a":' * 3_000 + "1" + "}" * 3_000 + "]}",
    ],
    ids=["list-1000", "open-20000", "bills-5000", "objects-3000"],
)
@pytest.mark.parametrize("path", ["/v1/payments", "/v1/payments/validate"])
def test_json_nested_too_deeply_is_a_400_invalid_json(edge: Edge, raw: str, path: str) -> None:
    response = edge.post_payment(raw=raw, path=path)

    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert problem_of(response)["code"] == "INVALID_JSON"
    assert edge.payments.calls == []


@pytest.mark.parametrize("raw", ["true", "false", '"815"'])
def test_an_amount_that_is_not_a_number_says_so(edge: Edge, raw: str) -> None:
    text = (
        '{"tenantId":"pb.amritsar","paymentMode":"CASH","paidBy":"Ramesh Kumar",'
        f'"bills":[{{"billId":"bill-1","amount":{raw}}}]}}'
    )

    response = edge.post_payment(raw=text)

    assert response.status_code == 422
    [error] = problem_of(response)["errors"]
    assert error["code"] == "NOT_A_NUMBER"
    assert error["message"].startswith("Not a number")


def test_a_fractional_amount_is_refused_with_the_domains_code_and_message(edge: Edge) -> None:
    response = edge.post_payment(valid_body(bills=[bill(Decimal("815.50"))]))

    [error] = problem_of(response)["errors"]
    assert error == {
        "field": "bills/0/amount",
        "code": "FRACTIONAL_AMOUNT",
        "message": "Amount 815.50 is not a whole number of rupees.",
    }
    assert problem_of(response)["type"] == "/docs#problem-FRACTIONAL_AMOUNT"


def test_a_body_that_is_not_an_object_is_refused(edge: Edge) -> None:
    response = edge.post_payment(raw="[1, 2]")

    assert response.status_code == 422
    assert problem_of(response)["code"] == "INVALID_TYPE"


def test_a_body_that_is_not_json_is_415(edge: Edge) -> None:
    response = edge.client.post(
        "/v1/payments",
        data="a=b",
        headers=edge.headers(**{"Idempotency-Key": "k"}),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 415
    assert problem_of(response)["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_an_oversize_body_is_413_problem() -> None:
    edge = build_edge(max_body_bytes=512)
    body = valid_body(paidBy="A" * 600)

    response = edge.post_payment(body)

    assert response.status_code == 413
    assert problem_of(response)["code"] == "PAYLOAD_TOO_LARGE"
    assert edge.payments.calls == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1500", Decimal("1500")),
        ("1500.00", Decimal("1500")),
        ("1", Decimal("1")),
        ("1E+3", Decimal("1000")),
        ("999999999", Decimal("999999999")),
    ],
)
def test_amounts_reach_the_use_case_as_exact_decimals(
    edge: Edge, raw: str, expected: Decimal
) -> None:
    text = (
        '{"tenantId":"pb.amritsar","paymentMode":"CASH","paidBy":"Ramesh Kumar",'
        f'"bills":[{{"billId":"bill-1","amount":{raw}}}]}}'
    )

    response = edge.post_payment(raw=text)

    assert response.status_code == 201, response.get_data(as_text=True)
    amount = edge.payments.calls[0][1]["request"].bills[0].amount
    assert isinstance(amount, Decimal)
    assert amount == expected and str(amount) == str(expected)


def test_amount_1500_round_trips_as_the_json_number_1500(edge: Edge) -> None:
    text = (
        '{"tenantId":"pb.amritsar","paymentMode":"CASH","paidBy":"Ramesh Kumar",'
        '"bills":[{"billId":"bill-1","amount":1500}]}'
    )

    response = edge.post_payment(raw=text)

    raw = response.get_data(as_text=True)
    assert '"amount":1500,' in raw and '"totalAmount":1500,' in raw
    assert "1500.0" not in raw and '"1500"' not in raw


def test_a_full_request_is_handed_over_canonically(edge: Edge) -> None:
    body = valid_body(
        paymentMode="CHEQUE",
        payerName="O'Brien",
        paidBy="Anita K. Sharma",
        mobileNumber="9876543210",
        instrumentNumber="CHQ 000123",
        instrumentDate="2024-04-30",
        transactionNumber="TXN-1",
        collectedAt="2024-05-01T15:30:00+05:30",
        bills=[bill(Decimal(100), "b1"), bill(Decimal(200), "b2")],
    )

    response = edge.post_payment(body)

    assert response.status_code == 201
    request = edge.payments.calls[0][1]["request"]
    assert request.payment_mode == "CHEQUE"
    assert request.instrument_date.isoformat() == "2024-04-30"
    assert request.collected_at.isoformat() == "2024-05-01T15:30:00+05:30"
    assert [(b.bill_id, b.amount) for b in request.bills] == [
        ("b1", Decimal(100)),
        ("b2", Decimal(200)),
    ]
    assert request.total_amount == Decimal(300)


# --- Idempotency-Key -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("abc", "abc"),
        ('"abc"', "abc"),
        ("A-z_0.9:x", "A-z_0.9:x"),
        ("k" * 64, "k" * 64),
        ('"' + "k" * 64 + '"', "k" * 64),
    ],
)
def test_idempotency_key_forms_accepted(edge: Edge, header: str, key: str) -> None:
    response = edge.post_payment(key=header)

    assert response.status_code == 201
    assert edge.payments.calls[0][1]["idempotency_key"] == key


@pytest.mark.parametrize(
    "header", ["", '""', "k" * 65, "has space", "a/b", '"abc', "ключ", '"a"b"', "a,b"]
)
def test_malformed_idempotency_key_is_400(edge: Edge, header: str) -> None:
    response = edge.post_payment(key=header)

    assert response.status_code == 400
    assert field_codes(response) == {("Idempotency-Key", "IDEMPOTENCY_KEY_INVALID")}
    assert edge.payments.calls == []


def test_missing_idempotency_key_is_400_with_its_code(edge: Edge) -> None:
    response = edge.post_payment(key=None)

    assert response.status_code == 400
    assert problem_of(response)["code"] == "IDEMPOTENCY_KEY_MISSING"


def test_validate_needs_no_idempotency_key(edge: Edge) -> None:
    response = edge.post_payment(key=None, path="/v1/payments/validate")

    assert response.status_code == 200


# --- GET /v1/bills query -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("businessService=WS&consumerCode=C1", "tenantId", "REQUIRED"),
        ("tenantId=pb.amritsar", "consumerCode", "ONE_FORM"),
        (
            "tenantId=pb.amritsar&consumerCode=C1&mobileNumber=9876543210",
            "consumerCode",
            "ONE_FORM",
        ),
        ("tenantId=pb.amritsar&consumerCode=C1", "businessService", "REQUIRED_WITH"),
        ("tenantId=pb&businessService=WS&consumerCode=C1", "tenantId", "CITY_TENANT_REQUIRED"),
        ("tenantId=pb.amritsar&mobileNumber=12345", "mobileNumber", "INVALID_MOBILE"),
        ("tenantId=pb.amritsar&mobileNumber=9876543210&page=2", "page", "UNKNOWN_FIELD"),
        ("tenantId=pb.amritsar&tenantId=pb.x&mobileNumber=9876543210", "tenantId", "INVALID_TYPE"),
    ],
)
def test_bills_query_rules(edge: Edge, query: str, field: str, code: str) -> None:
    response = edge.client.get(f"/v1/bills?{query}", headers=edge.headers())

    assert response.status_code == 422
    assert (field, code) in field_codes(response)


# --- names: our linear regex accepts exactly DIGIT's language ----------------------------------

DIGIT_NAME = re.compile(r"^[a-zA-Z]+(([_\-'`\. ][a-zA-Z ])?[a-zA-Z]*)*$")


@pytest.mark.parametrize(
    "name",
    [
        "Ramesh",
        "Ramesh Kumar",
        "O'Brien",
        "Anita K. Sharma",
        "a  b",
        "a.  b",
        "a_b-c`d",
        "a ",
        "a  ",
        "a - b",
        "-a",
        "a--b",
        "a.",
        "",
        " a",
        "a1",
        "a..b",
        "a. b",
    ],
)
def test_name_pattern_agrees_with_digit(name: str) -> None:
    assert bool(re.fullmatch(NAME_PATTERN, name)) == bool(DIGIT_NAME.fullmatch(name))


def test_name_pattern_is_linear_on_a_near_miss(edge: Edge) -> None:
    response = edge.post_payment(valid_body(paidBy="a" * 120 + "1"))

    assert response.status_code == 422  # DIGIT's own regex would take hours on this


# --- free text and path ids ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("", "CANCELLATION_REASON_REQUIRED"),
        ("   ", "CANCELLATION_REASON_REQUIRED"),
        ("\t\n ", "CANCELLATION_REASON_REQUIRED"),
        ("a" * 501, "CANCELLATION_REASON_REQUIRED"),
        ("wrong\u0000consumer", "INVALID_TEXT"),
        ("\u0000", "INVALID_TEXT"),
        ("wrong \ud800 consumer", "INVALID_TEXT"),
        ("\udfff", "INVALID_TEXT"),
        ("bell\u0007", "INVALID_TEXT"),
        ("escape \u001b[31m", "INVALID_TEXT"),
        ("del\u007f", "INVALID_TEXT"),
        ("c1 \u0085", "INVALID_TEXT"),
    ],
)
def test_a_cancellation_reason_breaking_its_rule_is_refused_on_reason(
    edge: Edge, reason: str, code: str
) -> None:
    response = edge.client.post(
        "/v1/payments/pay-1/cancellation",
        data=json.dumps({"reason": reason}),  # ASCII: \ud800 is sent escaped, as a device would
        headers=edge.headers(),
        content_type="application/json",
    )

    assert response.status_code == 422, response.get_data(as_text=True)
    assert field_codes(response) == {("reason", code)}
    assert problem_of(response)["code"] == code


@pytest.mark.parametrize(
    "reason",
    ["x", "a" * 500, "  " + "a" * 500 + " \n", "line one\nline two\ttabbed\r\n", "₹ 815 😀 ಕನ್ನಡ"],
)
def test_a_cancellation_reason_within_its_rule_passes_the_schema(reason: str) -> None:
    from integrator.api.schemas.requests import CancellationRequestSchema

    assert CancellationRequestSchema().load({"reason": reason}) == {"reason": reason}


@pytest.mark.parametrize(
    "raw",
    [
        '{"\\ud800": 1}',
        '{"tenantId": "pb.amritsar", "paymentMode": "CASH", "paidBy": "Ramesh Kumar", '
        '"bills": [{"billId": "bill-1", "amount": 1, "\\udc00x": 2}]}',
    ],
)
def test_a_field_named_with_an_unpaired_surrogate_is_refused_not_a_500(
    edge: Edge, raw: str
) -> None:
    response = edge.post_payment(raw=raw)

    assert response.status_code == 422
    assert "UNKNOWN_FIELD" in {code for _field, code in field_codes(response)}
    assert "\ufffd" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/payments/%00"),
        ("GET", "/v1/payments/pay%00x"),
        ("GET", "/v1/payments/%ED%A0%80"),
        ("GET", "/v1/payments/pay%201"),
        ("GET", "/v1/payments/" + "p" * 65),
        ("POST", "/v1/payments/%00/cancellation"),
    ],
)
def test_a_path_id_that_cannot_be_a_payment_id_is_not_found_without_a_lookup(
    edge: Edge, method: str, path: str
) -> None:
    response = edge.client.open(
        path,
        method=method,
        data='{"reason": "wrong consumer"}',
        headers=edge.headers(),
        content_type="application/json",
    )

    assert response.status_code == 404
    assert problem_of(response)["code"] == "PAYMENT_NOT_FOUND"
    assert edge.payments.calls == []


def test_a_path_id_is_checked_after_the_device_key(edge: Edge) -> None:
    response = edge.client.get("/v1/payments/%00")

    assert response.status_code == 401


# --- the cash cap ----------------------------------------------------------------------------


class CapReached:
    """A device at its cap: every payment is refused (payments.cash.CashBook's rule is tested
    with the cash ledger); records the keys it was asked about."""

    def __init__(self) -> None:
        self.keys: list[str | None] = []

    def require_room(self, device: Any, request: Any, idempotency_key: str | None) -> None:
        self.keys.append(idempotency_key)
        raise PaymentRejected(
            [Violation(code="CASH_IN_HAND_CAP_REACHED", field="paymentMode", message="full")]
        )


@pytest.mark.parametrize(
    ("path", "key"), [("/v1/payments", "key-1"), ("/v1/payments/validate", None)]
)
def test_validate_applies_the_cash_cap_as_post_does(path: str, key: str | None) -> None:
    guard = CapReached()
    edge = build_edge(cash_guard=guard)

    response = edge.post_payment(valid_body(), path=path)

    assert response.status_code == 422, response.get_data(as_text=True)
    assert field_codes(response) == {("paymentMode", "CASH_IN_HAND_CAP_REACHED")}
    assert guard.keys == [key]  # validate takes no key: judged as a new payment
    assert edge.payments.calls == []


# --- query parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/payments"),
        ("POST", "/v1/payments/validate"),
        ("POST", "/v1/payments/batch"),
        ("POST", "/v1/payments/pay-1/cancellation"),
        ("GET", "/v1/payments/pay-1"),
        ("GET", "/v1/devices/me/limits"),
        ("GET", "/v1/devices/me/cash"),
    ],
)
@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("idempotencyKy=key-2", ["idempotencyKy"]),
        ("dryRun=1&b=2", ["dryRun", "b"]),
        ("tenantId=pb.amritsar", ["tenantId"]),
    ],
)
def test_a_query_parameter_an_operation_does_not_take_is_refused_naming_it(
    edge: Edge, method: str, path: str, query: str, names: list[str]
) -> None:
    headers = edge.headers(**{"Idempotency-Key": "key-1"})
    response = edge.client.open(
        f"{path}?{query}",
        method=method,
        data=json.dumps(valid_body(bills=[{"billId": "bill-1", "amount": 1200}])),
        headers=headers,
        content_type="application/json",
    )

    assert response.status_code == 422, response.get_data(as_text=True)
    body = problem_of(response)
    assert body["code"] == "UNKNOWN_FIELD"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        (name, "UNKNOWN_FIELD") for name in names
    ]
    assert edge.payments.calls == []


@pytest.mark.parametrize(
    "path",
    [
        "/v1/payments?idempotencyKey=key-1",
        "/v1/bills?tenantId=pb.amritsar&mobileNumber=9876543210",
        "/v1/receipts?receiptNumber=05/2024-25/000001&tenantId=pb.amritsar&businessService=WS",
    ],
)
def test_the_documented_query_parameters_are_still_taken(edge: Edge, path: str) -> None:
    edge.post_payment(valid_body())

    response = edge.client.get(path, headers=edge.headers())

    assert response.status_code == 200, response.get_data(as_text=True)


def test_an_operation_that_reads_its_query_still_lists_every_error_of_it(edge: Edge) -> None:
    response = edge.client.get("/v1/bills?tenantId=PB&surprise=1", headers=edge.headers())

    assert field_codes(response) >= {("tenantId", "INVALID_TENANT"), ("surprise", "UNKNOWN_FIELD")}
