"""The gateway's role check (docs/digit.md#roles, Zuul variant) and the role-action map.

Which tenants (Zuul `RbacFilter`): every value of a body key named exactly `tenantId`, at any
depth, once `RequestInfo`/`requestInfo` is dropped (a string or a list of strings; "null" is
dropped); if there is none, the `tenantId` query param, comma-split; if that is missing too, the
caller's own tenant.

Whether (access control `ActionService.isAuthorized`): keep each caller role whose tenant is in that
set or equals the state of one element of it; allowed if a kept role code maps to the URI in the
state's role-actions. A denial is 403 "Not authorized to access this resource".

The SCG gateway (`--gateway scg`) collects tenants the same way but has no fallback to the
caller's tenant, and answers both a request naming no tenant and a denial with 401 "You are not
authorized to access this resource", the answer to a missing token.

`ROLE_ACTIONS` is the Punjab reference (MDMS `ACCESSCONTROL-ROLEACTIONS/roleactions.json`) for the
URIs the sandbox serves. Where that reference is silent (the TL payment search) the sandbox grants
what the neighbouring actions grant, and says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import request

from integrator.sandbox.auth import user_for_body
from integrator.sandbox.errors import forbidden, missing_token
from integrator.sandbox.http import query_list
from integrator.sandbox.world import User, World

ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "/billing-service/bill/v2/_fetchbill": frozenset({"CITIZEN", "EMPLOYEE"}),
    "/billing-service/bill/v2/_search": frozenset({"CITIZEN", "EMPLOYEE"}),
    "/collection-services/payments/_create": frozenset(
        {"EMPLOYEE", "SUPERUSER", "UC_EMP", "TL_CEMP", "TL_APPROVER"}
    ),
    "/collection-services/payments/_search": frozenset({"CITIZEN", "EMPLOYEE"}),
    "/collection-services/payments/WS/_search": frozenset({"CITIZEN", "WS_CEMP"}),  # id 2034
    "/collection-services/payments/SW/_search": frozenset({"CITIZEN", "SW_CEMP"}),  # id 2035
    "/collection-services/payments/PT/_search": frozenset({"CITIZEN", "CR_PT", "EMPLOYEE"}),
    # Not in the reference role-actions: granted like the generic search plus the TL counter
    # role (assumption).
    "/collection-services/payments/TL/_search": frozenset({"CITIZEN", "EMPLOYEE", "TL_CEMP"}),
    # The only _workflow action of the reference (id 2164); nobody may cancel WS/SW/TL payments.
    "/collection-services/payments/PT/_workflow": frozenset({"CR_PT"}),
}


def _tenant_values(value: Any) -> Iterator[str]:
    """Every `tenantId` value at any depth of a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "tenantId":
                candidates = item if isinstance(item, list) else [item]
                for candidate in candidates:
                    if isinstance(candidate, str) and candidate and candidate != "null":
                        yield candidate
            else:
                yield from _tenant_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from _tenant_values(item)


def request_tenants(body: dict[str, Any], user: User, *, fallback: bool = True) -> list[str]:
    """The tenants a request acts on, as Zuul collects them (body, else query, else the user's
    unless not `fallback`, as on SCG)."""
    without_info = {k: v for k, v in body.items() if k not in {"RequestInfo", "requestInfo"}}
    tenants = list(dict.fromkeys(_tenant_values(without_info)))
    if tenants:
        return tenants
    from_query = query_list("tenantId")
    return from_query or ([user.tenant_id] if fallback else [])


def is_authorized(user: User, uri: str, tenants: list[str]) -> bool:
    allowed = ROLE_ACTIONS.get(uri, frozenset())
    state = tenants[0].split(".")[0] if tenants else None
    return any(
        role.code in allowed and (role.tenant_id in tenants or role.tenant_id == state)
        for role in user.roles
    )


def authorized_user(world: World, body: dict[str, Any]) -> User:
    """The gateway in front of a protected DIGIT path: the token's user, then the role check."""
    user = user_for_body(world, body)
    assert user is not None
    scg = world.config.gateway == "scg"
    tenants = request_tenants(body, user, fallback=not scg)
    if not tenants or not is_authorized(user, request.path, tenants):
        with world.lock:
            world.counters["rbac_denied"] += 1
        raise missing_token() if scg else forbidden()
    return user
