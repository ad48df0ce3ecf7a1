"""One webhook delivery: the JSON body aggregators receive, and the signed POST that carries it.

The only webhook code that knows `requests`. Success is any 2xx; everything else (another
status, a redirect, a timeout, no connection, a host that now resolves to an internal address)
is a failed attempt the job may retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import requests

from integrator import jsonutil
from integrator.api.schemas.responses import payment_view
from integrator.api.wire import Wire
from integrator.payments.models import Payment
from integrator.webhooks.models import InvalidWebhookUrl, WebhookEndpoint, WebhookEvent
from integrator.webhooks.signing import SIGNATURE_HEADER, signature_header
from integrator.webhooks.targets import TargetPolicy

CONNECT_TIMEOUT_SECONDS: Final = 3.0
READ_TIMEOUT_SECONDS: Final = 10.0
EVENT_HEADER: Final = "X-Integrator-Event"
DELIVERY_HEADER: Final = "X-Integrator-Delivery"
USER_AGENT: Final = "digit-integrator-webhooks/1"


def build_body(
    event: WebhookEvent, occurred_at: datetime, payment: Payment, *, delivery_id: str, wire: Wire
) -> bytes:
    """`{event, deliveryId, occurredAt, payment}`; the payment as GET /v1/payments/{id} shows it
    (now), written with the app's `wire` (DIGIT_TIMEZONE: `Wire(settings.digit_timezone)`).
    `deliveryId` (also sent as X-Integrator-Delivery) is in the body so the signature covers
    it: a captured delivery replayed under a new header's id is told apart."""
    return jsonutil.dumps(
        {
            "event": event.value,
            "deliveryId": delivery_id,
            "occurredAt": occurred_at.isoformat(),
            "payment": payment_view(payment, wire),
        }
    ).encode("utf-8")


@dataclass(frozen=True, kw_only=True)
class DeliveryResult:
    delivered: bool
    status_code: int | None = None
    error: str | None = None  # short and secret-free: "HTTP 500", "timeout", "unreachable"


class WebhookSender:
    """POSTs signed bodies, only to a URL `targets` allows at the time (SSRF: the URL was checked
    when set, and its host may resolve elsewhere since). `session` is injectable for tests;
    timeouts are always explicit."""

    def __init__(
        self,
        *,
        targets: TargetPolicy,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._targets = targets
        self._session = session or _session()
        self._clock = clock

    def close(self) -> None:
        self._session.close()

    def send(
        self, endpoint: WebhookEndpoint, *, event: WebhookEvent, delivery_id: str, body: bytes
    ) -> DeliveryResult:
        try:
            self._targets.check(endpoint.url)
        except InvalidWebhookUrl:
            return DeliveryResult(delivered=False, error="refused target")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: event.value,
            DELIVERY_HEADER: delivery_id,
            SIGNATURE_HEADER: signature_header(endpoint.secret, int(self._clock()), body),
        }
        try:
            response = self._session.post(
                endpoint.url,
                data=body,
                headers=headers,
                timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
                allow_redirects=False,  # a redirected POST is not a delivery; say so instead
                stream=True,  # the receiver's body is not read: only its status counts
            )
        except requests.Timeout:
            return DeliveryResult(delivered=False, error="timeout")
        except requests.ConnectionError:
            return DeliveryResult(delivered=False, error="unreachable")
        except requests.RequestException as exc:
            return DeliveryResult(delivered=False, error=type(exc).__name__)
        with response:
            status = response.status_code
        if 200 <= status < 300:
            return DeliveryResult(delivered=True, status_code=status)
        return DeliveryResult(delivered=False, status_code=status, error=f"HTTP {status}")


def _session() -> requests.Session:
    """A session that reads nothing from the environment (no proxy or .netrc surprises)."""
    session = requests.Session()
    session.trust_env = False
    return session
