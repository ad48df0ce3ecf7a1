"""`PaymentObserver`: the payment moves the domain reports (accepted, registered, needs attention,
resolved by an operator).

The use cases are handed one (`PaymentService(observer=...)`, `Registrar(observer=...)`,
`PaymentOperations(observer=...)`); the base class does nothing. Metrics
(`integrator.observability.recorder`) and webhooks (`integrator.webhooks.observer`) subclass it.
An observer must never raise: a metric or a webhook that cannot be recorded must not fail a
payment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from integrator.payments.models import Payment


class PaymentObserver:
    """No-op base: subclasses override the events they care about."""

    def payment_accepted(self, payment: Payment) -> None:
        """A new payment was stored (PENDING)."""

    def payment_registered(self, payment: Payment) -> None:
        """A payment reached REGISTERED (saved)."""

    def payment_needs_attention(self, payment: Payment) -> None:
        """A payment moved to NEEDS_ATTENTION (saved)."""

    def payment_resolved(self, payment: Payment) -> None:
        """An operator closed a NEEDS_ATTENTION payment as RESOLVED (saved)."""


#: The observer of use cases that were given none.
NO_PAYMENT_OBSERVER = PaymentObserver()
