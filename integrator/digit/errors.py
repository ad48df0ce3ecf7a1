"""Errors raised by the DIGIT edge. Only `integrator.digit` raises them; only it catches `requests`.

    DigitError
    ├── DigitUnavailable        no usable answer: connection error, timeout, 5xx, 429, gateway 502.
    │                           The call may succeed later; for a create, the outcome is unknown.
    ├── DigitOutcomeUnknown     DIGIT answered 400 with codes that are not validation refusals
    │                           (an unhandled exception, idgen/apportion failure, DB constraint):
    │                           handled like a timeout, since the write may have happened.
    ├── DigitRejected           DIGIT answered no: every Errors[].code is a known validation code.
    │                           Retrying the same request cannot succeed.
    └── DigitAuthError          we cannot obtain a usable token
        ├── DigitTokenRefused   the gateway refused our token on a write: nothing was processed
        ├── DigitAuthLocked     bad credentials: logins are suspended until settings change or an
        │                       operator runs `integrator digit unlock` (DIGIT locks the account
        │                       after 5 bad logins in 30 minutes; we stop after 2).
        └── DigitForbidden      HTTP 403: the gateway's RBAC refused our account this endpoint
                                (e.g. a CITIZEN account calling payments/_create). The call never
                                reached the service, so nothing was written; it is our account's
                                configuration, not the payment, that is wrong, so it is *not* a
                                DigitRejected (which would mark the payment refused for good):
                                it can succeed once an operator fixes the account's roles.

A 400 is not always a refusal: DIGIT reports every server-side exception as 400 (digest 3). A 400
is `DigitRejected` only when every `Errors[].code` is a known validation code
(`VALIDATION_CODES`, or a bean-validation code such as `NotNull.paymentRequest.payment.paidBy`);
anything else is `DigitOutcomeUnknown`. `InvalidAccessTokenException` is neither: the client drops
the token, logs in again and retries once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Codes with which DIGIT refuses a request on validation: the same request cannot succeed.
#: From the digest: billing 4.1/4.2, collection 5.2 (pre-validation), 5.4 (validator), 5.5 (search).
#: Deliberately absent: APPORTIONING_FAILED_CODE (apportion-service failure, may succeed later),
#: idgen errors, exception class names (NullPointerException, DataIntegrityViolationException...).
VALIDATION_CODES: frozenset[str] = frozenset(
    {
        # billing-service (digest 4.1, 4.2)
        "BILL_GEN_MANDATORY_FIELDS_MISSING",
        "EG_BS_INVALID_TENANTID",
        "EG_BS_TAXHEADCODE_EMPTY",
        "EG_BS_API_ERROR",
        "EGBS_MANDATORY_FIELDS_ERROR",
        "BILL_SEARCH_CONSUMERCODE_BUSINESSSERVICE",
        # collection-services pre-validation enrichment (digest 5.2)
        "USER_INFO_INVALID",
        "DUPLICATE_BILLID",
        "INVALID_BILL_ID",
        "INVALID_BILL_BUSINESSSERVICE",
        # collection-services PaymentValidator (digest 5.4)
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
        # collection-services search (digest 5.5)
        "EGCL_URI_EXCEPTION",
        "EGCL_PAYMENT_COUNT_ERROR",
    }
)

#: Bean-validation (javax.validation) failures: `<Constraint>.<object>.<path>` (digest 3).
BEAN_VALIDATION_CODE = re.compile(
    r"^(NotNull|NotEmpty|NotBlank|Null|Pattern|Size|Min|Max|DecimalMin|DecimalMax|Digits|Email"
    r"|Past|PastOrPresent|Future|FutureOrPresent|Positive|PositiveOrZero|Negative"
    r"|NegativeOrZero|AssertTrue|AssertFalse|Length|SafeHtml|Range|Valid)\.[\w.\[\]]+$"
)

#: The token was invalid or expired (digest 2.6): re-login and retry once; never a refusal.
INVALID_TOKEN_CODE = "InvalidAccessTokenException"


def is_validation_code(code: str) -> bool:
    """True for a code with which DIGIT refuses a request on validation."""
    return code in VALIDATION_CODES or BEAN_VALIDATION_CODE.match(code) is not None


def all_validation_codes(codes: Iterable[str]) -> bool:
    """True when there is at least one code and every one is a validation code."""
    listed = list(codes)
    return bool(listed) and all(is_validation_code(c) for c in listed)


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


class DigitUnavailable(DigitError):
    """No usable answer (timeout, connection, 5xx, 429, 502). May succeed later."""


class DigitOutcomeUnknown(DigitError):
    """A 400 that is not a validation refusal; the write may or may not have happened."""


class DigitRejected(DigitError):
    """DIGIT refused the request with validation codes; the same request will fail again."""


class DigitAuthError(DigitError):
    """No usable token could be obtained."""


class DigitTokenRefused(DigitAuthError):
    """DIGIT's gateway refused our token on a write: nothing was processed; the token is
    dropped and the write is left to the caller's next attempt."""


class DigitAuthLocked(DigitAuthError):
    """Logins are suspended after bad credentials, to keep DIGIT from locking the account."""


class DigitForbidden(DigitAuthError):
    """HTTP 403: our DIGIT account may not call this endpoint; nothing was written."""
