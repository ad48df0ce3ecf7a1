"""HTTP views of collection-services, with the faults the chaos tests need.

Every view sits behind the gateway's role check (`rbac.authorized_user`): `_create` needs a role
the reference grants it, `payments/{module}/_search` the module's search roles (WS_CEMP, ...),
`payments/{module}/_workflow` the module's cancel role (only CR_PT for PT).

Faults on `_create`: `timeout_after_commit` (commit, then never answer), `unknown_400_after_commit`
(commit, then a 400 of an unhandled exception), and `hold_creates` (validate, hold, answer the
gateway's timeout after `gateway_timeout_seconds`, commit after `hold_seconds` anyway). On
`_workflow`: `workflow_timeout_after_commit` (applied, then never answered) and `hold_workflows`
(validated, the gateway's timeout answered, applied after `hold_seconds` anyway: the call's
pdf-service request has no timeout, digest 13; not validated again, as DIGIT's transaction
validated before that request, so a call applied meanwhile is applied over).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from flask import Blueprint, request

from integrator.sandbox.collection import create_or_hold, search_payments
from integrator.sandbox.errors import SandboxError
from integrator.sandbox.http import json_body, json_response, ok_response_info, query, query_list
from integrator.sandbox.rbac import authorized_user
from integrator.sandbox.workflow import Validated, apply_workflow, validate_workflow
from integrator.sandbox.world import HeldCreate, User, World

UNKNOWN_400_EXCEPTION = "org.springframework.dao.DataIntegrityViolationException"
GATEWAY_TIMEOUT_EXCEPTION = "java.net.SocketTimeoutException"


def _int_param(name: str, default: int) -> int:
    raw = query(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SandboxError.unhandled(
            "org.springframework.web.method.annotation.MethodArgumentTypeMismatchException"
        ) from None


def _hold_workflow(world: World, validated: Validated, user: User) -> None:
    """Apply a validated `_workflow` call `hold_seconds` from now, unless the world was reset
    (the caller holds `world.lock`)."""
    world.counters["workflow_held"] += 1
    generation = world.generation

    def commit() -> None:
        with world.lock:
            if world.generation == generation:
                apply_workflow(world, validated, user)
                world.counters["late_workflow"] += 1

    timer = threading.Timer(world.faults.hold_seconds, commit)
    timer.daemon = True
    timer.start()


def _hang_then_drop(world: World) -> None:
    """The committed payment's answer never arrives: wait, then close the socket unanswered."""
    with world.lock:
        release = world.hang_release
        seconds = world.faults.hang_seconds
    release.wait(seconds)
    sock = request.environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _await_held(world: World, held: HeldCreate) -> dict[str, Any]:
    """The gateway waits for the held create up to its socket timeout, then gives up."""
    with world.lock:
        timeout = world.faults.gateway_timeout_seconds
    if not held.done.wait(timeout):
        raise SandboxError.unhandled(GATEWAY_TIMEOUT_EXCEPTION, 504)
    if held.error is not None:
        raise held.error
    if held.outcome is None:  # the world was reset under it
        raise SandboxError.unhandled(GATEWAY_TIMEOUT_EXCEPTION, 504)
    return held.outcome


def create_blueprint(world: World) -> Blueprint:
    bp = Blueprint("sandbox_collection", __name__)

    @bp.post("/collection-services/payments/_create")
    def create() -> Any:
        body = json_body()
        user = authorized_user(world, body)
        result = create_or_hold(world, body, user)
        payment = _await_held(world, result) if isinstance(result, HeldCreate) else result
        with world.lock:
            hang = world.faults.timeout_after_commit > 0
            if hang:
                world.faults.timeout_after_commit -= 1
            unknown = not hang and world.faults.unknown_400_after_commit > 0
            if unknown:
                world.faults.unknown_400_after_commit -= 1
        if hang:
            _hang_then_drop(world)
            raise SandboxError.unhandled(GATEWAY_TIMEOUT_EXCEPTION, 504)
        if unknown:
            raise SandboxError.unhandled(UNKNOWN_400_EXCEPTION)
        return json_response({"ResponseInfo": ok_response_info(body), "Payments": [payment]})

    def search(module: str | None) -> Any:
        body = json_body()
        user = authorized_user(world, body)
        if module is None and user.type == "EMPLOYEE":
            raise SandboxError.custom(
                "EGCL_URI_EXCEPTION", "Path variable module name is mandatory for employees"
            )
        criteria: dict[str, Any] = {
            "tenantId": query("tenantId"),
            "ids": query_list("ids"),
            "billIds": query_list("billIds"),
            "receiptNumbers": query_list("receiptNumbers"),
            "consumerCodes": query_list("consumerCodes"),
            "businessServices": query_list("businessServices"),
            "status": [s.upper() for s in query_list("status")],
            "instrumentStatus": [s.upper() for s in query_list("instrumentStatus")],
            "paymentModes": [s.upper() for s in query_list("paymentModes")],
            "transactionNumber": query("transactionNumber"),
            "mobileNumber": query("mobileNumber"),
            "offset": _int_param("offset", 0),
            "limit": _int_param("limit", 30),
            "fromDate": _int_param("fromDate", -1),
            "toDate": _int_param("toDate", -1),
        }
        payments = search_payments(world, module, criteria)
        return json_response({"ResponseInfo": ok_response_info(body), "Payments": payments})

    @bp.post("/collection-services/payments/_search")
    def search_without_module() -> Any:
        return search(None)

    @bp.post("/collection-services/payments/<module>/_search")
    def search_by_module(module: str) -> Any:
        return search(module)

    @bp.post("/collection-services/payments/<module>/_workflow")
    def workflow(module: str) -> Any:
        body = json_body()
        user = authorized_user(world, body)
        with world.lock:
            validated = validate_workflow(world, body)
            hold = world.faults.hold_workflows > 0
            if hold:
                world.faults.hold_workflows -= 1
                _hold_workflow(world, validated, user)
                timeout = world.faults.gateway_timeout_seconds
            else:
                payments = apply_workflow(world, validated, user)
        if hold:
            time.sleep(timeout)
            raise SandboxError.unhandled(GATEWAY_TIMEOUT_EXCEPTION, 504)
        with world.lock:
            hang = world.faults.workflow_timeout_after_commit > 0
            if hang:
                world.faults.workflow_timeout_after_commit -= 1
        if hang:
            _hang_then_drop(world)
            raise SandboxError.unhandled(GATEWAY_TIMEOUT_EXCEPTION, 504)
        return json_response({"ResponseInfo": ok_response_info(body), "Payments": payments})

    return bp
