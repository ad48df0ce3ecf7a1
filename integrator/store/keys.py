"""Every Redis key the integrator uses is built here, so the layout can be read in one place.

All keys share the `integrator:` prefix so the database can be shared with RQ (`rq:` keys).
"""

from __future__ import annotations

PREFIX = "integrator"


def _key(*parts: str) -> str:
    return ":".join((PREFIX, *parts))


# --- DIGIT token (integrator.store.tokens) ---


def digit_token() -> str:
    """Hash of the one shared DIGIT token (access/refresh token, expiry, renew-at); TTL = expiry."""
    return _key("digit", "token")


def digit_token_renewal_lock() -> str:
    """Single-flight lock: whoever holds it is the one process logging in or refreshing."""
    return _key("digit", "token", "renewal-lock")


def digit_bad_logins() -> str:
    """Counter of logins DIGIT refused for bad credentials in the current 30-minute window."""
    return _key("digit", "auth", "bad-logins")


def digit_auth_lock() -> str:
    """Hash set when logins are suspended: fingerprint of the credentials, reason, since."""
    return _key("digit", "auth", "lock")


def digit_mdms(master: str, tenant_id: str) -> str:
    """Cached MDMS master (e.g. `BillingService.BusinessService`) for a state tenant."""
    return _key("digit", "mdms", master, tenant_id)


# --- payments (integrator.store.payments, leases, idempotency) ---
# Parts that come from outside (idempotency keys, consumer codes, receipt numbers) are escaped with
# `_part`, so a `:` inside one cannot make two different keys collide.


def _part(value: str) -> str:
    return value.replace("%", "%25").replace(":", "%3A")


def payment(payment_id: str) -> str:
    """Hash of one payment: `doc` (codec JSON), `status`, `version`, `create_sent`."""
    return _key("payment", _part(payment_id))


def payment_targeted_bills(payment_id: str) -> str:
    """Set of every billId a payment ever sent to payments/_create (only grows)."""
    return _key("payment", _part(payment_id), "targeted-bills")


def payments_by_created() -> str:
    """ZSET of every payment id, score = created_at epoch ms (newest-first listing)."""
    return _key("payments", "by-created")


def payments_by_status(status: str) -> str:
    """ZSET of the payment ids now in `status`, score = created_at epoch ms."""
    return _key("payments", "by-status", status)


def payments_by_bill(bill_id: str) -> str:
    """Set of payment ids that paid (or were re-targeted to) a billId."""
    return _key("payments", "by-bill", _part(bill_id))


def payments_by_consumer(consumer_code: str) -> str:
    """Set of payment ids that paid a consumer code (any tenant or service)."""
    return _key("payments", "by-consumer", _part(consumer_code))


def payments_by_receipt(receipt_number: str) -> str:
    """Set of payment ids holding a receipt number."""
    return _key("payments", "by-receipt", _part(receipt_number))


def payments_by_mobile_last4(last4: str) -> str:
    """Set of payment ids whose payer mobile ends in these four digits."""
    return _key("payments", "by-mobile4", _part(last4))


def payments_by_idempotency_key(key: str) -> str:
    """Set of payment ids created under an Idempotency-Key value (any device)."""
    return _key("payments", "by-idempotency-key", _part(key))


def consumer_lock(tenant_id: str, business_service: str, consumer_code: str) -> str:
    """The id of the one unfinished payment of a consumer; deleted when it reaches a final state."""
    return _key("consumer-lock", _part(tenant_id), _part(business_service), _part(consumer_code))


def idempotency(device_id: str, key: str) -> str:
    """Hash of one device's Idempotency-Key: fingerprint, claim token, claimed_at, payment id."""
    return _key("idempotency", _part(device_id), _part(key))


def lease(payment_id: str) -> str:
    """The registration lease of a payment: its fencing token; PX = lease TTL."""
    return _key("lease", _part(payment_id))


def lease_fence(payment_id: str) -> str:
    """Counter (INCR) issuing a payment's fencing tokens; never expires."""
    return _key("lease", _part(payment_id), "fence")


# --- devices (integrator.store.devices) ---


def device(device_id: str) -> str:
    """JSON of one device (codec), including its key hash (never the key)."""
    return _key("device", _part(device_id))


def devices_by_name() -> str:
    """Hash: device name -> device id (names are unique)."""
    return _key("devices", "by-name")


def devices_by_key_hash() -> str:
    """Hash: sha256 hex of a live device key -> device id."""
    return _key("devices", "by-key-hash")


def device_rate(device_id: str) -> str:
    """ZSET sliding-window log of one device's requests (score = epoch ms); PX = window."""
    return _key("rate", "device", _part(device_id))


# --- bill snapshots (integrator.store.snapshots) ---


def bill_snapshot(bill_id: str) -> str:
    """JSON of a bill as served to a device, with served_at; expires after the snapshot max age."""
    return _key("snapshot", "bill", _part(bill_id))


# --- reconciliation and metrics (integrator.store.reconciliation, integrator.observability) ---


def payments_flagged() -> str:
    """ZSET of the payment ids reconciliation flagged for ops, score = flagged_at epoch ms."""
    return _key("payments", "flagged")


def reconciliation_flag(payment_id: str) -> str:
    """Hash: why reconciliation flagged a payment (reason, DIGIT payment id and status, when)."""
    return _key("reconciliation", "flag", _part(payment_id))


def reconciliation_last_run() -> str:
    """Hash: summary of the last finished reconciliation run (finished_at, checked, flagged...)."""
    return _key("reconciliation", "last-run")


def metric_counter(name: str) -> str:
    """Hash of one Redis-backed counter family: JSON of the label values -> count."""
    return _key("metrics", "counter", name)


def metric_histogram(name: str) -> str:
    """Hash of one Redis-backed histogram family: JSON [labels, bucket|"sum"] -> value."""
    return _key("metrics", "histogram", name)


# --- webhooks (integrator.store.webhooks) ---


def webhook(device_id: str) -> str:
    """Hash of one device's webhook: url, secret (kept as-is: we sign with it), created_at."""
    return _key("webhook", _part(device_id))


def webhook_deliveries(payment_id: str) -> str:
    """List of a payment's webhook delivery attempts (JSON, newest first, bounded)."""
    return _key("webhook", "deliveries", _part(payment_id))
