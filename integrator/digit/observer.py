"""`DigitObserver`: what the DIGIT edge reports (each exchange, each token renewal).

The edge is handed one (`DigitClient(observer=...)`); the base class counts nothing, so a client
built without one (tests, one-off CLI commands) reports to no one. An observer must never raise:
a metric that cannot be recorded must not fail a call to DIGIT.
"""

from __future__ import annotations

from collections.abc import Sequence


class DigitObserver:
    """No-op base: subclasses override the events they care about."""

    def digit_call(self, endpoint: str, outcome: str, seconds: float, codes: Sequence[str]) -> None:
        """One exchange with DIGIT: `outcome` is the HTTP status, or `timeout`/`unreachable`."""

    def token_renewed(self, kind: str) -> None:
        """The shared DIGIT token was renewed: `kind` is `login` or `refresh`."""


#: The observer of a client that was given none.
NO_DIGIT_OBSERVER = DigitObserver()
