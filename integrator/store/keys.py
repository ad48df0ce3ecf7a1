"""Every Redis key the integrator uses is built here, so the layout can be read in one place.

Redis holds no money: the queue, the shared DIGIT token, caches, rate limits and counters.

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


# Parts that come from outside (device ids, bill ids) are escaped with `_part`, so a `:` inside
# one cannot make two different keys collide. Payments, idempotency records and leases are not
# here: they live in the ledger (PostgreSQL, integrator.store.payments).


def _part(value: str) -> str:
    return value.replace("%", "%25").replace(":", "%3A")


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
