"""The field rules of the PoS API: limits, patterns and the custom fields the schemas are built of.

Each rule is stated once, here, and both the server and /openapi.json read it: apispec turns the
validators (Length, FullMatch, OneOf) into maxLength/pattern/enum, and the custom fields carry
their JSON Schema in `metadata` built from the same constants they check against.

Every message a validator can produce is registered with its rule's code by `coded()`, so a 422
names the field, the code and the message (`errors.field_errors`); a message built at run time
(from a domain `Violation`) carries its code itself (`CodedMessage`). Every code is in the error
catalogue (`integrator.api.problems`).

Money: the app's JSON provider parses every number as Decimal; `Money` accepts only those (never a
string, a bool or a float), and the domain's `check_amount_shape` decides what an amount may be:
positive whole rupees. Below `MAX_AMOUNT` is the edge's own bound.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
)

from integrator.payments.days import FIRST_DAY, LAST_DAY, day_in_range
from integrator.payments.rules import check_amount_shape, is_plain_text

# --- rule codes of messages ------------------------------------------------------------------

_CODED: dict[str, str] = {}

_MARSHMALLOW_CODES = {
    "Missing data for required field.": "REQUIRED",
    "Field may not be null.": "NOT_NULL",
    "Unknown field.": "UNKNOWN_FIELD",
    "Invalid input type.": "INVALID_TYPE",
    "Not a valid string.": "INVALID_TYPE",
    "Not a valid list.": "INVALID_TYPE",
    "Not a valid mapping type.": "INVALID_TYPE",
    "Not a valid date.": "INVALID_DATE",
    "Not a valid datetime.": "INVALID_DATETIME",
    "Not a valid aware datetime.": "INVALID_DATETIME",
}


def coded(code: str, message: str) -> str:
    """Register `message` as the text of rule `code`, and return it (for validators)."""
    known = _CODED.setdefault(message, code)
    if known != code:
        raise ValueError(f"message {message!r} already stands for {known}")
    return message


class CodedMessage(str):
    """A message made at run time that carries its rule's code (e.g. from a domain Violation)."""

    code: str

    def __new__(cls, code: str, message: str) -> CodedMessage:
        made = super().__new__(cls, message)
        made.code = code
        return made


def code_of(message: str) -> str:
    """The rule code of a schema message (INVALID_FIELD when it has none)."""
    if isinstance(message, CodedMessage):
        return message.code
    return _CODED.get(message) or _MARSHMALLOW_CODES.get(message) or "INVALID_FIELD"


def marshmallow_codes() -> frozenset[str]:
    """The codes given to marshmallow's own messages (for the catalogue's completeness test)."""
    return frozenset(_MARSHMALLOW_CODES.values())


# --- patterns and limits ---------------------------------------------------------------------

MAX_BILLS = 20
MAX_AMOUNT = Decimal(10) ** 9  # no single bill payment is anywhere near a billion rupees
LARGEST_AMOUNT = MAX_AMOUNT - 1  # amounts are whole rupees below MAX_AMOUNT
SMALLEST_AMOUNT = Decimal(1)  # the smallest positive whole rupee (check_amount_shape)
MAX_NAME_LENGTH = 128  # collection's paidBy / payerName
MAX_REFERENCE_LENGTH = 128  # collection's transactionNumber / instrumentNumber
MAX_TENANT_LENGTH = 64  # collection's tenantId

TENANT_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$"  # pb, pb.amritsar (payments.devices)
#: A city (ULB) tenant: where DIGIT keeps bills and records payments; an employee's billing and
#: collection calls never take a state tenant (digest, corrections 1).
CITY_TENANT_PATTERN = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"
CITY_TENANT_MESSAGE = (
    "Bills and payments are kept per city: send a city (e.g. pb.amritsar), not a state."
)
MOBILE_PATTERN = r"^[6-9][0-9]{9}$"  # collection's mobileNumber
#: DIGIT's paidBy/payerName regex (docs/digit.md#create) is
#: `^[a-zA-Z]+(([_\-'`\. ][a-zA-Z ])?[a-zA-Z]*)*$`.
#: Its nested quantifiers backtrack exponentially on a near-miss (24 letters and a digit take
#: seconds), so we match the same language with this unambiguous, linear form
#: (tests/unit/api/test_api_schemas.py checks they agree).
NAME_PATTERN = r"^[a-zA-Z]+(?:[_\-'`. ][a-zA-Z ][a-zA-Z]*)*$"
KEY_CHARS = r"[A-Za-z0-9._:-]{1,64}"  # an Idempotency-Key
KEY_PATTERN = rf"^{KEY_CHARS}$"  # the bare form (idempotencyKey query parameter)
KEY_HEADER_PATTERN = rf'^(?:{KEY_CHARS}|"{KEY_CHARS}")$'  # the header: bare or a quoted sf-string
CODE_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"  # businessService
REFERENCE_PATTERN = r"^[!-~](?:[ -~]*[!-~])?$"  # printable ASCII, no edge spaces
IDENTIFIER_PATTERN = r"^[!-~]+$"  # billId, consumerCode, receiptNumber: printable, no spaces


class FullMatch(validate.Regexp):
    """Regexp that must match the whole value (`$` alone would accept a trailing newline)."""

    def __call__(self, value: Any) -> Any:
        regex: re.Pattern[str] = self.regex  # type: ignore[assignment]
        if not isinstance(value, str) or regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def pattern_rule(pattern: str, code: str, message: str) -> FullMatch:
    return FullMatch(pattern, error=coded(code, message))


def length_rule(name: str, maximum: int, minimum: int = 1) -> validate.Length:
    return validate.Length(
        min=minimum,
        max=maximum,
        error=coded("INVALID_LENGTH", f"{name} must be {minimum} to {maximum} characters long."),
    )


class PlainText(validate.Validator):
    """Free text a person wrote (a cancellation reason): no control characters but tab and line
    breaks, no lone surrogates (`rules.is_plain_text`), else INVALID_TEXT. Every free-text field
    of a request takes it; the other text fields have patterns of printable characters."""

    error = coded(
        "INVALID_TEXT",
        "Must not contain control characters (such as NUL) or unpaired surrogates.",
    )

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str) and not is_plain_text(value):
            raise ValidationError(self.error)
        return value


class CityTenant(FullMatch):
    """A city's tenant id: INVALID_TENANT when it is no tenant id at all, CITY_TENANT_REQUIRED
    when it is a state's. Published as the city pattern (the one regex a schema shows)."""

    def __init__(self) -> None:
        super().__init__(
            CITY_TENANT_PATTERN, error=coded("CITY_TENANT_REQUIRED", CITY_TENANT_MESSAGE)
        )
        self._any_tenant = pattern_rule(
            TENANT_PATTERN, "INVALID_TENANT", "Not a tenant id (e.g. pb.amritsar)."
        )

    def __call__(self, value: Any) -> Any:
        self._any_tenant(value)
        return super().__call__(value)


def tenant_field(*, city: bool = False, **kwargs: Any) -> fields.String:
    """A tenant id; with `city`, only a city's (a state is refused as CITY_TENANT_REQUIRED)."""
    shape: validate.Validator = (
        CityTenant()
        if city
        else pattern_rule(TENANT_PATTERN, "INVALID_TENANT", "Not a tenant id (e.g. pb.amritsar).")
    )
    return fields.String(
        validate=[length_rule("tenantId", MAX_TENANT_LENGTH), shape],
        metadata={"example": "pb.amritsar"},
        **kwargs,
    )


def name_field(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=[
            length_rule("A name", MAX_NAME_LENGTH),
            pattern_rule(
                NAME_PATTERN,
                "INVALID_NAME",
                "Invalid name. Only alphabets and special characters -, ',`, ., _",
            ),
        ],
        **kwargs,
    )


def reference_field(name: str, **kwargs: Any) -> fields.String:
    return fields.String(
        validate=[
            length_rule(name, MAX_REFERENCE_LENGTH),
            pattern_rule(
                REFERENCE_PATTERN, "INVALID_REFERENCE", "Only printable ASCII characters."
            ),
        ],
        **kwargs,
    )


def mobile_field(**kwargs: Any) -> fields.String:
    metadata = {"example": "9876543210", **kwargs.pop("metadata", {})}
    return fields.String(
        validate=pattern_rule(MOBILE_PATTERN, "INVALID_MOBILE", "Invalid mobile number."),
        metadata=metadata,
        **kwargs,
    )


def business_service_field(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=pattern_rule(
            CODE_PATTERN, "INVALID_BUSINESS_SERVICE", "Not a businessService code."
        ),
        metadata={
            "example": "WS",
            "description": "A businessService code this integrator collects "
            "(COLLECTABLE_SERVICES, by default WS, SW, PT, TL), in upper case as DIGIT spells "
            "it; another, or pt for PT, is 422 INVALID_BUSINESS_SERVICE.",
        },
        **kwargs,
    )


def identifier_field(name: str, maximum: int = 64, **kwargs: Any) -> fields.String:
    return fields.String(
        validate=[
            length_rule(name, maximum),
            pattern_rule(
                IDENTIFIER_PATTERN, "INVALID_IDENTIFIER", "Only printable ASCII, no spaces."
            ),
        ],
        **kwargs,
    )


# --- custom fields ---------------------------------------------------------------------------


class Money(fields.Field[Decimal]):
    """A JSON number of whole rupees, kept as a Decimal with no decimals (1200.00 is 1200).

    What an amount may be is the domain's rule (`check_amount_shape`: positive, whole), so the
    edge and the use cases refuse the same amounts with the same codes; `json_schema` states it
    for /openapi.json.
    """

    default_error_messages = {
        "type": coded(
            "NOT_A_NUMBER",
            "Not a number: send the amount as a JSON number of whole rupees, e.g. 815.",
        ),
        "too_large": coded("TOO_LARGE", f"Must be at most {LARGEST_AMOUNT}."),
    }

    #: The JSON Schema of an amount in a request, from the same constants the checks use.
    json_schema: dict[str, Any] = {
        "type": "integer",
        "minimum": int(SMALLEST_AMOUNT),
        "maximum": int(LARGEST_AMOUNT),
        "description": (
            "Whole rupees as a JSON number (never a string or a boolean), e.g. 815. Paise are "
            "refused (FRACTIONAL_AMOUNT); 815.00 is read as 815."
        ),
        "example": 815,
    }

    def __init__(self, **kwargs: Any) -> None:
        metadata = {**self.json_schema, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Decimal:
        if not isinstance(value, Decimal):  # str, bool, float, int: not from our parser's numbers
            raise self.make_error("type")
        refused = check_amount_shape(attr or "amount", value)
        if refused:
            raise ValidationError(CodedMessage(refused[0].code, _sentence(refused[0].message)))
        if value > LARGEST_AMOUNT:
            raise self.make_error("too_large")
        return value.quantize(Decimal(1))  # whole: 1E+3 is 1000, 1200.00 is 1200

    def _serialize(self, value: Decimal | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


class StrictDate(fields.Date):
    """A calendar day written exactly YYYY-MM-DD."""

    default_error_messages = {"invalid": coded("INVALID_DATE", "Must be a date YYYY-MM-DD.")}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        if not isinstance(value, str) or re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is None:
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class BoundedDay(StrictDate):
    """A day a report or an instrument names: YYYY-MM-DD from `days.FIRST_DAY` to
    `days.LAST_DAY` (no payment of ours is older; a later day's end is no datetime), else
    INVALID_DATE. Published with `x-earliest`/`x-latest`."""

    default_error_messages = {
        "out_of_range": coded(
            "INVALID_DATE", f"Must be a day from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}."
        ),
    }

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "x-earliest": FIRST_DAY.isoformat(),
            "x-latest": LAST_DAY.isoformat(),
            **kwargs.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        day = super()._deserialize(value, attr, data, **kwargs)
        if not day_in_range(day):
            raise self.make_error("out_of_range")
        return day


#: The earliest instant a client may send (collectedAt): no PoS device of this integrator took
#: money before 2000. It also keeps every instant we store convertible to UTC and to PostgreSQL
#: (0001-01-01T00:00:00+05:30 is a BC timestamp there, and an OverflowError in Python).
EARLIEST_DATETIME = datetime(2000, 1, 1, tzinfo=UTC)
EARLIEST_DATETIME_TEXT = "2000-01-01T00:00:00Z"


class OffsetDateTime(fields.AwareDateTime):
    """An ISO 8601 date-time with its UTC offset, not before EARLIEST_DATETIME.

    There is no upper bound here: what is too late is a rule against the clock (collectedAt's
    `check_collected_at`), and comparing an aware value with the clock never overflows.
    Published with `x-earliest` (OpenAPI 3.0 has no minimum for a date-time string).
    """

    default_error_messages = {
        "invalid": coded("INVALID_DATETIME", "Must be an ISO 8601 date-time with an offset."),
        "invalid_awareness": coded(
            "INVALID_DATETIME", "Must be an ISO 8601 date-time with an offset."
        ),
        "too_early": coded("INVALID_DATETIME", f"Must be {EARLIEST_DATETIME_TEXT} or later."),
    }

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"x-earliest": EARLIEST_DATETIME_TEXT, **kwargs.pop("metadata", {})}
        super().__init__(format="iso", metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment < EARLIEST_DATETIME:
            raise self.make_error("too_early")
        return moment


class StrictSchema(Schema):
    """A request schema: an unknown field is refused (UNKNOWN_FIELD), never ignored."""

    class Meta:
        unknown = RAISE
