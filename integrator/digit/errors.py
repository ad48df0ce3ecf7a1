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
        └── DigitAuthLocked     bad credentials: logins are suspended until settings change or an
                                operator runs `integrator digit unlock` (DIGIT locks the account
                                after 5 bad logins in 30 minutes; we stop after 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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


class DigitAuthLocked(DigitAuthError):
    """Logins are suspended after bad credentials, to keep DIGIT from locking the account."""
