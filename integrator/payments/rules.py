"""Pure payment rules: what may be paid on a bill, with which mode and instrument. No I/O here.

Each check returns `Violation`s (empty when fine) so the service can report every problem of a
request at once, as one 422. Codes are stable; devices switch on them:

    INVALID_AMOUNT, AMOUNT_NOT_POSITIVE, FRACTIONAL_AMOUNT        amount shape
    AMOUNT_BELOW_MINIMUM, PARTIAL_PAYMENT_NOT_ALLOWED,            amount vs the bill's payability
    ADVANCE_NOT_ALLOWED, AMOUNT_ABOVE_MAXIMUM
    INVALID_PAYMENT_MODE, PAYMENT_MODE_NOT_ALLOWED                mode vs MDMS
    INSTRUMENT_NUMBER_REQUIRED, INSTRUMENT_DATE_REQUIRED,         instrument fields
    TRANSACTION_NUMBER_REQUIRED, INSTRUMENT_DATE_IN_FUTURE,
    INSTRUMENT_DATE_TOO_OLD, FIELD_TOO_LONG
    BILL_NOT_PAYABLE                                              bill status / expiry / total

BILL_SUPERSEDED, BILL_ALREADY_PAID and BILL_NOT_FOUND need DIGIT lookups: the service decides them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from integrator import jsonutil
from integrator.digit.models import Bill, PaymentRule
from integrator.payments.models import AmountExactness, Payability, PaymentMode, Violation

#: Modes that need instrumentNumber + instrumentDate (collection's INVALID_INST_* rules).
INSTRUMENT_DATE_MODES: frozenset[PaymentMode] = frozenset(
    {
        PaymentMode.CHEQUE,
        PaymentMode.DD,
        PaymentMode.OFFLINE_NEFT,
        PaymentMode.OFFLINE_RTGS,
        PaymentMode.POSTAL_ORDER,
    }
)
#: Modes that need transactionNumber + instrumentNumber (INVALID_TXN_NUMBER/INSTRUMENT_NUMBER).
TRANSACTION_MODES: frozenset[PaymentMode] = frozenset(
    {PaymentMode.CARD, PaymentMode.ONLINE, PaymentMode.ONLINE_NEFT, PaymentMode.ONLINE_RTGS}
)
#: Cheque/DD dates DIGIT judges against a 90-day window (CHEQUE_DD_DATE_WITH_*).
CHEQUE_DD_MODES: frozenset[PaymentMode] = frozenset({PaymentMode.CHEQUE, PaymentMode.DD})
#: NEFT/RTGS/postal-order dates must not be in the future (INVALID_NEFT_RTGS_DATE).
NOT_FUTURE_MODES: frozenset[PaymentMode] = INSTRUMENT_DATE_MODES - CHEQUE_DD_MODES

CHEQUE_VALID_DAYS = 90
#: The oldest cheque/DD day we accept is today - 89. DIGIT refuses when
#: `now_ms - instrumentDate_ms > 90 days`, and we send the date as 00:00 of that day in DIGIT's
#: zone (`instrument_date_start`), so a cheque dated exactly 90 days ago would be refused by DIGIT
#: at any moment after midnight. Refusing it here (422) beats a refusal after we took the money.
CHEQUE_OLDEST_DAYS_BACK = CHEQUE_VALID_DAYS - 1
MAX_REFERENCE_LENGTH = 128  # collection's max for transactionNumber / instrumentNumber

ACTIVE = "ACTIVE"
PAID = "PAID"  # billing's back-update after a payment (docs/digit.md#back-update)
EXPIRED = "EXPIRED"  # expired, or replaced by a new demand before its expiry date


#: What no free text a person writes (a cancellation reason, a note) may hold: the C0 controls but
#: tab, line feed and carriage return, DEL and the C1 controls, and lone surrogates. PostgreSQL
#: refuses NUL in text and no surrogate can be written as UTF-8, so either fails the write.
UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def is_plain_text(text: str) -> bool:
    """Whether `text` is free of UNPRINTABLE characters."""
    return UNPRINTABLE.search(text) is None


def is_whole(amount: Decimal) -> bool:
    """True for a finite whole number of rupees (100 and 100.00 are whole, 100.50 is not)."""
    return amount.is_finite() and amount == amount.to_integral_value()


def payability(bill: Bill, rule: PaymentRule, *, advance_cap: Decimal) -> Payability:
    """What may be paid on `bill` under its service's MDMS `rule`.

    minimum: the total when part payment is not allowed, else min(minAmountPayable, total); with no
    minAmountPayable in MDMS the smallest whole payment, 1 rupee (capped at the total).
    maximum: the total, or total + `advance_cap` when advance is allowed.
    exactness follows the effective bounds: EXACT when min == max == total, EXACT_AND_BELOW when
    only min < total, EXACT_AND_ABOVE when only max > total, ADHOC when both.
    """
    total = bill.total_amount
    if rule.part_payment_allowed:
        floor = rule.min_amount_payable if rule.min_amount_payable is not None else Decimal(1)
        minimum = min(floor, total)
    else:
        minimum = total
    maximum = total + advance_cap if rule.advance_allowed and advance_cap > 0 else total
    below, above = minimum < total, maximum > total
    if below and above:
        exactness = AmountExactness.ADHOC
    elif below:
        exactness = AmountExactness.EXACT_AND_BELOW
    elif above:
        exactness = AmountExactness.EXACT_AND_ABOVE
    else:
        exactness = AmountExactness.EXACT
    return Payability(
        bill_id=bill.id,
        business_service=bill.business_service,
        total=total,
        part_payment_allowed=rule.part_payment_allowed,
        advance_allowed=rule.advance_allowed,
        minimum_payable=minimum,
        maximum_payable=maximum,
        exactness=exactness,
        payment_modes_not_allowed=frozenset(m.upper() for m in rule.modes_not_allowed),
    )


def check_amount_shape(field: str, amount: Decimal) -> list[Violation]:
    """The amount is a finite, positive, whole number of rupees."""
    if not amount.is_finite():
        return [Violation(code="INVALID_AMOUNT", field=field, message="amount is not a number")]
    if amount <= 0:
        return [
            Violation(code="AMOUNT_NOT_POSITIVE", field=field, message="amount must be above 0")
        ]
    if not is_whole(amount):
        return [
            Violation(
                code="FRACTIONAL_AMOUNT",
                field=field,
                message=f"amount {amount} is not a whole number of rupees",
            )
        ]
    return []


def check_amount(field: str, amount: Decimal, payability: Payability) -> list[Violation]:
    """`amount` is positive, whole and within [minimum_payable, maximum_payable] of the bill."""
    shape = check_amount_shape(field, amount)
    if shape:
        return shape
    p = payability
    if amount < p.minimum_payable:
        if not p.part_payment_allowed:
            return [
                Violation(
                    code="PARTIAL_PAYMENT_NOT_ALLOWED",
                    field=field,
                    message=f"bill {p.bill_id} must be paid in full: {p.total}",
                )
            ]
        return [
            Violation(
                code="AMOUNT_BELOW_MINIMUM",
                field=field,
                message=f"bill {p.bill_id} needs at least {p.minimum_payable}",
            )
        ]
    if amount > p.maximum_payable:
        if not p.advance_allowed:
            return [
                Violation(
                    code="ADVANCE_NOT_ALLOWED",
                    field=field,
                    message=f"bill {p.bill_id} may not be paid above its total {p.total}",
                )
            ]
        return [
            Violation(
                code="AMOUNT_ABOVE_MAXIMUM",
                field=field,
                message=f"bill {p.bill_id} may be paid at most {p.maximum_payable}",
            )
        ]
    return []


def parse_mode(mode: str) -> PaymentMode | None:
    """The PaymentMode for `mode` (case-insensitive, as DIGIT), or None when unknown."""
    try:
        return PaymentMode(mode.strip().upper())
    except ValueError:
        return None


def check_mode(
    mode: str, rules: PaymentRule | Iterable[PaymentRule], *, field: str = "paymentMode"
) -> list[Violation]:
    """`mode` is a DIGIT payment mode allowed by every given service's collectionModesNotAllowed.

    One PAYMENT_MODE_NOT_ALLOWED per refusing businessService, in the order given.
    """
    parsed = parse_mode(mode)
    if parsed is None:
        return [
            Violation(
                code="INVALID_PAYMENT_MODE", field=field, message=f"unknown payment mode {mode!r}"
            )
        ]
    rule_list = [rules] if isinstance(rules, PaymentRule) else list(rules)
    violations: list[Violation] = []
    seen: set[str] = set()
    for rule in rule_list:
        if rule.business_service in seen:
            continue
        seen.add(rule.business_service)
        if parsed.value in {m.upper() for m in rule.modes_not_allowed}:
            violations.append(
                Violation(
                    code="PAYMENT_MODE_NOT_ALLOWED",
                    field=field,
                    message=f"{parsed.value} is not accepted for {rule.business_service} bills",
                )
            )
    return violations


def _blank(value: str | None) -> bool:
    return value is None or value.strip() == ""


def check_instrument(
    mode: str,
    instrument_number: str | None,
    instrument_date: date | None,
    transaction_number: str | None,
    *,
    today: date,
) -> list[Violation]:
    """Instrument fields the mode needs, and instrument dates within DIGIT's window.

    `instrument_date` and `today` are calendar days in DIGIT's time zone (see `local_today`).
    CHEQUE/DD/OFFLINE_NEFT/OFFLINE_RTGS/POSTAL_ORDER need instrumentNumber and instrumentDate;
    CARD/ONLINE/ONLINE_NEFT/ONLINE_RTGS need transactionNumber and instrumentNumber. A cheque/DD
    date must be neither in the future nor older than today - 89 days (CHEQUE_OLDEST_DAYS_BACK);
    a NEFT/RTGS/postal-order date must not be in the future. An unknown mode gives no violation
    here (`check_mode` reports it).
    """
    parsed = parse_mode(mode)
    if parsed is None:
        return []
    violations: list[Violation] = []
    for name, value in (
        ("instrumentNumber", instrument_number),
        ("transactionNumber", transaction_number),
    ):
        if value is not None and len(value.strip()) > MAX_REFERENCE_LENGTH:
            violations.append(
                Violation(
                    code="FIELD_TOO_LONG",
                    field=name,
                    message=f"{name} is longer than {MAX_REFERENCE_LENGTH} characters",
                )
            )
    needs_number = parsed in INSTRUMENT_DATE_MODES or parsed in TRANSACTION_MODES
    if needs_number and _blank(instrument_number):
        violations.append(
            Violation(
                code="INSTRUMENT_NUMBER_REQUIRED",
                field="instrumentNumber",
                message=f"{parsed.value} needs an instrument number",
            )
        )
    if parsed in TRANSACTION_MODES and _blank(transaction_number):
        violations.append(
            Violation(
                code="TRANSACTION_NUMBER_REQUIRED",
                field="transactionNumber",
                message=f"{parsed.value} needs a transaction number",
            )
        )
    if parsed in INSTRUMENT_DATE_MODES:
        if instrument_date is None:
            violations.append(
                Violation(
                    code="INSTRUMENT_DATE_REQUIRED",
                    field="instrumentDate",
                    message=f"{parsed.value} needs an instrument date",
                )
            )
        elif instrument_date > today:
            violations.append(
                Violation(
                    code="INSTRUMENT_DATE_IN_FUTURE",
                    field="instrumentDate",
                    message=f"instrument date {instrument_date} is after today {today}",
                )
            )
        elif parsed in CHEQUE_DD_MODES and instrument_date < today - timedelta(
            days=CHEQUE_OLDEST_DAYS_BACK
        ):
            violations.append(
                Violation(
                    code="INSTRUMENT_DATE_TOO_OLD",
                    field="instrumentDate",
                    message=(
                        f"a {parsed.value} dated {instrument_date} is older than DIGIT's "
                        f"{CHEQUE_VALID_DAYS}-day window"
                    ),
                )
            )
    return violations


def local_today(now: datetime, tz: tzinfo) -> date:
    """The calendar day `now` (aware) falls on in DIGIT's time zone."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(tz).date()


def instrument_date_start(day: date, tz: tzinfo) -> datetime:
    """00:00 of `day` in DIGIT's time zone: how an instrument date is sent to DIGIT (epoch ms)."""
    return datetime.combine(day, time(0, 0), tzinfo=tz)


def check_bill_payable(
    bill: Bill, *, now: datetime, margin: timedelta, field: str = "billId"
) -> Violation | None:
    """BILL_NOT_PAYABLE unless `bill` is ACTIVE, has a whole non-negative total, and does not
    expire within `margin` of `now` (a bill with no expiry counts as expired, as collection does).
    Two statuses say more: PAID is billing's back-update of a payment (BILL_ALREADY_PAID), and
    EXPIRED before the bill's own expiry date is a new demand replacing it (BILL_SUPERSEDED).
    """
    status = bill.status.upper()
    if status == PAID:
        return Violation(
            code="BILL_ALREADY_PAID",
            field=field,
            message=f"DIGIT already holds a payment for bill {bill.id}",
        )
    if status == EXPIRED and bill.expires_at is not None and bill.expires_at > now:
        return Violation(
            code="BILL_SUPERSEDED",
            field=field,
            message=f"bill {bill.id} was replaced by a newer bill; fetch again",
        )
    if status != ACTIVE:
        return Violation(
            code="BILL_NOT_PAYABLE", field=field, message=f"bill {bill.id} is {bill.status}"
        )
    if not is_whole(bill.total_amount) or bill.total_amount < 0:
        return Violation(
            code="BILL_NOT_PAYABLE",
            field=field,
            message=f"bill {bill.id} total {bill.total_amount} cannot be collected",
        )
    expires = bill.expires_at
    if expires is None or expires <= now + margin:
        return Violation(
            code="BILL_NOT_PAYABLE",
            field=field,
            message=f"bill {bill.id} has expired or expires too soon; fetch it again",
        )
    return None


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted(_canonical(v) for v in value)
    if isinstance(value, Decimal):
        # 100, 100.0 and 100.00 are the same amount: fingerprint the value, not its spelling
        if not value.is_finite():
            raise ValueError("cannot fingerprint a non-finite number")
        return {"$decimal": format(value.normalize(), "f")}
    if isinstance(value, int) and not isinstance(value, bool):
        return _canonical(Decimal(value))
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        raise TypeError("floats are not allowed in a payment payload")
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


def fingerprint(canonical_payload: Mapping[str, Any]) -> str:
    """sha256 hex of the validated request: keys sorted, amounts compared by value.

    The caller passes the payload after validation and normalisation (e.g. bills sorted by billId,
    mode upper-cased), so two requests meaning the same payment have the same fingerprint.
    """
    text = jsonutil.dumps(_canonical(canonical_payload))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
