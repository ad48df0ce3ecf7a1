"""Inbound auth for the PoS API: a device's bearer key, its tenant scope and its rate limit.

    pos_bp.before_request(require_device)      attached in `integrator.api.init_api`

The key itself is never logged or echoed: only the device id is kept (on `flask.g`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request
from werkzeug.datastructures import MultiDict

from integrator.api.context import api_dependencies
from integrator.api.errors import RateLimited, TenantForbidden, Unauthorized
from integrator.payments.devices import Device
from integrator.payments.models import ConsumerKey

log = logging.getLogger(__name__)

_BEARER = re.compile(r"Bearer[ ]+([!-~]{1,512})", re.IGNORECASE)


def bearer_key(header: str | None) -> str | None:
    """The credential of an `Authorization: Bearer <key>` header, or None."""
    if not header:
        return None
    match = _BEARER.fullmatch(header.strip())
    return match.group(1) if match else None


ConsumerOfQuery = Callable[[MultiDict[str, str]], ConsumerKey | None]
View = TypeVar("View", bound=Callable[..., Any])


def reads_open_marks(consumer_of: ConsumerOfQuery) -> Callable[[View], View]:
    """Declares that a view's admission also reads the open-payment marks of the consumer its
    query string names (`consumer_of`; None: no single consumer), in the same Redis round
    trip; the view finds them in `g.open_marks`."""

    def declare(view: View) -> View:
        view.open_marks_of = consumer_of  # type: ignore[attr-defined]
        return view

    return declare


def require_device() -> None:
    """before_request: authenticate the device, then count the request against its limit."""
    dependencies = api_dependencies()
    key = bearer_key(request.headers.get("Authorization"))
    if key is None:
        raise Unauthorized("An Authorization: Bearer <device key> header is required.")
    g.open_marks = None
    if dependencies.admission is not None:
        consumer_of = getattr(
            current_app.view_functions.get(request.endpoint or ""), "open_marks_of", None
        )
        admitted = dependencies.admission.admit(
            key,
            dependencies.rate_limit_per_minute,
            dependencies.clock(),
            marks_of=consumer_of(request.args) if consumer_of is not None else None,
        )
        device, decision, g.open_marks = (
            admitted.device,
            admitted.decision,
            admitted.open_marks,
        )
    else:
        device = dependencies.devices.authenticate(key)
        decision = None
    if device is None or device.revoked:
        log.info("refused an unknown or revoked device key", extra={"path": request.path})
        raise Unauthorized("The device key is unknown or revoked.")
    if decision is None:
        decision = dependencies.rate_limiter.hit(
            device.id, dependencies.rate_limit_per_minute, dependencies.clock()
        )
    if not decision.allowed:
        log.info("device over its rate limit", extra={"device_id": device.id})
        raise RateLimited(decision.retry_after)
    g.device = device


def current_device(*, for_tenant: str | None = None, field: str = "tenantId") -> Device:
    """The authenticated device; TenantForbidden (403) unless it may act for `for_tenant`."""
    device = g.get("device")
    if not isinstance(device, Device):  # require_device is not attached: a wiring bug
        raise RuntimeError("no authenticated device on this request")
    if for_tenant is not None and not device.may_act_for(for_tenant):
        raise TenantForbidden(field)
    return device
