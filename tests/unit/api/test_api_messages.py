"""Messages a device shows to people: what to give, what is wrong, why a payment waits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from integrator.api.schemas.requests import COLLECTED_AT_SKEW
from integrator.api.schemas.responses import last_error_text
from integrator.payments.models import PaymentStatus
from tests.unit.api.conftest import IST, NOW, Edge, make_payment, valid_body


@pytest.mark.parametrize(
    ("ahead", "refused"),
    [
        (timedelta(0), False),
        (COLLECTED_AT_SKEW, False),
        (COLLECTED_AT_SKEW + timedelta(seconds=1), True),
        (timedelta(days=1), True),
        (-timedelta(days=3), False),
    ],
)
@pytest.mark.parametrize("path", ["/v1/payments", "/v1/payments/validate"])
def test_collected_at_beyond_the_clock_skew_is_refused(
    edge: Edge, ahead: timedelta, refused: bool, path: str
) -> None:
    collected = (NOW + ahead).astimezone(IST).isoformat()

    response = edge.post_payment(valid_body(collectedAt=collected), path=path)

    if refused:
        assert response.status_code == 422
        body = response.get_json()
        assert body["code"] == "COLLECTED_AT_IN_FUTURE"
        assert body["errors"][0]["field"] == "collectedAt"
        assert "5 minutes in the future" in body["errors"][0]["message"]
        assert edge.payments.calls == []
    else:
        assert response.status_code < 300, response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("collected", "code"),
    [
        ("0001-01-01T00:00:00+05:30", "INVALID_DATETIME"),  # BC in UTC: overflowed before
        ("0001-01-01T00:00:00Z", "INVALID_DATETIME"),
        ("1999-12-31T23:59:59Z", "INVALID_DATETIME"),
        ("2000-01-01T05:29:59+05:30", "INVALID_DATETIME"),  # 1999-12-31T23:59:59Z
        ("9999-12-31T23:59:59-05:00", "COLLECTED_AT_IN_FUTURE"),  # past datetime.max in UTC
        ("9999-12-31T23:59:59.999999+00:00", "COLLECTED_AT_IN_FUTURE"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/payments", "/v1/payments/validate"])
def test_collected_at_before_2000_or_beyond_any_clock_is_refused_on_collected_at(
    edge: Edge, collected: str, code: str, path: str
) -> None:
    response = edge.post_payment(valid_body(collectedAt=collected), path=path)

    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == code
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("collectedAt", code)]
    assert edge.payments.calls == []


@pytest.mark.parametrize("collected", ["2000-01-01T00:00:00Z", "2000-01-01T05:30:00+05:30"])
def test_collected_at_from_2000_on_is_accepted(edge: Edge, collected: str) -> None:
    response = edge.post_payment(valid_body(collectedAt=collected))

    assert response.status_code < 300, response.get_data(as_text=True)


def test_the_skew_is_five_minutes() -> None:
    assert timedelta(minutes=5) == COLLECTED_AT_SKEW


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (None, None),
        ("", None),
        (
            "DigitUnavailable: timeout [collection-services/payments/_create] status=503",
            "DIGIT could not be reached; the integrator keeps retrying.",
        ),
        (
            "DigitOutcomeUnknown: bad request [collection-services/payments/_create] status=400",
            "DIGIT's answer to the last attempt was lost; the integrator checks DIGIT before "
            "trying again.",
        ),
        (
            "payment refused [collection-services/payments/_create] status=400 "
            "codes=['INVALID_BILL_ID', 'EG_PAY_ERR']",
            "Payment refused (DIGIT codes: INVALID_BILL_ID, EG_PAY_ERR).",
        ),
        (
            "DIGIT holds another payment for these bills: receipts ['05/2024-25/000001']",
            "DIGIT holds another payment for these bills: receipts 05/2024-25/000001",
        ),
        (
            "RETRIES_EXHAUSTED: last error DigitUnavailable: timeout [x] status=504",
            "Registration stopped (retries exhausted). Last error: DIGIT could not be reached; "
            "the integrator keeps retrying.",
        ),
        ("RETRIES_EXHAUSTED: last error none", "Registration stopped (retries exhausted)."),
        ("ConnectionError: pool closed", "Registration with DIGIT failed; it is retried."),
        ("BILL_EXPIRED", "BILL_EXPIRED"),
    ],
)
def test_last_error_is_a_sentence_without_class_names_or_reprs(
    raw: str | None, text: str | None
) -> None:
    written = last_error_text(raw)

    assert written == text
    if written:
        assert "[" not in written and "'" not in written.replace("DIGIT's", "")
        assert "Error:" not in written and "status=" not in written


def test_a_pending_payment_answers_its_last_error_as_text(edge: Edge) -> None:
    edge.payments.payments[("dev-1", "k")] = make_payment(
        status=PaymentStatus.PENDING,
        last_error="DigitUnavailable: read timeout [collection-services/payments/_create]",
    )

    body = edge.client.get("/v1/payments/pay-1", headers=edge.headers()).get_json()

    assert body["lastError"] == "DIGIT could not be reached; the integrator keeps retrying."
