"""Errors raised by the DIGIT edge. Only `integrator.digit` raises them; only it catches `requests`.

    DigitError
    ├── DigitNoAnswer               no usable answer: we cannot tell what DIGIT did
    │   ├── DigitUnavailable        timeout, connection error, the call's deadline exceeded, 5xx,
    │   │                           429, the gateway's 502. Nothing usable came back; may succeed
    │   │                           later. After a write the outcome is unknown: look first.
    │   └── DigitOutcomeUnknown     DIGIT answered 400 with codes that are not validation refusals
    │                               (an unhandled exception, idgen/apportion/Kafka failures): a
    │                               write may have happened; handled like a timeout.
    ├── DigitAuthError              we could not present a usable token: nothing was processed
    │   ├── DigitTokenRefused       the gateway refused our token on a write with
    │   │                           InvalidAccessTokenException and no newer token was stored
    │   │                           (dropped; the caller's next attempt sends it with a fresh one)
    │   ├── DigitAuthLocked         our own guard: two bad-credential logins, so logins stop
    │   │                           until an operator runs `integrator digit unlock` or the
    │   │                           settings change
    │   └── DigitAccountLocked      DIGIT said "Account locked" (5 bad logins in 30 min, maybe not
    │                               ours): temporary; `retry_at` is when one login may be tried
    └── DigitAnswered               DIGIT answered no and wrote nothing
        ├── DigitRejected           400 whose Errors[].code are all validation codes (or the
        │                           "already paid" DB constraint, `bill_already_paid`). The same
        │                           request fails again.
        └── DigitForbidden          403 (Zuul), or a 401 without InvalidAccessTokenException (the
                                    SCG gateway): RBAC refused our account this endpoint for these
                                    tenants. Not the payment's fault: it can succeed once roles
                                    change.

A 400 is not always a refusal: DIGIT reports every server-side exception as 400
(docs/digit.md#errors). A 400 is `DigitRejected` only when every `Errors[].code` is a known
validation code (`VALIDATION_CODES`, or a bean-validation code such as
`NotNull.paymentRequest.payment.paidBy`), or when it is `PAYMENT_CREATION_FAILED` naming the bill's
unique constraint (a concurrent or repeated create for a paid bill, docs/digit.md#late-commits);
anything else is `DigitOutcomeUnknown`.
`InvalidAccessTokenException` is neither: the client drops the token, logs in again and retries
once (reads) or raises `DigitTokenRefused` (writes). A 401 without it is the SCG gateway's role
denial (digest, corrections 3): `DigitForbidden`, on a write at once, on a read once a fresh token
got it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

#: Codes with which DIGIT refuses a request on validation: the same request cannot succeed.
#: See docs/digit.md#codes.
#: Deliberately absent: APPORTIONING_FAILED_CODE (apportion-service failure, may succeed later),
#: idgen errors, exception class names (NullPointerException, DataIntegrityViolationException...).
VALIDATION_CODES: frozenset[str] = frozenset(
    {
        # billing-service (docs/digit.md#bills)
        "BILL_GEN_MANDATORY_FIELDS_MISSING",
        "EG_BS_INVALID_TENANTID",
        "EG_BS_TAXHEADCODE_EMPTY",
        "EG_BS_API_ERROR",
        "EGBS_MANDATORY_FIELDS_ERROR",
        "BILL_SEARCH_CONSUMERCODE_BUSINESSSERVICE",
        # collection-services pre-validation enrichment (docs/digit.md#codes)
        "USER_INFO_INVALID",
        "DUPLICATE_BILLID",
        "INVALID_BILL_ID",
        "INVALID_BILL_BUSINESSSERVICE",
        # collection-services PaymentValidator (docs/digit.md#codes)
        "INVALID_REQUEST_INFO",
        "INVALID_USER_INFO",
        "INVALID_USER_ID",
        "INVALID_PAYMENTMODE",
        "INVALID_INST_DATE",
        "INVALID_INST_NUMBER",
        "INVALID_CHEQUE_DD_DATE",
        "CHEQUE_DD_DATE_WITH_MANUAL_RECEIPT_DATE",
        "CHEQUE_DD_DATE_WITH_RECEIPT_DATE",
        "CHEQUE_DD_DATE_WITH_FUTURE_DATE",
        "INVALID_NEFT_RTGS_DATE",
        "INVALID_TXN_NUMBER",
        "INVALID_INSTRUMENT_NUMBER",
        "BILL_ALREADY_PAID",
        "INVALID_BUSINESS_DETAILS",
        "INVALID_PAYMENTDETAIL",
        "INVALID_BILL_AMOUNT",
        "INVALID_BILL",
        "BILL_EXPIRED",
        # collection-services search (docs/digit.md#search)
        "EGCL_URI_EXCEPTION",
        "EGCL_PAYMENT_COUNT_ERROR",
        # collection-services _workflow (docs/digit.md#cancel); CANCEL_RECEIPT_FAILED and
        # COLLECTIONS_KAFKA_PUSH_FAILED are absent on purpose: the cancel may have happened
        "PAYMENT_WORKFLOW_SINGLE_ACTION_ALLOWED",
        "CROSS_TENANT_OP_NOT_ALLOWED",
        "RECEIPT_WORKFLOW_INVALID_RECEIPT",
        "RECEIPT_WORKFLOW_ACTION_NOT_APPLICABLE",
        # MDMS v1: a city without an MDMS file at all (docs/digit.md#mdms)
        "Invalid_tenantId.MdmsCriteria.tenantId",
    }
)

#: `payments/_create` refused because the bill already has a payment row: DIGIT's DB error
#: (`PAYMENT_CREATION_FAILED`, docs/digit.md#late-commits) naming one of these constraints.
ALREADY_PAID_CODE = "BILL_ALREADY_PAID"
CREATION_FAILED_CODE = "PAYMENT_CREATION_FAILED"
ALREADY_PAID_CONSTRAINTS = ("uk_egcl_paymentdetail", "pk_egcl_bill")

#: Bean-validation (javax.validation) failures: `<Constraint>.<object>.<path>`
#: (docs/digit.md#errors).
BEAN_VALIDATION_CODE = re.compile(
    r"^(NotNull|NotEmpty|NotBlank|Null|Pattern|Size|Min|Max|DecimalMin|DecimalMax|Digits|Email"
    r"|Past|PastOrPresent|Future|FutureOrPresent|Positive|PositiveOrZero|Negative"
    r"|NegativeOrZero|AssertTrue|AssertFalse|Length|SafeHtml|Range|Valid)\.[\w.\[\]]+$"
)

#: The token was invalid or expired (docs/digit.md#roles): re-login and retry once; never a refusal.
INVALID_TOKEN_CODE = "InvalidAccessTokenException"


def is_validation_code(code: str) -> bool:
    """True for a code with which DIGIT refuses a request on validation."""
    return code in VALIDATION_CODES or BEAN_VALIDATION_CODE.match(code) is not None


def all_validation_codes(codes: Iterable[str]) -> bool:
    """True when there is at least one code and every one is a validation code."""
    listed = list(codes)
    return bool(listed) and all(is_validation_code(c) for c in listed)


def names_paid_bill_constraint(detail: DigitErrorDetail) -> bool:
    """`PAYMENT_CREATION_FAILED` whose DB message names the bill's unique/primary key."""
    if detail.code != CREATION_FAILED_CODE:
        return False
    text = f"{detail.message} {detail.description}".lower()
    return any(name in text for name in ALREADY_PAID_CONSTRAINTS)


def is_refusal(details: Sequence[DigitErrorDetail]) -> bool:
    """A 400 that means "DIGIT answered no, nothing written": `DigitRejected`."""
    return bool(details) and all(
        is_validation_code(d.code) or names_paid_bill_constraint(d) for d in details
    )


@dataclass(frozen=True)
class DigitErrorDetail:
    """One entry of DIGIT's `Errors[]` (the tracer's ErrorRes)."""

    code: str
    message: str = ""
    description: str = ""


class DigitError(Exception):
    """Base of every error of the DIGIT edge."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        status: int | None = None,
        errors: Sequence[DigitErrorDetail] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.status = status
        self.errors = tuple(errors)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(e.code for e in self.errors)

    def __str__(self) -> str:
        where = f" [{self.endpoint}]" if self.endpoint else ""
        codes = f" codes={list(self.codes)}" if self.errors else ""
        status = f" status={self.status}" if self.status is not None else ""
        return f"{self.message}{where}{status}{codes}"


class DigitNoAnswer(DigitError):
    """No usable answer: what DIGIT did is unknown. May succeed later; after a write, look first."""


class DigitUnavailable(DigitNoAnswer):
    """Timeout, connection error, deadline exceeded, 5xx, 429, 502. May succeed later."""


class DigitOutcomeUnknown(DigitNoAnswer):
    """A 400 that is not a validation refusal; the write may or may not have happened."""


class DigitAuthError(DigitError):
    """We could not present a usable token; nothing was processed."""


class DigitTokenRefused(DigitAuthError):
    """DIGIT's gateway refused our token on a write (InvalidAccessTokenException): nothing was
    processed; the token is dropped and the write is left to the caller's next attempt."""


class DigitAuthLocked(DigitAuthError):
    """Logins are suspended after our bad-credential logins, until an operator runs
    `integrator digit unlock` or the credentials change."""


class DigitAccountLocked(DigitAuthError):
    """DIGIT locked the account ("Account locked"): temporary. One password login is tried at
    `retry_at` (epoch seconds); logins resume by themselves when it succeeds."""

    def __init__(
        self,
        message: str,
        *,
        retry_at: float,
        endpoint: str = "",
        status: int | None = None,
        errors: Sequence[DigitErrorDetail] = (),
    ) -> None:
        super().__init__(message, endpoint=endpoint, status=status, errors=errors)
        self.retry_at = retry_at

    @property
    def retry_at_utc(self) -> datetime:
        return datetime.fromtimestamp(int(self.retry_at), UTC)


class DigitAnswered(DigitError):
    """DIGIT answered no: nothing was written."""


class DigitRejected(DigitAnswered):
    """DIGIT refused the request with validation codes; the same request will fail again."""

    @property
    def bill_already_paid(self) -> bool:
        """The bill already has a payment in DIGIT: `BILL_ALREADY_PAID`, or the create that
        reached the bill's UNIQUE constraint (`PAYMENT_CREATION_FAILED`,
        docs/digit.md#late-commits). Either way: search DIGIT's payments for the bill before
        deciding anything."""
        return any(
            d.code == ALREADY_PAID_CODE or names_paid_bill_constraint(d) for d in self.errors
        )


class DigitForbidden(DigitAnswered):
    """RBAC refused our account `endpoint` for `tenants` (Zuul: 403; SCG: a 401 without
    InvalidAccessTokenException); nothing was written. Not the request's fault: it can succeed
    once the account's roles change."""

    def __init__(
        self,
        message: str,
        *,
        tenants: Sequence[str] = (),
        endpoint: str = "",
        status: int | None = None,
        errors: Sequence[DigitErrorDetail] = (),
    ) -> None:
        super().__init__(message, endpoint=endpoint, status=status, errors=errors)
        self.tenants = tuple(tenants)

    def __str__(self) -> str:
        return f"{super().__str__()} tenants={list(self.tenants)}"


#: The failures after which DIGIT cannot give *us* a usable answer right now: it did not answer
#: (`DigitNoAnswer`), or would not take our token or our account's roles (`DigitAuthError`,
#: `DigitForbidden`). Callers fall back (snapshots) or stay PENDING. Reconciliation stops only on
#: the first two: a `DigitForbidden` concerns one city and module.
NO_USABLE_ANSWER: tuple[type[DigitError], ...] = (DigitNoAnswer, DigitAuthError, DigitForbidden)
