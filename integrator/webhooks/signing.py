"""`X-Integrator-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.

The timestamp is signed with the body, so a receiver can refuse an old delivery replayed later
(`verify`'s `tolerance_seconds`). The delivery id is signed too, as the body's `deliveryId`
(X-Integrator-Delivery repeats it, unsigned): `verified_delivery_id` is the id a receiver may
deduplicate by. docs/webhooks.md shows receivers the same checks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Final

SIGNATURE_HEADER: Final = "X-Integrator-Signature"
SCHEME: Final = "v1"
DEFAULT_TOLERANCE_SECONDS: Final = 300


def digest(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `"<timestamp>.<body>"` keyed with `secret`."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The value of X-Integrator-Signature for `body` sent at `timestamp`."""
    return f"t={timestamp},{SCHEME}={digest(secret, timestamp, body)}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: float,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when `header` signs `body` with `secret` and its timestamp is within tolerance."""
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = digest(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in fields.get(SCHEME, []))


def verified_delivery_id(
    secret: str,
    header: str,
    delivery_header: str,
    body: bytes,
    *,
    now: float,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> str | None:
    """The signed `deliveryId` of a delivery that verifies and whose X-Integrator-Delivery
    (`delivery_header`) says the same; None otherwise (e.g. a captured delivery replayed within
    the tolerance under a new header id, to slip past deduplication)."""
    if not verify(secret, header, body, now=now, tolerance_seconds=tolerance_seconds):
        return None
    try:
        signed = json.loads(body).get("deliveryId")
    except (ValueError, AttributeError):
        return None
    if not isinstance(signed, str) or not hmac.compare_digest(signed, delivery_header):
        return None
    return signed
