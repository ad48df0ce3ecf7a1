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


def digit_login_backoff() -> str:
    """JSON `{until, reason}`: DIGIT refused our last login for a reason it does not count (a
    bad client, an inactive account); no login is tried before `until`."""
    return _key("digit", "auth", "login-backoff")


def digit_mdms(master: str, tenant_id: str) -> str:
    """Cached MDMS master (e.g. `BillingService.BusinessService`) for a state tenant."""
    return _key("digit", "mdms", master, tenant_id)


# Parts that come from outside (device ids, bill ids) are escaped with `_part`, so a `:` inside
# one cannot make two different keys collide. Payments, idempotency records and leases are not
# here: they live in the ledger (PostgreSQL, integrator.store.payments), and so do devices, webhooks
# and reconciliation flags (integrator.store.devices, .webhooks, .reconciliation).


def _part(value: str) -> str:
    return value.replace("%", "%25").replace(":", "%3A")


# --- devices (integrator.store.devices) ---
# The devices themselves live in the ledger (PostgreSQL); Redis holds only a cache of live
# devices by key hash, so authenticating a request stays one round trip.


def device_cache(key_hash: str) -> str:
    """JSON of the live device holding the key with this sha256 hex (codec); PX = cache TTL."""
    return _key("device-cache", "by-key-hash", _part(key_hash))


def device_cache_generation() -> str:
    """Counter every device change increments after its commit; a cache fill that read the
    ledger under an older generation does not write (it may have read what was just changed)."""
    return _key("device-cache", "generation")


def idempotency_claim(device_id: str, key: str) -> str:
    """In-flight marker of a device's Idempotency-Key: "a request with this key is being processed
    right now" (token, claimed-at, fingerprint); expires after the in-flight bound. Not the
    idempotency record: that is the payment's row in the ledger (integrator.store.idempotency)."""
    return _key("idempotency", "in-flight", _part(device_id), _part(key))


def device_rate(device_id: str) -> str:
    """ZSET sliding-window log of one device's requests (score = epoch ms); PX = window."""
    return _key("rate", "device", _part(device_id))


# --- bill snapshots (integrator.store.snapshots) ---


def bill_snapshot(bill_id: str) -> str:
    """JSON of a bill as served to a device, with served_at; expires after the snapshot max age."""
    return _key("snapshot", "bill", _part(bill_id))


def consumer_served_bill(tenant_id: str, business_service: str, consumer_code: str) -> str:
    """The id of the consumer's bill served last (a newer one supersedes what was served
    before); expires with the snapshots."""
    return _key(
        "snapshot", "consumer", _part(tenant_id), _part(business_service), _part(consumer_code)
    )


# --- open payment marks (integrator.store.open_claims) ---
# The ledger's `payment_consumers.open` stays the truth; these marks only let GET /v1/bills skip
# the ledger for a consumer that certainly has no open payment.


def open_claim_marks(tenant_id: str, business_service: str, consumer_code: str) -> str:
    """SET of the ids of payments that may hold this consumer open: added before the payment's
    insert commits, removed after its claim is released; no TTL (a leftover only costs a read)."""
    return _key("open-claims", _part(tenant_id), _part(business_service), _part(consumer_code))


def open_claim_marks_complete() -> str:
    """Present once the marks were rebuilt from the ledger: only then does a missing mark mean
    that the consumer has no open payment. Gone with the marks if Redis loses its data. v2:
    the marks also hold reversals whose dues are re-opening, so marks completed before that
    are rebuilt once."""
    return _key("open-claims", "complete", "v2")


def open_claim_marks_rebuild_lock() -> str:
    """Single-flight lock for rebuilding the marks from the ledger; PX = a few seconds."""
    return _key("open-claims", "rebuild-lock")


# --- metrics (integrator.observability) ---


def metric_counter(name: str) -> str:
    """Hash of one Redis-backed counter family: JSON of the label values -> count."""
    return _key("metrics", "counter", name)


def metric_histogram(name: str) -> str:
    """Hash of one Redis-backed histogram family: JSON [labels, bucket|"sum"] -> value."""
    return _key("metrics", "histogram", name)


# --- the registration worker (integrator.jobs), beside RQ's own `rq:` keys ---


def schedule_lock(payment_id: str) -> str:
    """Short lock serialising `RqRegistrationScheduler.schedule` for one payment (PX)."""
    return _key("jobs", "schedule-lock", _part(payment_id))


def digit_down_since() -> str:
    """ISO time of the first attempt that found DIGIT unavailable; deleted when it answers."""
    return _key("digit", "down-since")


def waiting_for_digit() -> str:
    """Set of PENDING payment ids whose last attempt found DIGIT unavailable."""
    return _key("registration", "waiting-for-digit")


def sweep_lock() -> str:
    """Single-flight lock: one worker sweeps / probes per period (PX = period)."""
    return _key("jobs", "maintenance-lock")


def webhook_sweep_full_done() -> str:
    """Set (EX = the full sweep's period) when the webhook sweep read its whole look-back: gone
    after that period, or when Redis lost its data, and the next sweep reads it all again."""
    return _key("jobs", "webhook-sweep-full")


# --- the ops console (integrator.ops) ---


def sandbox_secret_key() -> str:
    """The random session key shared by a sandbox run's web workers (never used with a real
    DIGIT, where SECRET_KEY is required)."""
    return _key("ops", "sandbox-secret-key")


def ops_session(session_hash: str) -> str:
    """JSON `{user, credential}` of one signed-in ops console session, by the sha256 hex of its
    id (the id itself is only in the browser's signed cookie); EX = the session's lifetime."""
    return _key("ops", "session", _part(session_hash))


# --- receipts (integrator.store.receipts) ---


def receipt_facts(tenant_id: str, module: str, receipt_number: str) -> str:
    """JSON of what DIGIT holds about one receipt of a city and module (its bill's tax heads,
    its status); PX = the receipt cache time."""
    return _key("receipt", "facts", _part(tenant_id), _part(module), _part(receipt_number))


def receipt_lookup_rate(device_id: str) -> str:
    """ZSET sliding-window log of one device's lookups of receipts it did not collect (score =
    epoch ms); PX = window. Kept apart from `device_rate` so the tight limit on lookups does not
    eat into the device's general allowance."""
    return _key("rate", "receipt-lookup", _part(device_id))
