"""The pure payment rules: amount policy, modes, instruments, bill payability, fingerprints."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from integrator.digit.models import PaymentRule
from integrator.payments.models import AmountExactness, Payability
from integrator.payments.rules import (
    check_amount,
    check_bill_payable,
    check_instrument,
    check_mode,
    fingerprint,
    instrument_date_start,
    is_whole,
    local_today,
    payability,
)
from tests.unit.payments.payment_factories import NOW, PT, RULES, SW, TL, WC, WS, make_bill

KOLKATA = ZoneInfo("Asia/Kolkata")
CAP = Decimal(10000)


def _codes(violations: list) -> list[str]:  # type: ignore[type-arg]
    return [v.code for v in violations]


@pytest.mark.parametrize(
    ("rule", "total", "cap", "minimum", "maximum", "exactness"),
    [
        (WS, "1200", CAP, "100", "11200", AmountExactness.ADHOC),
        (PT, "1200", CAP, "100", "1200", AmountExactness.EXACT_AND_BELOW),
        (TL, "1200", CAP, "1200", "1200", AmountExactness.EXACT),
        (WC, "1200", CAP, "1200", "11200", AmountExactness.EXACT_AND_ABOVE),
        # a bill below MDMS minAmountPayable: the minimum is the total itself
        (WS, "50", CAP, "50", "10050", AmountExactness.EXACT_AND_ABOVE),
        (PT, "80", CAP, "80", "80", AmountExactness.EXACT),
        (PT, "100", CAP, "100", "100", AmountExactness.EXACT),
        # advance allowed but capped at zero: nothing above the total
        (WS, "1200", Decimal(0), "100", "1200", AmountExactness.EXACT_AND_BELOW),
        (WC, "1200", Decimal(0), "1200", "1200", AmountExactness.EXACT),
        # part payment without a minimum in MDMS: one rupee
        (
            PaymentRule(
                business_service="X",
                part_payment_allowed=True,
                advance_allowed=False,
                min_amount_payable=None,
            ),
            "1200",
            CAP,
            "1",
            "1200",
            AmountExactness.EXACT_AND_BELOW,
        ),
    ],
)
def test_payability_bounds_and_exactness(
    rule: PaymentRule,
    total: str,
    cap: Decimal,
    minimum: str,
    maximum: str,
    exactness: AmountExactness,
) -> None:
    bill = make_bill(total=total, business_service=rule.business_service)
    p = payability(bill, rule, advance_cap=cap)
    assert p.minimum_payable == Decimal(minimum)
    assert p.maximum_payable == Decimal(maximum)
    assert p.exactness is exactness
    assert p.total == Decimal(total)
    assert p.part_payment_allowed is rule.part_payment_allowed
    assert p.advance_allowed is rule.advance_allowed
    assert p.payment_modes_not_allowed == rule.modes_not_allowed
    assert p.bill_id == bill.id


def _pay(service: str, total: str = "1200") -> Payability:
    return payability(
        make_bill(total=total, business_service=service), RULES[service], advance_cap=CAP
    )


@pytest.mark.parametrize(
    ("service", "amount", "expected"),
    [
        ("WS", "1200", []),
        ("WS", "1200.00", []),  # 1200.00 is whole
        ("WS", "100.00", []),
        ("WS", "100", []),
        ("WS", "1E+3", []),
        ("WS", "100.50", ["FRACTIONAL_AMOUNT"]),
        ("WS", "1200.01", ["FRACTIONAL_AMOUNT"]),
        ("WS", "0", ["AMOUNT_NOT_POSITIVE"]),
        ("WS", "0.00", ["AMOUNT_NOT_POSITIVE"]),
        ("WS", "-100", ["AMOUNT_NOT_POSITIVE"]),
        ("WS", "NaN", ["INVALID_AMOUNT"]),
        ("WS", "Infinity", ["INVALID_AMOUNT"]),
        ("WS", "99", ["AMOUNT_BELOW_MINIMUM"]),
        ("WS", "11200", []),
        ("WS", "11201", ["AMOUNT_ABOVE_MAXIMUM"]),
        ("PT", "100", []),
        ("PT", "99", ["AMOUNT_BELOW_MINIMUM"]),
        ("PT", "1200", []),
        ("PT", "1201", ["ADVANCE_NOT_ALLOWED"]),
        ("TL", "1200", []),
        ("TL", "1199", ["PARTIAL_PAYMENT_NOT_ALLOWED"]),
        ("TL", "1201", ["ADVANCE_NOT_ALLOWED"]),
        ("TL", "1199.50", ["FRACTIONAL_AMOUNT"]),
        ("WC", "1199", ["PARTIAL_PAYMENT_NOT_ALLOWED"]),
        ("WC", "5000", []),
        ("WC", "11201", ["AMOUNT_ABOVE_MAXIMUM"]),
    ],
)
def test_amount_is_checked_against_the_bills_payability(
    service: str, amount: str, expected: list[str]
) -> None:
    violations = check_amount("bills[0].amount", Decimal(amount), _pay(service))
    assert _codes(violations) == expected
    assert all(v.field == "bills[0].amount" for v in violations)


@pytest.mark.parametrize(
    ("amount", "whole"),
    [
        ("100", True),
        ("100.00", True),
        ("100.50", False),
        ("0.01", False),
        ("1E+2", True),
        ("NaN", False),
        ("Infinity", False),
    ],
)
def test_is_whole(amount: str, whole: bool) -> None:
    assert is_whole(Decimal(amount)) is whole


@pytest.mark.parametrize(
    ("mode", "rules", "expected"),
    [
        ("CASH", [WS], []),
        ("DD", [WS], ["PAYMENT_MODE_NOT_ALLOWED"]),
        ("dd", [WS], ["PAYMENT_MODE_NOT_ALLOWED"]),
        ("OFFLINE_NEFT", [WS], []),
        ("OFFLINE_NEFT", [SW], ["PAYMENT_MODE_NOT_ALLOWED"]),
        ("CHEQUE", [PT], []),
        ("POSTAL_ORDER", [TL], ["PAYMENT_MODE_NOT_ALLOWED"]),
        ("CARD", [TL], []),
        ("OFFLINE_RTGS", [WS, PT], ["PAYMENT_MODE_NOT_ALLOWED"]),  # only PT refuses
        ("DD", [WS, PT, WS], ["PAYMENT_MODE_NOT_ALLOWED"] * 2),  # one per service
        ("BITCOIN", [WS], ["INVALID_PAYMENT_MODE"]),
    ],
)
def test_payment_mode_must_be_allowed_for_each_service(
    mode: str, rules: list[PaymentRule], expected: list[str]
) -> None:
    assert _codes(check_mode(mode, rules)) == expected


def test_check_mode_accepts_a_single_rule_and_names_the_service() -> None:
    [violation] = check_mode("DD", WS)
    assert violation.field == "paymentMode"
    assert "WS" in violation.message


TODAY = date(2026, 3, 31)


@pytest.mark.parametrize(
    ("mode", "number", "day", "txn", "expected"),
    [
        ("CASH", None, None, None, []),
        ("CHEQUE", "000123", TODAY, None, []),
        ("CHEQUE", None, TODAY, None, ["INSTRUMENT_NUMBER_REQUIRED"]),
        ("CHEQUE", "  ", TODAY, None, ["INSTRUMENT_NUMBER_REQUIRED"]),
        ("CHEQUE", "000123", None, None, ["INSTRUMENT_DATE_REQUIRED"]),
        ("DD", None, None, None, ["INSTRUMENT_NUMBER_REQUIRED", "INSTRUMENT_DATE_REQUIRED"]),
        ("OFFLINE_NEFT", "UTR1", TODAY, None, []),
        ("OFFLINE_RTGS", "UTR1", None, None, ["INSTRUMENT_DATE_REQUIRED"]),
        ("POSTAL_ORDER", None, TODAY, None, ["INSTRUMENT_NUMBER_REQUIRED"]),
        ("CARD", "4242", None, "TXN1", []),
        ("CARD", None, None, "TXN1", ["INSTRUMENT_NUMBER_REQUIRED"]),
        ("CARD", "4242", None, None, ["TRANSACTION_NUMBER_REQUIRED"]),
        ("ONLINE", None, None, None, ["INSTRUMENT_NUMBER_REQUIRED", "TRANSACTION_NUMBER_REQUIRED"]),
        ("ONLINE_NEFT", "U1", None, "T1", []),
        ("ONLINE_RTGS", "U1", None, "", ["TRANSACTION_NUMBER_REQUIRED"]),
        ("CARD", "x" * 129, None, "TXN1", ["FIELD_TOO_LONG"]),
        ("NOT_A_MODE", None, None, None, []),  # check_mode reports it
    ],
)
def test_instrument_fields_the_mode_needs(
    mode: str, number: str | None, day: date | None, txn: str | None, expected: list[str]
) -> None:
    assert _codes(check_instrument(mode, number, day, txn, today=TODAY)) == expected


@pytest.mark.parametrize(
    ("mode", "days_back", "expected"),
    [
        ("CHEQUE", 0, []),
        ("CHEQUE", -1, ["INSTRUMENT_DATE_IN_FUTURE"]),
        ("CHEQUE", 89, []),
        ("CHEQUE", 90, ["INSTRUMENT_DATE_TOO_OLD"]),  # DIGIT compares ms: day 90 fails after 00:00
        ("DD", 89, []),
        ("DD", 91, ["INSTRUMENT_DATE_TOO_OLD"]),
        ("DD", -1, ["INSTRUMENT_DATE_IN_FUTURE"]),
        ("OFFLINE_NEFT", -1, ["INSTRUMENT_DATE_IN_FUTURE"]),
        ("OFFLINE_NEFT", 400, []),
        ("OFFLINE_RTGS", -1, ["INSTRUMENT_DATE_IN_FUTURE"]),
        ("POSTAL_ORDER", -1, ["INSTRUMENT_DATE_IN_FUTURE"]),
        ("POSTAL_ORDER", 365, []),
    ],
)
def test_instrument_date_window(mode: str, days_back: int, expected: list[str]) -> None:
    day = TODAY - timedelta(days=days_back)
    assert _codes(check_instrument(mode, "N1", day, None, today=TODAY)) == expected


@pytest.mark.parametrize(
    ("now_utc", "cheque_day", "expected"),
    [
        # 23:59:59 IST on 31 March: still the 31st in Kolkata, though UTC says the same day
        (
            datetime(2026, 3, 31, 18, 29, 59, tzinfo=UTC),
            date(2026, 4, 1),
            ["INSTRUMENT_DATE_IN_FUTURE"],
        ),
        (datetime(2026, 3, 31, 18, 29, 59, tzinfo=UTC), date(2026, 3, 31), []),
        # 00:00 IST on 1 April is 18:30 UTC on 31 March: a cheque dated 1 April is today's
        (datetime(2026, 3, 31, 18, 30, 0, tzinfo=UTC), date(2026, 4, 1), []),
        # ...and the oldest acceptable day moves with the Kolkata date, not the UTC one
        (datetime(2026, 3, 31, 18, 29, 59, tzinfo=UTC), date(2026, 3, 31) - timedelta(days=89), []),
        (
            datetime(2026, 3, 31, 18, 30, 0, tzinfo=UTC),
            date(2026, 3, 31) - timedelta(days=89),
            ["INSTRUMENT_DATE_TOO_OLD"],
        ),
    ],
)
def test_cheque_dates_are_calendar_days_in_kolkata_around_midnight(
    now_utc: datetime, cheque_day: date, expected: list[str]
) -> None:
    today = local_today(now_utc, KOLKATA)
    assert _codes(check_instrument("CHEQUE", "1", cheque_day, None, today=today)) == expected


def test_local_today_refuses_naive_times() -> None:
    with pytest.raises(ValueError):
        local_today(datetime(2026, 3, 31, 12, 0), KOLKATA)


def test_instrument_date_is_sent_as_start_of_day_in_digits_zone() -> None:
    start = instrument_date_start(date(2026, 4, 1), KOLKATA)
    assert start == datetime(2026, 3, 31, 18, 30, tzinfo=UTC)


MARGIN = timedelta(minutes=15)


@pytest.mark.parametrize(
    ("overrides", "payable"),
    [
        ({}, True),
        ({"status": "EXPIRED"}, False),
        ({"status": "PAID"}, False),
        ({"status": "CANCELLED"}, False),
        ({"status": "EXPIRED", "expires_at": NOW - timedelta(seconds=1)}, False),
        ({"status": "active"}, True),
        ({"expires_at": NOW + MARGIN + timedelta(seconds=1)}, True),
        ({"expires_at": NOW + MARGIN}, False),
        ({"expires_at": NOW + timedelta(minutes=5)}, False),
        ({"expires_at": NOW - timedelta(seconds=1)}, False),
        ({"expires_at": None}, False),
        ({"total": "1200.50"}, False),
        ({"total": "1200.00"}, True),
        ({"total": "-10"}, False),
    ],
)
def test_bill_payable_now(overrides: dict, payable: bool) -> None:  # type: ignore[type-arg]
    bill = make_bill(**overrides)
    violation = check_bill_payable(bill, now=NOW, margin=MARGIN, field="bills[2].billId")
    if payable:
        assert violation is None
    else:
        assert violation is not None
        # PAID is billing's back-update; EXPIRED before its expiry date a new demand replacing it
        expected = {"PAID": "BILL_ALREADY_PAID", "EXPIRED": "BILL_SUPERSEDED"}
        if "expires_at" in overrides:  # expired by its date: nothing replaced it
            expected = {}
        assert violation.code == expected.get(str(overrides.get("status")), "BILL_NOT_PAYABLE")
        assert violation.field == "bills[2].billId"


def test_fingerprint_compares_amounts_by_value_and_ignores_key_order() -> None:
    a = {"tenantId": "pb.amritsar", "bills": [{"billId": "b1", "amount": Decimal("100")}]}
    b = {"bills": [{"amount": Decimal("100.00"), "billId": "b1"}], "tenantId": "pb.amritsar"}
    c = {"tenantId": "pb.amritsar", "bills": [{"billId": "b1", "amount": Decimal("100.50")}]}
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(c)
    assert len(fingerprint(a)) == 64


def test_fingerprint_refuses_floats() -> None:
    with pytest.raises(TypeError):
        fingerprint({"amount": 100.0})
