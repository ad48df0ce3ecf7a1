"""The hook the rest of the code calls when something worth counting happens.

    events.current().digit_call(...)            integrator.digit.http.Transport.send
    events.current().token_renewed("login")     integrator.digit.auth.TokenManager
    events.current().payment_accepted(p)        integrator.payments.service (one line)
    events.current().payment_registered(p)      integrator.payments.registration (one line)
    events.current().payment_needs_attention(p) integrator.payments.registration (one line)

Until a process installs an observer (`integrator.observability.install_recorder`, called by
`init_metrics` in the web app and by the worker at start-up) every call is a no-op. An observer
must never raise: a metric that cannot be recorded must not fail a payment.

Several observers may listen, each in its own named slot (`install(recorder)` fills "metrics",
`install(observer, slot="webhooks")` the webhooks'); `current()` passes each event to all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from integrator.payments.models import Payment


class Observer(Protocol):
    """What the domain and the DIGIT edge report."""

    def digit_call(self, endpoint: str, outcome: str, seconds: float, codes: Sequence[str]) -> None:
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

    def digit_call(self, endpoint: str, outcome: str, seconds: float, codes: Sequence[str]) -> None:
        pass

    def token_renewed(self, kind: str) -> None:
        pass

    def payment_accepted(self, payment: Payment) -> None:
        pass

    def payment_registered(self, payment: Payment) -> None:
        pass

    def payment_needs_attention(self, payment: Payment) -> None:
        pass


class FanOut:
    """Passes each event to every observer in turn; one that raises is logged and skipped, so
    the others (and the payment) go on."""

    def __init__(self, observers: Sequence[Observer]) -> None:
        self.observers = tuple(observers)

    def _each(self, event: str, *args: object) -> None:
        for observer in self.observers:
            try:
                getattr(observer, event)(*args)
            except Exception:
                logging.getLogger("integrator.events").exception(
                    "an event observer failed",
                    extra={"event": event, "observer": type(observer).__name__},
                )

    def digit_call(self, endpoint: str, outcome: str, seconds: float, codes: Sequence[str]) -> None:
        self._each("digit_call", endpoint, outcome, seconds, codes)

    def token_renewed(self, kind: str) -> None:
        self._each("token_renewed", kind)

    def payment_accepted(self, payment: Payment) -> None:
        self._each("payment_accepted", payment)

    def payment_registered(self, payment: Payment) -> None:
        self._each("payment_registered", payment)

    def payment_needs_attention(self, payment: Payment) -> None:
        self._each("payment_needs_attention", payment)


METRICS_SLOT = "metrics"
_slots: dict[str, Observer] = {}
_current: Observer = NullObserver()


def install(observer: Observer, *, slot: str = METRICS_SLOT) -> None:
    """Make `observer` receive this process's events, beside the other slots' observers
    (a later install in the same slot replaces it)."""
    _slots[slot] = observer
    _rebuild()


def uninstall(slot: str | None = None) -> None:
    """Remove one slot's observer, or (by default) every observer."""
    if slot is None:
        _slots.clear()
    else:
        _slots.pop(slot, None)
    _rebuild()


def _rebuild() -> None:
    global _current
    observers = list(_slots.values())
    if not observers:
        _current = NullObserver()
    else:
        _current = observers[0] if len(observers) == 1 else FanOut(observers)


def current() -> Observer:
    return _current


def flush() -> None:
    """Write what observers hold in memory (a job's end: an RQ work horse exits right after)."""
    for observer in list(_slots.values()):
        flush_observer = getattr(observer, "flush", None)
        if callable(flush_observer):
            try:
                flush_observer()
            except Exception:
                logging.getLogger("integrator.events").exception(
                    "an event observer failed to flush",
                    extra={"observer": type(observer).__name__},
                )
