"""`Observer`: everything a process reports, and `FanOut`, which passes it to several observers.

    DigitObserver    digit_call, token_renewed      integrator.digit.observer (the DIGIT edge)
    PaymentObserver  payment_accepted, _registered,  integrator.payments.events (the domain)
                     _needs_attention, _resolved

`Services.build` builds one observer per process (the metrics recorder and the webhook observer
behind a `FanOut`) and hands it to the DIGIT client and the payment use cases, as it hands them the
clock. Each part sees only the half it reports, so the DIGIT edge never learns of payments.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from integrator.digit.observer import DigitObserver
from integrator.payments.events import PaymentObserver

if TYPE_CHECKING:
    from integrator.payments.models import Payment

log = logging.getLogger("integrator.events")


class Observer(DigitObserver, PaymentObserver):
    """No-op base of a process's observers: override what you count, inherit the rest."""

    def flush(self) -> None:
        """Write what is held in memory (a job's end: an RQ work horse exits right after)."""


class FanOut(Observer):
    """Passes each event to every observer in turn; one that raises is logged and skipped, so
    the others (and the payment) go on."""

    def __init__(self, observers: Sequence[Observer]) -> None:
        self.observers = tuple(observers)

    def _each(self, event: str, *args: object) -> None:
        for observer in self.observers:
            try:
                getattr(observer, event)(*args)
            except Exception:
                log.exception(
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

    def payment_resolved(self, payment: Payment) -> None:
        self._each("payment_resolved", payment)

    def flush(self) -> None:
        self._each("flush")
