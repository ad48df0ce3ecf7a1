"""Devices' webhook endpoints and each payment's webhook delivery log, in Redis.

Layout (see `store.keys`): hash `webhook:{device_id}` = url, secret, created_at; list
`webhook:deliveries:{payment_id}` = JSON delivery records, newest first, at most
`DELIVERY_LOG_LENGTH`, expiring `DELIVERY_LOG_TTL_SECONDS` after the last attempt.

The signing secret is stored as-is, unlike device keys (only their hash is kept): we must compute
an HMAC with it for every delivery, so a hash would not do. It is shown once, when made, and is
registered with the log redactor whenever it is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, cast

import redis as redis_lib

from integrator import jsonutil, logs
from integrator.store import keys
from integrator.store.codec import as_text
from integrator.webhooks.models import (
    DeliveryRecord,
    WebhookEndpoint,
    new_secret,
    validate_url,
)

DELIVERY_LOG_LENGTH: Final = 50
DELIVERY_LOG_TTL_SECONDS: Final = 90 * 24 * 3600


class WebhookStore:
    """set / clear / get a device's endpoint; record and read a payment's delivery attempts."""

    def __init__(
        self, redis: redis_lib.Redis, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._redis = redis
        self._clock = clock or (lambda: datetime.now(UTC))

    # --- endpoints ---

    def set(self, device_id: str, url: str) -> WebhookEndpoint:
        """Point the device's events at `url` with a new secret (any old secret stops signing).
        The returned endpoint's secret is the only time it is shown."""
        endpoint = WebhookEndpoint(
            device_id=device_id,
            url=validate_url(url),
            secret=new_secret(),
            created_at=self._clock(),
        )
        logs.register_secret(endpoint.secret)
        key = keys.webhook(device_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(
            key,
            mapping={
                "url": endpoint.url,
                "secret": endpoint.secret,
                "created_at": endpoint.created_at.isoformat(),
            },
        )
        pipe.execute()
        return endpoint

    def clear(self, device_id: str) -> bool:
        """Stop the device's webhooks; True if it had one."""
        return bool(self._redis.delete(keys.webhook(device_id)))

    def has(self, device_id: str) -> bool:
        return bool(self._redis.exists(keys.webhook(device_id)))

    def get(self, device_id: str) -> WebhookEndpoint | None:
        raw = cast(dict[bytes, bytes], self._redis.hgetall(keys.webhook(device_id)))
        if not raw:
            return None
        fields = {as_text(k): as_text(v) for k, v in raw.items()}
        logs.register_secret(fields["secret"])  # loaded: never let it reach a log line
        return WebhookEndpoint(
            device_id=device_id,
            url=fields["url"],
            secret=fields["secret"],
            created_at=datetime.fromisoformat(fields["created_at"]),
        )

    # --- the delivery log ---

    def record(self, payment_id: str, entry: DeliveryRecord) -> None:
        """Append one attempt to the payment's delivery log (bounded, expiring)."""
        key = keys.webhook_deliveries(payment_id)
        doc = jsonutil.dumps(
            {
                "deliveryId": entry.delivery_id,
                "event": entry.event,
                "attempt": entry.attempt,
                "at": entry.at,
                "outcome": entry.outcome,
                "statusCode": entry.status_code,
                "error": entry.error,
            }
        )
        pipe = self._redis.pipeline(transaction=True)
        pipe.lpush(key, doc)
        pipe.ltrim(key, 0, DELIVERY_LOG_LENGTH - 1)
        pipe.expire(key, DELIVERY_LOG_TTL_SECONDS)
        pipe.execute()

    def deliveries(self, payment_id: str) -> list[DeliveryRecord]:
        """The payment's delivery attempts, newest first."""
        raw = cast(list[bytes], self._redis.lrange(keys.webhook_deliveries(payment_id), 0, -1))
        return [_load_record(jsonutil.loads(item)) for item in raw]


def _load_record(doc: dict[str, Any]) -> DeliveryRecord:
    status = doc.get("statusCode")
    return DeliveryRecord(
        delivery_id=str(doc["deliveryId"]),
        event=str(doc["event"]),
        attempt=int(doc["attempt"]),
        at=datetime.fromisoformat(str(doc["at"])),
        outcome=str(doc["outcome"]),
        status_code=None if status is None else int(status),
        error=doc.get("error"),
    )
