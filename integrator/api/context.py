"""What the HTTP edge needs from the rest of the app, handed to it once by `init_api`.

The edge never builds its collaborators: `create_app` passes the use cases, the device
authenticator, the rate limiter and the time zone of the wire, and views reach them through
`api_dependencies()`, `payments()` and `wire()`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Protocol

from flask import Flask, current_app

from integrator.api.wire import DEFAULT_TIMEZONE, Wire
from integrator.payments.models import ConsumerKey
from integrator.payments.ports import OpenMarks
from integrator.payments.use_cases import PaymentRequest, PaymentUseCases

if TYPE_CHECKING:
    from integrator.payments.cancellation import Cancellations
    from integrator.payments.devices import Device

EXTENSION_KEY = "integrator.api"


class DeviceAuthenticator(Protocol):
    """Finds the device holding an API key (store.devices.DeviceStore)."""

    def authenticate(self, key: str) -> Device | None:
        """The device, or None when the key is unknown or revoked."""
        ...


class RateDecision(Protocol):
    @property
    def allowed(self) -> bool: ...

    @property
    def retry_after(self) -> float: ...


class RateLimiter(Protocol):
    """Counts a device's requests (store.ratelimit)."""

    def hit(self, device_id: str, limit_per_minute: int, now: datetime) -> RateDecision:
        """Count one request at `now` (aware): allowed, or how long to wait."""
        ...


class Admitted(Protocol):
    @property
    def device(self) -> Device | None: ...

    @property
    def decision(self) -> RateDecision: ...

    @property
    def open_marks(self) -> OpenMarks | None: ...


class DeviceAdmission(Protocol):
    """Authenticates a key and counts the request in one step (store.devices.DeviceStore)."""

    def admit(
        self,
        key: str,
        limit_per_minute: int,
        now: datetime,
        *,
        marks_of: ConsumerKey | None = None,
    ) -> Admitted:
        """The live device or None, the rate decision for it, and with `marks_of` that
        consumer's open-payment marks when they could be read in the same step."""
        ...


class CashGuard(Protocol):
    """Refuses a payment that would take a device over its cap on cash in hand
    (payments.cash.CashBook); raises PaymentRejected. No key: a new payment (validate)."""

    def require_room(
        self, device: Device, request: PaymentRequest, idempotency_key: str | None
    ) -> None: ...


class NoCashCap:
    """The guard of an edge built without the collector's cash (unit tests): no cap."""

    def require_room(
        self, device: Device, request: PaymentRequest, idempotency_key: str | None
    ) -> None:
        return None


@dataclass(frozen=True, kw_only=True)
class ApiDependencies:
    """The edge's collaborators. `payments` is a factory so it may be built lazily per app."""

    payments: Callable[[], PaymentUseCases]
    devices: DeviceAuthenticator
    rate_limiter: RateLimiter
    rate_limit_per_minute: int
    max_body_bytes: int
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: When given, authentication and the rate limit take one round trip instead of two.
    admission: DeviceAdmission | None = None
    #: The zone of every timestamp the API writes (DIGIT_TIMEZONE).
    timezone: tzinfo = DEFAULT_TIMEZONE
    #: The reversal use cases (POST /v1/payments/{id}/cancellation); None: not offered.
    cancellations: Callable[[], Cancellations] | None = None
    #: The cap on cash in hand POST /v1/payments and /validate apply.
    cash_guard: CashGuard = field(default_factory=NoCashCap)
    #: Returns once the snapshots of the bills this request served are in Redis: they are
    #: written behind, many answers' in one round trip (integrator.store.snapshot_writer).
    snapshots_written: Callable[[], None] = lambda: None

    @property
    def wire(self) -> Wire:
        return Wire(self.timezone)


def install(app: Flask, dependencies: ApiDependencies) -> None:
    app.extensions[EXTENSION_KEY] = dependencies


def api_dependencies() -> ApiDependencies:
    dependencies = current_app.extensions[EXTENSION_KEY]
    assert isinstance(dependencies, ApiDependencies)
    return dependencies


def payments() -> PaymentUseCases:
    """The payment use cases of the current app."""
    return api_dependencies().payments()


def cancellations() -> Cancellations:
    """The reversal use cases of the current app."""
    factory = api_dependencies().cancellations
    if factory is None:
        raise NotImplementedError("cancellations are not wired in this app")
    return factory()


def wire() -> Wire:
    """How the current app writes times and amounts."""
    return api_dependencies().wire
