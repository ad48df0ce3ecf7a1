"""The gateway's role check in the sandbox (digest 2.6, Corrections 3, the Zuul variant)."""

from __future__ import annotations

from typing import Any

import pytest

from integrator.sandbox.rbac import _tenant_values, is_authorized
from integrator.sandbox.seed import NAWANSHAHR_CONSUMER
from integrator.sandbox.world import Role, User
from tests.sandbox.conftest import AMRITSAR, Digit, body_of

NAWANSHAHR = "pb.nawanshahr"
DENIED = {
    "ResponseInfo": None,
    "Errors": [
        {
            "code": "CustomException",
            "message": "Not authorized to access this resource",
            "description": "Not authorized to access this resource",
            "params": None,
        }
    ],
}


def login(sandbox: str, username: str, password: str) -> Digit:
    client = Digit(sandbox)
    assert client.login(username, password).status_code == 200
    return client


def user(*roles: tuple[str, str]) -> User:
    return User(
        id=1,
        uuid="u",
        user_name="u",
        password="p",
        name="U",
        mobile_number="9999999999",
        type="EMPLOYEE",
        tenant_id=AMRITSAR,
        roles=tuple(Role(code, tenant) for code, tenant in roles),
    )


CREATE = "/collection-services/payments/_create"
RULES: list[tuple[str, tuple[tuple[str, str], ...], str, list[str], bool]] = [
    ("role at the tenant", (("EMPLOYEE", AMRITSAR),), CREATE, [AMRITSAR], True),
    ("role at another city", (("EMPLOYEE", "pb.jalandhar"),), CREATE, [AMRITSAR], False),
    ("role at the state", (("EMPLOYEE", "pb"),), CREATE, [NAWANSHAHR], True),
    ("any of the tenants", (("EMPLOYEE", AMRITSAR),), CREATE, [NAWANSHAHR, AMRITSAR], True),
    ("role without the action", (("CITIZEN", AMRITSAR),), CREATE, [AMRITSAR], False),
    (
        "plain employee and WS search",
        (("EMPLOYEE", AMRITSAR),),
        "/collection-services/payments/WS/_search",
        [AMRITSAR],
        False,
    ),
    (
        "WS_CEMP and WS search",
        (("WS_CEMP", AMRITSAR),),
        "/collection-services/payments/WS/_search",
        [AMRITSAR],
        True,
    ),
    (
        "CR_PT cancels PT",
        (("CR_PT", AMRITSAR),),
        "/collection-services/payments/PT/_workflow",
        [AMRITSAR],
        True,
    ),
    (
        "nobody cancels WS",
        (("CR_PT", AMRITSAR), ("SUPERUSER", "pb")),
        "/collection-services/payments/WS/_workflow",
        [AMRITSAR],
        False,
    ),
]


@pytest.mark.parametrize(
    ("case", "roles", "uri", "tenants", "allowed"), RULES, ids=[r[0] for r in RULES]
)
def test_role_rule(
    case: str, roles: tuple[tuple[str, str], ...], uri: str, tenants: list[str], allowed: bool
) -> None:
    assert is_authorized(user(*roles), uri, tenants) is allowed


def test_tenant_ids_are_collected_at_any_depth_strings_or_lists_without_null() -> None:
    body: dict[str, Any] = {
        "Payment": {
            "tenantId": "pb.a",
            "paymentDetails": [{"tenantId": ["pb.b", "null"]}, {"bill": {"tenantId": "pb.c"}}],
            "TenantId": "pb.ignored",  # only the key spelled exactly tenantId counts
        }
    }
    assert list(_tenant_values(body)) == ["pb.a", "pb.b", "pb.c"]


def test_the_system_account_is_refused_in_a_city_where_it_has_no_role(digit: Digit) -> None:
    refused = digit.fetch(NAWANSHAHR_CONSUMER, tenant=NAWANSHAHR)
    assert (refused.status_code, body_of(refused)) == (403, DENIED)
    assert digit.fetch("WS/1013/2019-20/000101", tenant="pb.jalandhar").status_code == 201
    assert digit.get("counters")["rbac_denied"] == 1


def test_a_state_level_role_opens_every_city(sandbox: str) -> None:
    supervisor = login(sandbox, "STATE_SUPERVISOR", "state-password")
    [bill] = body_of(supervisor.fetch(NAWANSHAHR_CONSUMER, tenant=NAWANSHAHR))["Bill"]
    assert bill["totalAmount"] == 221
    paid = supervisor.pay([(bill, bill["totalAmount"])])
    assert paid.status_code == 200, paid.text


def test_create_is_judged_by_the_tenant_ids_in_the_body(sandbox: str, digit: Digit) -> None:
    supervisor = login(sandbox, "STATE_SUPERVISOR", "state-password")
    [bill] = body_of(supervisor.fetch(NAWANSHAHR_CONSUMER, tenant=NAWANSHAHR))["Bill"]
    response = digit.pay([(bill, bill["totalAmount"])])
    assert (response.status_code, body_of(response)) == (403, DENIED)
    # a body naming Amritsar passes the gateway; collection then finds no such bill there
    mixed = digit.pay([(bill, bill["totalAmount"])], tenantId=AMRITSAR)
    assert mixed.status_code == 400


def test_query_tenant_is_comma_split_and_the_users_tenant_is_the_fallback(digit: Digit) -> None:
    search = "/billing-service/bill/v2/_search"
    assert digit.post(search, tenantId=NAWANSHAHR, billId="x").status_code == 403
    assert digit.post(search, tenantId=f"{NAWANSHAHR},{AMRITSAR}", billId="x").status_code == 200
    # no tenantId anywhere: the caller's own tenant (pb.amritsar) is what is checked
    assert digit.post("/collection-services/payments/WS/_search").status_code == 200


def test_module_search_needs_the_module_search_role(sandbox: str, digit: Digit) -> None:
    clerk = login(sandbox, "COUNTER_CLERK", "counter-password")  # EMPLOYEE and UC_EMP only
    for module, clerk_status in (("WS", 403), ("SW", 403), ("PT", 200)):
        path = f"/collection-services/payments/{module}/_search"
        assert clerk.post(path, tenantId=AMRITSAR).status_code == clerk_status
        assert digit.post(path, tenantId=AMRITSAR).status_code == 200


def test_nobody_may_cancel_a_water_payment(digit: Digit) -> None:
    body = {"PaymentWorkflows": [{"paymentId": "x", "action": "CANCEL", "tenantId": AMRITSAR}]}
    response = digit.post("/collection-services/payments/WS/_workflow", body)
    assert (response.status_code, body_of(response)) == (403, DENIED)
