"""Devices' webhook endpoints and each payment's webhook delivery log, in the ledger (PostgreSQL).

Tables (migrations/versions/0002): `device_webhooks` (one row per device that has a webhook: url,
secret, created_at) and `webhook_deliveries` (append-only, one row per attempt); `deliveries`
reads the newest `DELIVERY_LOG_LENGTH` attempts of a payment. `owed` reads, from the payments'
history, the deliveries that are owed and were never attempted (the sweeper's look at the ledger,
indexed by `payment_history_transitions_by_at`, migrations/versions/0012).

The signing secret is stored as-is, unlike device keys (only their hash is kept): we must compute
an HMAC with it for every delivery, so a hash would not do. It is shown once, when made, and is
registered with the log redactor whenever it is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from psycopg import errors
from psycopg.rows import dict_row

from integrator import logs
from integrator.store.db import Database
from integrator.webhooks.models import (
    EVENT_OF_STATUS,
    DeliveryRecord,
    OwedDelivery,
    WebhookEndpoint,
    WebhookEvent,
    new_secret,
)
from integrator.webhooks.targets import TargetPolicy

#: The SSRF rule unless told otherwise (WEBHOOK_ALLOW_PRIVATE_TARGETS lifts it).
STRICT_TARGETS: Final = TargetPolicy()

#: How many attempts of one payment `deliveries` returns (the newest).
DELIVERY_LOG_LENGTH: Final = 50


class UnknownDevice(LookupError):
    """A webhook for a device the ledger does not hold."""


class WebhookStore:
    """set / clear / get a device's endpoint; record and read a payment's delivery attempts."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] | None = None,
        targets: TargetPolicy = STRICT_TARGETS,
    ) -> None:
        self._db = db
        self._clock = clock or (lambda: datetime.now(UTC))
        self._targets = targets

    # --- endpoints ---

    def set(self, device_id: str, url: str) -> WebhookEndpoint:
        """Point the device's events at `url` with a new secret (any old secret stops signing).
        The returned endpoint's secret is the only time it is shown. UnknownDevice when the
        ledger holds no such device; InvalidWebhookUrl for a URL `targets` refuses (e.g. one
        that resolves to an internal address)."""
        endpoint = WebhookEndpoint(
            device_id=device_id,
            url=self._targets.check(url),
            secret=new_secret(),
            created_at=self._clock(),
        )
        logs.register_secret(endpoint.secret)
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    """
                    INSERT INTO device_webhooks (device_id, url, secret, created_at)
                    VALUES (%s, %s, %s, %s)
                    ON CONFLICT (device_id) DO UPDATE
                      SET url = EXCLUDED.url, secret = EXCLUDED.secret,
                          created_at = EXCLUDED.created_at
                    """,
                    (device_id, endpoint.url, endpoint.secret, endpoint.created_at),
                )
        except errors.ForeignKeyViolation:
            raise UnknownDevice(device_id) from None
        return endpoint

    def clear(self, device_id: str) -> bool:
        """Stop the device's webhooks; True if it had one."""
        with self._db.transaction() as conn:
            cur = conn.execute("DELETE FROM device_webhooks WHERE device_id = %s", (device_id,))
            return cur.rowcount > 0

    def has(self, device_id: str) -> bool:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT 1 FROM device_webhooks WHERE device_id = %s", (device_id,)
            ).fetchone()
        return row is not None

    def get(self, device_id: str) -> WebhookEndpoint | None:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT url, secret, created_at FROM device_webhooks WHERE device_id = %s",
                (device_id,),
            ).fetchone()
        if row is None:
            return None
        url, secret, created_at = row
        logs.register_secret(secret)  # loaded: never let it reach a log line
        return WebhookEndpoint(device_id=device_id, url=url, secret=secret, created_at=created_at)

    # --- the delivery log ---

    def record(self, payment_id: str, entry: DeliveryRecord) -> None:
        """Append one attempt to the payment's delivery log."""
        with self._db.transaction() as conn:
            conn.execute(
                """
                INSERT INTO webhook_deliveries
                  (payment_id, delivery_id, event, attempt, at, outcome, status_code, error)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                """,
                (
                    payment_id,
                    entry.delivery_id,
                    entry.event,
                    entry.attempt,
                    entry.at,
                    entry.outcome,
                    entry.status_code,
                    entry.error,
                ),
            )

    def deliveries(self, payment_id: str) -> list[DeliveryRecord]:
        """The payment's newest `DELIVERY_LOG_LENGTH` delivery attempts, newest first."""
        with self._db.transaction() as conn:
            rows = (
                conn.cursor(row_factory=dict_row)
                .execute(
                    "SELECT delivery_id, event, attempt, at, outcome, status_code, error"
                    " FROM webhook_deliveries WHERE payment_id = %s ORDER BY seq DESC LIMIT %s",
                    (payment_id, DELIVERY_LOG_LENGTH),
                )
                .fetchall()
            )
        return [_record(r) for r in rows]

    def owed(
        self, *, moved_since: datetime, moved_before: datetime, limit: int
    ) -> list[OwedDelivery]:
        """At most `limit` deliveries owed and never attempted, oldest move first: a payment
        whose current status reports an event (`EVENT_OF_STATUS`) and whose move to it (its
        newest history transition) happened in [moved_since, moved_before), of a device whose
        webhook was set at or before the move (a webhook set later is not sent older moves, as
        the normal path would not have), with no attempt of that event recorded at or after the
        move (any attempt, even one that ended failed, means the delivery ran; one before the
        move was an earlier move's, e.g. a first NEEDS_ATTENTION)."""
        events = list(EVENT_OF_STATUS.items())
        values = ", ".join(["(%s, %s)"] * len(events))
        with self._db.transaction() as conn:
            rows = conn.execute(
                f"""
                WITH events (status, event) AS (VALUES {values})
                SELECT h.payment_id, e.event, h.at
                FROM payment_history h
                JOIN events e ON e.status = h.to_status
                JOIN payments p ON p.id = h.payment_id AND p.status = h.to_status
                JOIN device_webhooks w ON w.device_id = p.device_id AND w.created_at <= h.at
                WHERE h.to_status IS NOT NULL AND h.at >= %s AND h.at < %s
                  AND NOT EXISTS (SELECT 1 FROM payment_history later
                                  WHERE later.payment_id = h.payment_id AND later.seq > h.seq
                                    AND later.to_status IS NOT NULL)
                  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                  WHERE d.payment_id = h.payment_id AND d.event = e.event
                                    AND d.at >= h.at)
                ORDER BY h.at, h.payment_id
                LIMIT %s
                """,  # noqa: S608 (placeholders only)
                (
                    *(v for status, event in events for v in (status.value, event.value)),
                    moved_since,
                    moved_before,
                    limit,
                ),
            ).fetchall()
        return [
            OwedDelivery(payment_id=pid, event=WebhookEvent(event), moved_at=at)
            for pid, event, at in rows
        ]


def _record(row: dict[str, Any]) -> DeliveryRecord:
    return DeliveryRecord(
        delivery_id=row["delivery_id"],
        event=row["event"],
        attempt=row["attempt"],
        at=row["at"],
        outcome=row["outcome"],
        status_code=row["status_code"],
        error=row["error"],
    )
