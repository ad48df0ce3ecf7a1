"""The error catalogue: every `code` the PoS API can answer, with its status, meaning and remedy.

    CATALOGUE["AMOUNT_BELOW_MINIMUM"]  -> Problem(code, statuses=(422,), kind=RULE, meaning, action)
    type_url("AMOUNT_BELOW_MINIMUM")   -> "/docs#problem-AMOUNT_BELOW_MINIMUM"

One registry, rendered three ways: the `type` of every problem+json body points at the code's row
on /docs (`templates/docs.html` renders the table with an `id="problem-CODE"` anchor per row), the
OpenAPI document lists it (`x-problem-codes`, the `Problem.code` enum and each error response's
description), and tests fail when a code raised anywhere on the edge or in the domain it maps is
missing here (tests/unit/api/test_api_problems.py scans the construction sites statically).

A code appears either as the problem's top-level `code` or as an `errors[].code` (the first field
error's code is also the top-level one), or in an item of POST /v1/payments/batch's answer: a
refused item's `problem.code`, or a quarantined item's `conflict.code` (the codes with no status
appear there only). `kind` says who can fix it:

    SHAPE        the request's form; the published schema describes every such rule
    RULE         a payment rule or the bill's state in DIGIT; the request was well formed
    AUTH         the device key, its tenants or its rate
    STATE        the payment or request is in a state that forbids this now, or does not exist
    UNAVAILABLE  DIGIT or the integrator's store cannot answer now; retry
    SERVER       a bug on our side
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

DOCS_ANCHOR_PREFIX = "problem-"
#: The status column of a code no response carries at its top: it is answered only in an item of
#: POST /v1/payments/batch (a quarantined item's `conflict.code`).
BATCH_ITEM_ONLY = "batch item"


class Kind(StrEnum):
    SHAPE = "SHAPE"
    RULE = "RULE"
    AUTH = "AUTH"
    STATE = "STATE"
    UNAVAILABLE = "UNAVAILABLE"
    SERVER = "SERVER"


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One code of the catalogue: what it means and what the device should do about it."""

    code: str
    statuses: tuple[int, ...]  # () for a code answered only in a batch item (BATCH_ITEM_ONLY)
    kind: Kind
    meaning: str
    action: str

    @property
    def type(self) -> str:
        return type_url(self.code)

    @property
    def status_text(self) -> str:
        """The statuses as the catalogue's tables show them."""
        return ", ".join(str(s) for s in self.statuses) or BATCH_ITEM_ONLY

    @property
    def anchor(self) -> str:
        return DOCS_ANCHOR_PREFIX + self.code


def type_url(code: str) -> str:
    """The `type` of a problem+json body: the code's row on the /docs page."""
    return f"/docs#{DOCS_ANCHOR_PREFIX}{code}"


_FIX_FIELD = "Fix the field named in `errors[].field` and send the request again."
_FETCH_AGAIN = "Fetch the consumer's bills again (GET /v1/bills) and pay what they show."
_SAME_KEY = "Retry after Retry-After seconds with the same Idempotency-Key; nothing is lost."


def _entries() -> Iterable[Problem]:
    s, r, a, t, u = Kind.SHAPE, Kind.RULE, Kind.AUTH, Kind.STATE, Kind.UNAVAILABLE
    yield from (
        # --- the request's form (field rules; the schema in /openapi.json states each) ---
        Problem(code="REQUIRED", statuses=(422,), kind=s,
                meaning="A required field or query parameter is missing.",
                action="Send the field named in `errors[].field`."),
        Problem(code="REQUIRED_WITH", statuses=(422,), kind=s,
                meaning="A field is required together with another one (businessService with "
                "consumerCode).",
                action=_FIX_FIELD),
        Problem(code="ONE_FORM", statuses=(422,), kind=s,
                meaning="GET /v1/bills needs exactly one of consumerCode (with businessService) "
                "or mobileNumber.",
                action="Send consumerCode and businessService, or mobileNumber; not both."),
        Problem(code="NOT_NULL", statuses=(422,), kind=s,
                meaning="A field is null.",
                action="Send a value, or leave an optional field out."),
        Problem(code="UNKNOWN_FIELD", statuses=(422,), kind=s,
                meaning="The request has a field or query parameter the API does not know "
                "(often a typo or wrong case).",
                action="Remove it, or correct its spelling."),
        Problem(code="INVALID_TYPE", statuses=(422,), kind=s,
                meaning="A value has the wrong JSON type (e.g. a string where an object or list "
                "is expected, or a repeated query parameter).",
                action=_FIX_FIELD),
        Problem(code="INVALID_FIELD", statuses=(422,), kind=s,
                meaning="A value breaks a rule of its field not named more precisely.",
                action=_FIX_FIELD),
        Problem(code="INVALID_LENGTH", statuses=(422,), kind=s,
                meaning="A text is empty or longer than its field allows.",
                action=_FIX_FIELD),
        Problem(code="INVALID_TEXT", statuses=(422,), kind=s,
                meaning="A free text (a cancellation reason) holds a control character other "
                "than tab and line breaks (e.g. NUL) or an unpaired surrogate.",
                action="Send the words only."),
        Problem(code="INVALID_DATE", statuses=(422,), kind=s,
                meaning="Not a calendar date written YYYY-MM-DD, or (a report's date) a day "
                "outside 2000-01-01 to 9999-12-30.",
                action="Send the date as YYYY-MM-DD, e.g. 2024-04-30."),
        Problem(code="INVALID_DATETIME", statuses=(422,), kind=s,
                meaning="Not an ISO 8601 date-time with a UTC offset, or one before "
                "2000-01-01T00:00:00Z.",
                action="Send e.g. 2024-05-01T15:30:00+05:30."),
        Problem(code="INVALID_TENANT", statuses=(422,), kind=s,
                meaning="Not a DIGIT tenant id (lower case, e.g. pb or pb.amritsar).",
                action=_FIX_FIELD),
        Problem(code="CITY_TENANT_REQUIRED", statuses=(422,), kind=s,
                meaning="A state tenant (pb) where DIGIT needs a city (pb.amritsar): payments, "
                "receipts and a consumer's bills are kept per city; only a look-up by mobile "
                "number spans a state.",
                action="Send the city's tenant id."),
        Problem(code="INVALID_NAME", statuses=(422,), kind=s,
                meaning="A person's name has characters DIGIT refuses (letters, spaces and "
                "- ' ` . _ only).",
                action="Send the name with those characters only."),
        Problem(code="INVALID_REFERENCE", statuses=(422,), kind=s,
                meaning="An instrument or transaction number is not printable ASCII, or starts "
                "or ends with a space.",
                action=_FIX_FIELD),
        Problem(code="INVALID_IDENTIFIER", statuses=(422,), kind=s,
                meaning="An identifier (billId, consumerCode, receiptNumber) has spaces or "
                "characters outside printable ASCII.",
                action="Send the identifier exactly as GET /v1/bills or the receipt gave it."),
        Problem(code="INVALID_MOBILE", statuses=(422,), kind=s,
                meaning="Not a 10-digit Indian mobile number starting with 6-9.",
                action="Send the 10 digits without +91 or spaces."),
        Problem(code="INVALID_BUSINESS_SERVICE", statuses=(422,), kind=s,
                meaning="Not a businessService code this integrator collects "
                "(COLLECTABLE_SERVICES, by default WS, SW, PT, TL); codes are upper case (pt is "
                "refused, not read as PT).",
                action=_FIX_FIELD),
        Problem(code="INVALID_PAYMENT_MODE", statuses=(422,), kind=s,
                meaning="Not a payment mode DIGIT knows.",
                action="Send one of the modes listed under paymentMode."),
        Problem(code="INVALID_BILL_COUNT", statuses=(422,), kind=s,
                meaning="A payment has no bill, or more than the most allowed.",
                action="Pay 1 to 20 bills per request; split larger payments."),
        Problem(code="DUPLICATE_BILL_ID", statuses=(422,), kind=s,
                meaning="The same billId appears twice in one payment.",
                action="Send each bill once, with the whole amount for it."),
        Problem(code="NOT_A_NUMBER", statuses=(422,), kind=s,
                meaning="An amount is not a JSON number (a string, true/false, a list...).",
                action="Send the amount as a plain JSON number of whole rupees, e.g. 815."),
        Problem(code="FRACTIONAL_AMOUNT", statuses=(422,), kind=s,
                meaning="An amount has paise: DIGIT collects whole rupees only.",
                action="Send a whole number of rupees (815, not 815.50)."),
        Problem(code="AMOUNT_NOT_POSITIVE", statuses=(422,), kind=s,
                meaning="An amount is zero or negative.",
                action="Send an amount of at least 1 rupee."),
        Problem(code="TOO_LARGE", statuses=(422,), kind=s,
                meaning="An amount is above the largest the API accepts.",
                action="Check the amount; no bill is anywhere near that large."),
        Problem(code="INVALID_AMOUNT", statuses=(422,), kind=s,
                meaning="An amount is not a finite number.",
                action="Send a plain JSON number of whole rupees."),
        Problem(code="INSTRUMENT_NUMBER_REQUIRED", statuses=(422,), kind=s,
                meaning="The payment mode needs instrumentNumber (see the payment-mode table).",
                action="Send the cheque/DD/card/transfer reference in instrumentNumber."),
        Problem(code="INSTRUMENT_DATE_REQUIRED", statuses=(422,), kind=s,
                meaning="The payment mode needs instrumentDate (see the payment-mode table).",
                action="Send the instrument's date as YYYY-MM-DD."),
        Problem(code="TRANSACTION_NUMBER_REQUIRED", statuses=(422,), kind=s,
                meaning="The payment mode needs transactionNumber (see the payment-mode table).",
                action="Send the card or online transaction's reference in transactionNumber."),
        Problem(code="FIELD_TOO_LONG", statuses=(422,), kind=s,
                meaning="An instrument or transaction number is longer than DIGIT keeps.",
                action=_FIX_FIELD),
        Problem(code="IDEMPOTENCY_KEY_MISSING", statuses=(400,), kind=s,
                meaning="POST /v1/payments needs an Idempotency-Key header (and each payment of "
                "POST /v1/payments/batch its `idempotencyKey`: that item is refused).",
                action="Send the device's own transaction reference as Idempotency-Key."),
        Problem(code="IDEMPOTENCY_KEY_INVALID", statuses=(400, 422), kind=s,
                meaning="The Idempotency-Key (header, idempotencyKey query parameter, or a batch "
                "item's `idempotencyKey`) is not 1-64 of A-Z a-z 0-9 . _ : -.",
                action="Send a key of those characters only."),
        Problem(code="INVALID_JSON", statuses=(400,), kind=s,
                meaning="The body is not valid JSON (or not UTF-8).",
                action="Send a JSON object encoded as UTF-8."),
        Problem(code="INVALID_NUMBER", statuses=(400,), kind=s,
                meaning="The body has NaN or Infinity, which are not amounts.",
                action="Send amounts as plain JSON numbers."),
        Problem(code="UNSUPPORTED_MEDIA_TYPE", statuses=(415,), kind=s,
                meaning="The body is not sent as application/json.",
                action="Send Content-Type: application/json."),
        Problem(code="PAYLOAD_TOO_LARGE", statuses=(413,), kind=s,
                meaning="The body is larger than the integrator accepts (MAX_BODY_BYTES).",
                action="Send fewer bills per request."),
        Problem(code="INVALID_FORMAT", statuses=(422,), kind=s,
                meaning="The settlement report's format is neither csv nor json.",
                action="Send format=csv or format=json, or leave it out."),
        Problem(code="LIMIT_OUT_OF_RANGE", statuses=(422,), kind=s,
                meaning="The settlement report's page size is not a whole number from 1 to "
                "500.",
                action="Send a limit from 1 to 500."),
        Problem(code="INVALID_CURSOR", statuses=(422,), kind=s,
                meaning="The settlement report's cursor is not one it returned.",
                action="Send the nextCursor of the previous page unchanged, or none."),
        Problem(code="BAD_REQUEST", statuses=(400,), kind=s,
                meaning="The HTTP request itself is malformed.",
                action="Check the request line and headers."),
        Problem(code="NOT_FOUND", statuses=(404,), kind=s,
                meaning="No such path, or no such resource for this device.",
                action="Check the URL against /openapi.json."),
        Problem(code="METHOD_NOT_ALLOWED", statuses=(405,), kind=s,
                meaning="The path does not take this HTTP method.",
                action="Use the method /openapi.json gives for the path."),
        Problem(code="NOT_ACCEPTABLE", statuses=(406,), kind=s,
                meaning="The Accept header names no type the API answers.",
                action="Accept application/json (and application/problem+json)."),
        Problem(code="REQUEST_TIMEOUT", statuses=(408,), kind=s,
                meaning="The request was not received in time.",
                action="Send it again (with the same Idempotency-Key for a payment)."),
        Problem(code="LENGTH_REQUIRED", statuses=(411,), kind=s,
                meaning="The body has no Content-Length.",
                action="Send Content-Length with the body."),
        Problem(code="URI_TOO_LONG", statuses=(414,), kind=s,
                meaning="The URL is too long.",
                action="Check the query parameters."),
        Problem(code="HEADERS_TOO_LARGE", statuses=(431,), kind=s,
                meaning="The request's headers are too large.",
                action="Send fewer or shorter headers."),
        Problem(code="INVALID_RECEIPT_LAYOUT", statuses=(422,), kind=s,
                meaning="A receipt's layout is not offered: width must be 32 (58 mm paper) or "
                "48 (80 mm), size A6 or A4.",
                action="Send width=32 or 48 for text/plain, size=A6 or A4 for application/pdf."),
        Problem(code="CONSUMER_CODE_REQUIRED", statuses=(422,), kind=s,
                meaning="A receipt of a payment this device did not collect is looked up by "
                "number only; its consumer code is required too.",
                action="Send consumerCode, the consumer the receipt was issued for."),
        Problem(code="HTTP_ERROR", statuses=(400,), kind=s,
                meaning="Another HTTP-level refusal (4xx); `detail` says which.",
                action="Read `detail`; fix the request."),
        # --- payment rules and the bill's state in DIGIT ---
        Problem(code="AMOUNT_BELOW_MINIMUM", statuses=(422,), kind=r,
                meaning="The amount is below the bill's minimumPayable.",
                action="Collect at least minimumPayable (GET /v1/bills shows it)."),
        Problem(code="PARTIAL_PAYMENT_NOT_ALLOWED", statuses=(422,), kind=r,
                meaning="The bill must be paid in full.",
                action="Collect exactly totalAmount."),
        Problem(code="ADVANCE_NOT_ALLOWED", statuses=(422,), kind=r,
                meaning="The bill may not be paid above its total.",
                action="Collect at most totalAmount."),
        Problem(code="AMOUNT_ABOVE_MAXIMUM", statuses=(422,), kind=r,
                meaning="The amount is above the bill's maximumPayable.",
                action="Collect at most maximumPayable."),
        Problem(code="PAYMENT_MODE_NOT_ALLOWED", statuses=(422,), kind=r,
                meaning="The bill's service does not accept this payment mode "
                "(paymentModesNotAllowed).",
                action="Collect with another mode."),
        Problem(code="INSTRUMENT_DATE_IN_FUTURE", statuses=(422,), kind=r,
                meaning="The instrument is dated after today (in DIGIT's time zone).",
                action="Do not accept post-dated instruments."),
        Problem(code="INSTRUMENT_DATE_TOO_OLD", statuses=(422,), kind=r,
                meaning="The cheque or DD is older than DIGIT's 90-day window.",
                action="Do not accept the instrument; ask for another mode."),
        Problem(code="COLLECTED_AT_IN_FUTURE", statuses=(422,), kind=r,
                meaning="collectedAt is later than now by more than the allowed clock skew "
                "(5 minutes).",
                action="Set the device's clock (NTP), or send the time the money was taken."),
        Problem(code="BILL_NOT_FOUND", statuses=(422,), kind=r,
                meaning="DIGIT has no such bill in this tenant.",
                action=_FETCH_AGAIN),
        Problem(code="BILL_NOT_PAYABLE", statuses=(422,), kind=r,
                meaning="The bill is cancelled, expired or about to expire, or its total cannot "
                "be collected.",
                action=_FETCH_AGAIN),
        Problem(code="BILL_SUPERSEDED", statuses=(422,), kind=r,
                meaning="DIGIT has issued a newer bill for the same consumer.",
                action=_FETCH_AGAIN),
        Problem(code="BILL_ALREADY_PAID", statuses=(422,), kind=r,
                meaning="DIGIT already holds a payment for the bill.",
                action="Do not collect again; reprint the receipt if the consumer paid."),
        Problem(code="DIGIT_REFUSED_PAYMENT", statuses=(422,), kind=r,
                meaning="DIGIT refused to record the payment when it was sent (e.g. BILL_EXPIRED, "
                "INVALID_PAYMENTDETAIL); `errors[].code` are DIGIT's own codes. Nothing was "
                "registered; the payment is closed as REFUSED and a replay of the "
                "Idempotency-Key gets the same answer.",
                action="Do not collect; fetch the consumer's bills again (GET /v1/bills)."),
        Problem(code="TENANT_NOT_COLLECTABLE", statuses=(422,), kind=r,
                meaning="The integrator's DIGIT account holds no role that lets it record "
                "payments in this city, or DIGIT has no master data (MDMS) for the city, so DIGIT "
                "would refuse the payment; nothing was stored.",
                action="Do not collect; ask the operator (`integrator check` lists the cities)."),
        Problem(code="SERVICE_NOT_COLLECTABLE", statuses=(422,), kind=r,
                meaning="The integrator's DIGIT account holds no role that lets it look up this "
                "service's payments in this city (e.g. WS_CEMP for water), so a payment DIGIT did "
                "not answer could never be checked, or DIGIT's master data (MDMS) for the city "
                "does not list the service, so DIGIT would refuse it; nothing was stored.",
                action="Do not collect; ask the operator (`integrator check` lists what the "
                "account may do per city and service)."),
        Problem(code="PAYMENT_REJECTED", statuses=(422,), kind=r,
                meaning="The payment breaks a payment rule not named more precisely.",
                action="Read `detail` and `errors`."),
        Problem(code="IDEMPOTENCY_KEY_REUSED", statuses=(422,), kind=r,
                meaning="The Idempotency-Key was already used by this device for a different "
                "payment.",
                action="Use a new key for a new payment; resend the original body to replay."),
        Problem(code="CASH_IN_HAND_CAP_REACHED", statuses=(422,), kind=r,
                meaning="This CASH payment would take the cash the device holds over its cap "
                "(CASH_IN_HAND_CAP or the device's own; GET /v1/devices/me/cash shows what it "
                "holds). Other payment modes are still taken.",
                action="Do not collect cash; hand the cash over to a cashier, then collect again."),
        Problem(code="BATCH_SIZE_OUT_OF_RANGE", statuses=(422,), kind=s,
                meaning="POST /v1/payments/batch carries no payment or more than OFFLINE_BATCH_MAX "
                "(GET /v1/devices/me/limits says how many).",
                action="Split the upload into batches of at most that many payments."),
        # --- only in POST /v1/payments/batch: a quarantined item's conflict.code ---
        Problem(code="COLLECTED_TOO_LONG_AGO", statuses=(), kind=r,
                meaning="Only in POST /v1/payments/batch, as a quarantined item's "
                "`conflict.code`: the payment was collected (collectedAt) longer ago than the "
                "device may hold a payment offline (`offlineMaxAgeSeconds` of GET "
                "/v1/devices/me/limits, also in the conflict). The money was taken, so the "
                "payment is stored NEEDS_ATTENTION; it is not sent to DIGIT.",
                action="Do not collect again nor upload it under another key: an operator "
                "registers or refunds it (GET /v1/payments/{id} shows which). Upload offline "
                "payments within offlineMaxAgeSeconds of collecting them."),
        Problem(code="OFFLINE_CASH_LIMIT_EXCEEDED", statuses=(), kind=r,
                meaning="Only in POST /v1/payments/batch, as a quarantined item's "
                "`conflict.code`: the upload carries more CASH than a device may collect offline "
                "(`offlineCashLimit` of GET /v1/devices/me/limits, also in the conflict); the CASH "
                "payments beyond it, counted in the order the money was taken, are stored "
                "NEEDS_ATTENTION and not sent to DIGIT.",
                action="Do not collect again nor upload it under another key: an operator "
                "registers or refunds it (GET /v1/payments/{id} shows which). Take no more "
                "than offlineCashLimit in cash while offline."),
        # --- auth ---
        Problem(code="UNAUTHORIZED", statuses=(401,), kind=a,
                meaning="No device key, or an unknown or revoked one.",
                action="Send Authorization: Bearer <device key>; ask the operator for a key."),
        Problem(code="TENANT_FORBIDDEN", statuses=(403,), kind=a,
                meaning="The device may not act for this tenant.",
                action="Use a tenant the device was registered for (or one of its cities)."),
        Problem(code="FORBIDDEN", statuses=(403,), kind=a,
                meaning="The request is not allowed.",
                action="Ask the operator."),
        Problem(code="RATE_LIMITED", statuses=(429,), kind=a,
                meaning="Too many requests from this device (or too many lookups of receipts it "
                "did not collect, RECEIPT_LOOKUPS_PER_MINUTE).",
                action="Wait Retry-After seconds, then retry."),
        # --- state ---
        Problem(code="PAYMENT_IN_PROGRESS", statuses=(409,), kind=t,
                meaning="One of this integrator's payments for the bill is not finished; paying "
                "again could pay twice. The body names `billId`, and `paymentId` when this "
                "device made that payment (null for another device's).",
                action="GET /v1/payments/{paymentId} until it is REGISTERED or refused; do not "
                "collect again meanwhile."),
        Problem(code="REQUEST_IN_FLIGHT", statuses=(409,), kind=t,
                meaning="A request with the same Idempotency-Key is being processed.",
                action=_SAME_KEY),
        Problem(code="OFFLINE_UPLOAD_IN_PROGRESS", statuses=(409,), kind=t,
                meaning="POST /v1/payments/batch: another upload of this device carrying CASH "
                "is being checked (a device's uploads with CASH are checked one at a time, so "
                "together they stay within its offline cash limit) and did not finish in time. "
                "Nothing of this upload was stored.",
                action="Upload the same batch again, with the same keys, after Retry-After "
                "seconds; payments the other upload stored are answered from what it stored."),
        Problem(code="RECEIPT_NOT_READY", statuses=(409,), kind=t,
                meaning="The payment has no DIGIT receipt to print (yet): it is PENDING, "
                "NEEDS_ATTENTION or was closed without one. The body names `paymentId` and "
                "`paymentStatus`.",
                action="GET /v1/payments/{paymentId} until it is REGISTERED, then print; do not "
                "hand over a receipt meanwhile."),
        Problem(code="PAYMENT_NOT_FOUND", statuses=(404,), kind=t,
                meaning="This device has no such payment.",
                action="Check the id or Idempotency-Key; payments are visible to their device "
                "only."),
        Problem(code="RECEIPT_NOT_FOUND", statuses=(404,), kind=t,
                meaning="DIGIT has no such receipt for this tenant, service and consumer code.",
                action="Check receiptNumber, tenantId and businessService."),
        # --- cancellation requests (POST /v1/payments/{id}/cancellation) ---
        Problem(code="CANCELLATION_REASON_REQUIRED", statuses=(422,), kind=s,
                meaning="A cancellation request needs a reason of 1 to 500 characters other "
                "than blanks.",
                action="Say why the payment should be cancelled in `reason`."),
        Problem(code="CANCELLATION_MODE_NOT_ALLOWED", statuses=(422,), kind=r,
                meaning="DIGIT never cancels ONLINE, CARD, ONLINE_NEFT or ONLINE_RTGS payments "
                "(they are remitted when recorded).",
                action="Do not ask again; refunds of such payments go through the bank."),
        Problem(code="CANCELLATION_INSTRUMENT_NOT_APPROVED", statuses=(422,), kind=r,
                meaning="DIGIT's instrument status of the payment is not APPROVED (already "
                "remitted, cancelled or dishonoured), so DIGIT would refuse to cancel it.",
                action="Ask the operator; the payment cannot be cancelled from the counter."),
        Problem(code="CANCELLATION_NOT_NEWEST", statuses=(422,), kind=r,
                meaning="DIGIT cancels only the newest payment of a consumer; `detail` names "
                "the newer receipt.",
                action="Ask the operator: the newer payment has to be cancelled first."),
        Problem(code="CANCELLATION_NOT_PERMITTED", statuses=(422,), kind=r,
                meaning="The integrator's DIGIT account has no role to cancel payments of this "
                "service in this city (in Punjab only property tax), so DIGIT would refuse.",
                action="Ask the operator (`integrator check` lists what the account may do)."),
        Problem(code="CANCELLATION_MIXED_TENANTS", statuses=(422,), kind=r,
                meaning="DIGIT holds the payment under another tenant than the integrator "
                "recorded; one cancellation acts on one tenant.",
                action="Ask the operator."),
        Problem(code="PAYMENT_NOT_REVERSIBLE", statuses=(409,), kind=t,
                meaning="Only a payment DIGIT holds (status REGISTERED) can be cancelled; this "
                "one is not registered yet, or already cancelled, dishonoured or resolved.",
                action="GET /v1/payments/{id} and wait for REGISTERED, or ask the operator."),
        Problem(code="CANCELLATION_WINDOW_PASSED", statuses=(409,), kind=t,
                meaning="A device may ask for a cancellation only within "
                "CANCELLATION_WINDOW_MINUTES (30 by default) of collecting the payment.",
                action="Ask an operator, who may request it at any time."),
        Problem(code="CANCELLATION_ALREADY_REQUESTED", statuses=(409,), kind=t,
                meaning="A cancellation of this payment is already requested (or done).",
                action="GET /v1/payments/{id}: `reversal` shows the request's state."),
        Problem(code="CANCELLATION_NOT_IN_DIGIT", statuses=(409,), kind=t,
                meaning="DIGIT does not show the payment the integrator registered, so it "
                "cannot be cancelled now.",
                action="Ask the operator."),
        Problem(code="CANCELLATION_REFUSED", statuses=(409,), kind=t,
                meaning="The cancellation request cannot be accepted now for a reason not named "
                "more precisely (`detail` says which).",
                action="Read `detail`; ask the operator."),
        # --- unavailable ---
        Problem(code="DIGIT_UNAVAILABLE", statuses=(503,), kind=u,
                meaning="DIGIT cannot be reached and nothing vouches for the bill; nothing was "
                "recorded.",
                action="Retry after Retry-After seconds; do not collect until it succeeds."),
        Problem(code="DIGIT_REJECTED", statuses=(502,), kind=u,
                meaning="DIGIT refused a read the integrator made; `errors[].code` are DIGIT's "
                "own codes, passed through.",
                action="Retry later; tell the operator if it persists."),
        Problem(code="LEDGER_UNAVAILABLE", statuses=(503,), kind=u,
                meaning="The integrator cannot reach its payments ledger; nothing was recorded "
                "unless an earlier try with the same key was.",
                action=_SAME_KEY),
        Problem(code="STORE_UNAVAILABLE", statuses=(503,), kind=u,
                meaning="The integrator cannot reach its store; nothing was recorded.",
                action=_SAME_KEY),
        # --- ours ---
        Problem(code="INTERNAL_ERROR", statuses=(500,), kind=Kind.SERVER,
                meaning="An unexpected error on the integrator's side; no internals disclosed.",
                action="Retry with the same Idempotency-Key; tell the operator the X-Request-ID."),
    )  # fmt: skip


def _index(entries: Iterable[Problem]) -> Mapping[str, Problem]:
    table: dict[str, Problem] = {}
    for entry in entries:
        if entry.code in table:
            raise ValueError(f"problem code {entry.code} is catalogued twice")
        table[entry.code] = entry
    return table


CATALOGUE: Mapping[str, Problem] = _index(_entries())


def codes_of(*kinds: Kind) -> frozenset[str]:
    """The codes of the given kinds."""
    return frozenset(p.code for p in CATALOGUE.values() if p.kind in kinds)


def codes_for_status(status: int) -> list[str]:
    """The codes a response with `status` may carry, in catalogue order."""
    return [p.code for p in CATALOGUE.values() if status in p.statuses]


def catalogue_markdown() -> str:
    """docs/api-errors.md: the catalogue for readers without a running integrator.

    Regenerate with `python -m integrator.api.problems > docs/api-errors.md` (a test compares).
    """
    lines = [
        "# PoS API error catalogue",
        "",
        "<!-- generated: python -m integrator.api.problems > docs/api-errors.md -->",
        "",
        "Every error of the PoS API is `application/problem+json`:",
        "",
        "```json",
        '{"type": "/docs#problem-AMOUNT_BELOW_MINIMUM", "title": "Unprocessable Entity",',
        ' "status": 422, "detail": "The payment breaks a payment rule.",',
        ' "code": "AMOUNT_BELOW_MINIMUM",',
        ' "errors": [{"field": "bills/0/amount", "code": "AMOUNT_BELOW_MINIMUM",',
        '             "message": "bill ... needs at least 100"}]}',
        "```",
        "",
        "`code` is stable: devices switch on it, never on `detail` or `message`. `type` links to",
        "the code's row on the integrator's `/docs` page. A code appears at the top of a problem",
        "or in its `errors[]` (the first field error's code is also the top-level one), or in an",
        "item of `POST /v1/payments/batch`'s answer: a refused item's `problem.code` (its",
        "`retryAfter` stands for Retry-After, its `idempotencyKey` for the header), or a",
        "quarantined item's `conflict.code`: then the money was already taken and the payment",
        "is stored for an operator, so the row says what changed, and the device never collects",
        "again. A code whose status is " + f"*{BATCH_ITEM_ONLY}* appears only there.",
        "",
        "Kinds: " + "; ".join(f"**{k.value}** {_KIND_TEXT[k]}" for k in Kind) + ".",
        "",
        "| code | status | kind | meaning | what the device should do |",
        "|---|---|---|---|---|",
    ]
    for p in CATALOGUE.values():
        lines.append(
            f'| <a id="{p.anchor}"></a>`{p.code}` | {p.status_text} | {p.kind.value} '
            f"| {p.meaning} | {p.action} |"
        )
    return "\n".join(lines) + "\n"


_KIND_TEXT = {
    Kind.SHAPE: "the request's form, as /openapi.json states it",
    Kind.RULE: "a payment rule or the bill's state in DIGIT",
    Kind.AUTH: "the device key, its tenants or its rate",
    Kind.STATE: "the payment or request is in the way, or does not exist",
    Kind.UNAVAILABLE: "DIGIT or the store cannot answer now; retry",
    Kind.SERVER: "a bug on our side",
}


if __name__ == "__main__":
    print(catalogue_markdown(), end="")
