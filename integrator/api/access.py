"""Inbound auth for the PoS API: a device's bearer key, its tenant scope and its rate limit.

    pos_bp.before_request(require_device)      attached in `integrator.api.init_api`

The key itself is never logged or echoed: only the device id is kept (on `flask.g`).
"""

from __future__ import annotations

import logging
import re

from flask import g, request

from integrator.api.context import api_dependencies
from integrator.api.errors import RateLimited, TenantForbidden, Unauthorized
from integrator.payments.devices import Device

log = logging.getLogger(__name__)

_BEARER = re.compile(r"Bearer[ ]+([!-~]{1,512})", re.IGNORECASE)


def bearer_key(header: str | None) -> str | None:
    """The credential of an `Authorization: Bearer <key>` header, or None."""
    if not header:
        return None
    match = _BEARER.fullmatch(header.strip())
    return match.group(1) if match else None


def require_device() -> None:
    """before_request: authenticate the device, then count the request against its limit."""
    dependencies = api_dependencies()
    key = bearer_key(request.headers.get("Authorization"))
    if key is None:
        raise Unauthorized("An Authorization: Bearer <device key> header is required.")
    if dependencies.admission is not None:
        device, decision = dependencies.admission.admit(
            key, dependencies.rate_limit_per_minute, dependencies.clock()
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
