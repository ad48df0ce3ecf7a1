"""The hook the rest of the code calls when something worth counting happens.

    events.current().digit_call(...)            integrator.digit.http.Transport.send
    events.current().token_renewed("login")     integrator.digit.auth.TokenManager
    events.current().payment_accepted(p)        integrator.payments.service (one line)
    events.current().payment_registered(p)      integrator.payments.registration (one line)
    events.current().payment_needs_attention(p) integrator.payments.registration (one line)

Until a process installs an observer (`integrator.observability.install_recorder`, called by
`init_metrics` in the web app and by the worker at start-up) every call is a no-op. An observer
must never raise: a metric that cannot be recorded must not fail a payment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from integrator.payments.models import Payment


class Observer(Protocol):
    """What the domain and the DIGIT edge report."""

    def digit_call(
        self, endpoint: str, outcome: str, seconds: float, codes: Sequence[str]
    ) -> None:
        """One exchange with DIGIT: `outcome` is the HTTP status, or `timeout`/`unreachable`."""

    def token_renewed(self, kind: str) -> None:
        """The shared DIGIT token was renewed: `kind` is `login` or `refresh`."""

    def payment_accepted(self, payment: Payment) -> None:
        """A new payment was stored (PENDING)."""

    def payment_registered(self, payment: Payment) -> None:
        """A payment reached REGISTERED (saved)."""

    def payment_needs_attention(self, payment: Payment) -> None:
        """A payment moved to NEEDS_ATTENTION (saved)."""


class NullObserver:
    """Counts nothing (the default, and what unit tests get)."""

    def digit_call(
        self, endpoint: str, outcome: str, seconds: float, codes: Sequence[str]
    ) -> None:
        pass

    def token_renewed(self, kind: str) -> None:
        pass

    def payment_accepted(self, payment: Payment) -> None:
        pass

    def payment_registered(self, payment: Payment) -> None:
        pass

    def payment_needs_attention(self, payment: Payment) -> None:
        pass


_current: Observer = NullObserver()


def install(observer: Observer) -> None:
    """Make `observer` receive this process's events (the last install wins)."""
    global _current
    _current = observer


def uninstall() -> None:
    install(NullObserver())


def current() -> Observer:
    return _current
