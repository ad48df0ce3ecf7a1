"""What a webhook is: the events, a device's endpoint, one delivery attempt, and the URL rule."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

from integrator.payments.models import PaymentStatus

SECRET_PREFIX: Final = "whsec_"
SECRET_BYTES: Final = 32  # 256 random bits
_LOOPBACK_NAMES: Final = frozenset({"localhost"})


class WebhookEvent(StrEnum):
    """What an aggregator is told about; the value is the payload's `event` and the header's."""

    REGISTERED = "payment.registered"
    NEEDS_ATTENTION = "payment.needs_attention"
    CANCELLED = "payment.cancelled"  # DIGIT cancelled it on an approved request
    DISHONOURED = "payment.dishonoured"  # its cheque/DD bounced: DIGIT dishonoured it
    RESOLVED = "payment.resolved"  # an operator closed it (payment.resolution says how)


#: The event a payment's move to a status reports (a status not here reports none).
EVENT_OF_STATUS: Final[Mapping[PaymentStatus, WebhookEvent]] = MappingProxyType(
    {
        PaymentStatus.REGISTERED: WebhookEvent.REGISTERED,
        PaymentStatus.NEEDS_ATTENTION: WebhookEvent.NEEDS_ATTENTION,
        PaymentStatus.CANCELLED: WebhookEvent.CANCELLED,
        PaymentStatus.DISHONOURED: WebhookEvent.DISHONOURED,
        PaymentStatus.RESOLVED: WebhookEvent.RESOLVED,
    }
)


class InvalidWebhookUrl(ValueError):
    """A webhook URL we refuse to POST to."""


@dataclass(frozen=True, kw_only=True)
class WebhookEndpoint:
    """Where a device's events go, and the secret that signs them (never logged or shown)."""

    device_id: str
    url: str
    secret: str = field(repr=False)
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class DeliveryRecord:
    """One delivery attempt, as the delivery log keeps it."""

    delivery_id: str
    event: str
    attempt: int
    at: datetime
    outcome: str  # "delivered", "retrying", "failed"
    status_code: int | None = None  # the receiver's HTTP status, if it answered
    error: str | None = None  # why it did not count (e.g. "timeout", "HTTP 500")


@dataclass(frozen=True, kw_only=True)
class OwedDelivery:
    """A delivery the ledger says is owed and was never attempted: the payment's move to its
    current status, at `moved_at`, reports `event` to a webhook set before the move."""

    payment_id: str
    event: WebhookEvent
    moved_at: datetime


def new_secret() -> str:
    """A fresh signing secret (shown once to the operator, then only used to sign)."""
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def validate_url(url: str, *, allow_http_loopback: bool = False) -> str:
    """`url` if it is well formed for a webhook: https (http only to a loopback host, and only
    with `allow_http_loopback`: tests and the sandbox); no credentials in it (they would travel
    in logs and to proxies). Where it points is `integrator.webhooks.targets`' rule."""
    cleaned = url.strip()
    try:
        parts = urlsplit(cleaned)
        parts.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError:
        raise InvalidWebhookUrl(f"not a URL: {url!r}") from None
    if not parts.hostname:
        raise InvalidWebhookUrl(f"a webhook URL needs a host: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrl("a webhook URL may not carry credentials")
    if parts.scheme == "https":
        return cleaned
    if parts.scheme == "http" and allow_http_loopback and _is_loopback(parts.hostname):
        return cleaned
    if parts.scheme == "http":
        raise InvalidWebhookUrl(
            "a webhook URL must be https:// (http:// only to loopback, with"
            " WEBHOOK_ALLOW_PRIVATE_TARGETS)"
        )
    raise InvalidWebhookUrl(f"a webhook URL must be https://, got {parts.scheme or 'none'}")


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
