"""HTTP views of collection-services, with the after-commit faults the chaos tests need."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from flask import Blueprint, request

from integrator.sandbox.auth import user_for_body
from integrator.sandbox.collection import create_payment, search_payments
from integrator.sandbox.errors import SandboxError, forbidden
from integrator.sandbox.http import json_body, json_response, ok_response_info, query, query_list
from integrator.sandbox.world import World

# Roles the Punjab reference MDMS grants /collection-services/payments/_create (digest 2.6).
CREATE_ROLES = {"EMPLOYEE", "SUPERUSER", "UC_EMP"}
UNKNOWN_400_EXCEPTION = "org.springframework.dao.DataIntegrityViolationException"


def _may_create(roles: tuple[str, ...]) -> bool:
    return any(role in CREATE_ROLES or role.startswith("TL_") for role in roles)


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


def create_blueprint(world: World) -> Blueprint:
    bp = Blueprint("sandbox_collection", __name__)

    @bp.post("/collection-services/payments/_create")
    def create() -> Any:
        body = json_body()
        user = user_for_body(world, body)
        assert user is not None
        if not _may_create(user.roles):
            raise forbidden()
        payment = create_payment(world, body, user)
        with world.lock:
            hang = world.faults.timeout_after_commit > 0
            if hang:
                world.faults.timeout_after_commit -= 1
            unknown = not hang and world.faults.unknown_400_after_commit > 0
            if unknown:
                world.faults.unknown_400_after_commit -= 1
        if hang:
            _hang_then_drop(world)
            raise SandboxError.unhandled("java.net.SocketTimeoutException", 504)
        if unknown:
            raise SandboxError.unhandled(UNKNOWN_400_EXCEPTION)
        return json_response({"ResponseInfo": ok_response_info(body), "Payments": [payment]})

    def search(module: str | None) -> Any:
        body = json_body()
        user = user_for_body(world, body)
        assert user is not None
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
        }
        payments = search_payments(world, module, criteria)
        return json_response({"ResponseInfo": ok_response_info(body), "Payments": payments})

    @bp.post("/collection-services/payments/_search")
    def search_without_module() -> Any:
        return search(None)

    @bp.post("/collection-services/payments/<module>/_search")
    def search_by_module(module: str) -> Any:
        return search(module)

    return bp
