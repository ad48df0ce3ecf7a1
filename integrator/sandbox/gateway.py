"""What sits in front of every DIGIT endpoint: call counters and the injected faults.

Faults apply to DIGIT's paths only, never to `/_sandbox/`: `down` answers 502
ResourceAccessException, `latency_ms` delays, `error_rate` answers 500 or 502 at random (seeded).
"""

from __future__ import annotations

import time

from flask import Flask, request

from integrator.sandbox.errors import backend_unreachable, internal_server_error
from integrator.sandbox.world import World

# Counter names per DIGIT path, e.g. {"login": 3, "fetchbill": 10}.
COUNTER_NAMES = {
    "/user/oauth/token": "login",
    "/billing-service/bill/v2/_fetchbill": "fetchbill",
    "/billing-service/bill/v2/_search": "bill_search",
    "/collection-services/payments/_create": "payment_create",
    "/egov-mdms-service/v1/_search": "mdms_search",
    "/mdms-v2/v1/_search": "mdms_search",
}


def counter_name(path: str) -> str:
    if path in COUNTER_NAMES:
        return COUNTER_NAMES[path]
    if path.startswith("/collection-services/payments/") and path.endswith("/_search"):
        return "payment_search"
    if path.startswith("/collection-services/payments/") and path.endswith("/_workflow"):
        return "payment_workflow"
    return "other"


def init_gateway(app: Flask, world: World) -> None:
    @app.before_request
    def gateway() -> None:
        if request.path.startswith("/_sandbox/"):
            return
        with world.lock:
            world.counters[counter_name(request.path)] += 1
            faults = world.faults
            down = faults.down
            latency = faults.latency_ms / 1000
            roll = world.rng.random() if faults.error_rate > 0 else 1.0
            error_rate = faults.error_rate
            bad_gateway = world.rng.random() < 0.5 if roll < error_rate else False
        if down:
            raise backend_unreachable()
        if latency > 0:
            time.sleep(latency)
        if roll < error_rate:
            raise backend_unreachable() if bad_gateway else internal_server_error()
