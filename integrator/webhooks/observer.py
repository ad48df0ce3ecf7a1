"""`WebhookObserver`: on each payment move a webhook reports (`WebhookEvent`), ask for one
delivery job.

It only looks up whether the payment's device has a webhook and hands the rest to a
`DeliveryScheduler` (the RQ one is `integrator.jobs.webhooks.RqWebhookScheduler`). Like every
observer it never raises: a webhook that cannot be enqueued must not fail a payment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from integrator.observability.events import Observer
from integrator.webhooks.models import WebhookEvent

if TYPE_CHECKING:
    from integrator.payments.models import Payment

log = logging.getLogger("integrator.webhooks")


class EndpointLookup(Protocol):
    def has(self, device_id: str) -> bool:
        """True when the device has a webhook."""


class DeliveryScheduler(Protocol):
    def enqueue(self, *, payment_id: str, event: WebhookEvent, occurred_at: datetime) -> bool:
        """Make sure one delivery of `event` for the payment is queued; True if this call did."""


class WebhookObserver(Observer):
    """The `Observer` that asks for a delivery on the payment moves a webhook reports."""

    def __init__(
        self,
        *,
        endpoints: EndpointLookup,
        scheduler: DeliveryScheduler,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._endpoints = endpoints
        self._scheduler = scheduler
        self._clock = clock

    def payment_registered(self, payment: Payment) -> None:
        self._notify(payment, WebhookEvent.REGISTERED)

    def payment_needs_attention(self, payment: Payment) -> None:
        self._notify(payment, WebhookEvent.NEEDS_ATTENTION)

    def payment_reversed(self, payment: Payment) -> None:
        """CANCELLED or DISHONOURED (integrator.payments.cancellation, after the save)."""
        event = (
            WebhookEvent.DISHONOURED
            if payment.status.value == "DISHONOURED"
            else WebhookEvent.CANCELLED
        )
        self._notify(payment, event)

    def payment_resolved(self, payment: Payment) -> None:
        """RESOLVED by an operator (integrator.payments.operator_actions, after the save)."""
        self._notify(payment, WebhookEvent.RESOLVED)

    def _notify(self, payment: Payment, event: WebhookEvent) -> None:
        try:
            if not self._endpoints.has(payment.device_id):
                return
            if self._scheduler.enqueue(
                payment_id=payment.id, event=event, occurred_at=self._clock()
            ):
                log.info(
                    "webhook delivery enqueued",
                    extra={"payment_id": payment.id, "event": event.value},
                )
        except Exception as exc:
            log.warning(
                "could not enqueue a webhook delivery",
                extra={"payment_id": payment.id, "event": event.value, "error": type(exc).__name__},
            )
