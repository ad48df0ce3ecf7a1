"""billing-service v2 and MDMS as the sandbox serves them (digest 4, 12, Corrections 1-2)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from integrator.sandbox.seed import BILLED_SIBLING, UNBILLED_CONSUMER, UNBILLED_PAYER
from tests.sandbox.conftest import AMRITSAR, WS_RAMESH, Digit, body_of, codes

POOJA = UNBILLED_PAYER[1]
SEARCH = "/billing-service/bill/v2/_search"
FETCH = "/billing-service/bill/v2/_fetchbill"


@pytest.fixture
def citizen(sandbox: str) -> Digit:
    client = Digit(sandbox)
    assert client.login("9876500000", "citizen-password", "pb", "CITIZEN").status_code == 200
    return client


def test_seeded_consumer_has_an_active_bill_that_fetch_returns_unchanged(digit: Digit) -> None:
    first = digit.fetch()
    assert first.status_code == 201
    assert body_of(first)["ResposneInfo"]["status"]  # an existing bill: ResposneInfo filled
    bill = body_of(first)["Bill"][0]
    again = digit.bill()
    assert (again["id"], again["billNumber"]) == (bill["id"], bill["billNumber"])
    assert re.fullmatch(r"BILLNO-WS-\d{6}", bill["billNumber"])
    assert bill["totalAmount"] == Decimal(815)
    assert len(bill["billDetails"]) == 3  # three monthly demands
    for detail in bill["billDetails"]:
        heads = [a["taxHeadCode"] for a in detail["billAccountDetails"]]
        assert len(heads) == len(set(heads))
        assert detail["amount"] == sum(a["amount"] for a in detail["billAccountDetails"])
        assert detail["amount"] % 1 == 0  # WS_Round_Off makes each demand whole
    assert "WS_Round_Off" in {
        a["taxHeadCode"] for d in bill["billDetails"] for a in d["billAccountDetails"]
    }
    assert "partPaymentAllowed" not in bill


def test_nothing_due_and_unknown_consumer_give_an_empty_bill_list(digit: Digit) -> None:
    for code in ("WS/107/2019-20/000024", "WS/107/2019-20/999999"):
        response = digit.fetch(code)
        assert response.status_code == 201
        assert body_of(response)["Bill"] == []


def test_fetch_validations(digit: Digit) -> None:
    missing = digit.post(
        "/billing-service/bill/v2/_fetchbill", tenantId=AMRITSAR, businessService="WS"
    )
    assert codes(missing) == ["BILL_GEN_MANDATORY_FIELDS_MISSING"]
    state = digit.fetch(tenant="pb")  # no role at the state: the gateway refuses first
    assert state.status_code == 403


def test_expired_bill_is_regenerated_with_a_new_number(digit: Digit) -> None:
    bill = digit.bill()
    digit.admin("clock", {"advance_seconds": 16 * 86400})
    digit.login()
    fresh = digit.fetch()
    assert body_of(fresh)["ResposneInfo"] is None  # generated in this call
    new = body_of(fresh)["Bill"][0]
    assert new["id"] != bill["id"] and new["billNumber"] != bill["billNumber"]
    old = body_of(
        digit.post("/billing-service/bill/v2/_search", tenantId=AMRITSAR, billId=bill["id"])
    )["Bill"][0]
    assert old["status"] == "EXPIRED"


def test_new_demand_expires_active_bills_and_adds_a_period(digit: Digit) -> None:
    bill = digit.bill()
    digit.admin("new-demand", {"tenantId": AMRITSAR, "consumerCode": WS_RAMESH})
    new = digit.bill()
    assert new["id"] != bill["id"]
    assert len(new["billDetails"]) == 4
    assert new["totalAmount"] > bill["totalAmount"]


@pytest.mark.parametrize("path", [SEARCH, FETCH])
def test_an_employee_with_a_state_level_tenant_is_refused(sandbox: str, path: str) -> None:
    """Even one holding roles at the state (so the gateway lets it through): the master rule."""
    supervisor = Digit(sandbox)
    assert supervisor.login("STATE_SUPERVISOR", "state-password").status_code == 200
    response = supervisor.post(path, tenantId="pb", businessService="WS", mobileNumber="9876543210")
    assert response.status_code == 400
    assert body_of(response)["Errors"] == [
        {
            "code": "EG_BS_INVALID_TENANTID",
            "message": "Employees cannot search based on state level tenantid",
            "description": None,
            "params": None,
        }
    ]


def test_search_by_mobile_with_state_tenant_spans_cities_latest_bill_each(citizen: Digit) -> None:
    digit = citizen
    response = digit.post(
        "/billing-service/bill/v2/_search", tenantId="pb", mobileNumber="9876543210"
    )
    assert response.status_code == 200
    body = body_of(response)
    assert body["ResposneInfo"]["status"] == "200 OK"
    found = {(b["tenantId"], b["businessService"]) for b in body["Bill"]}
    assert found == {
        (AMRITSAR, "WS"),
        (AMRITSAR, "SW"),
        (AMRITSAR, "PT"),
        ("pb.jalandhar", "WS"),
        ("pb.jalandhar", "PT"),
    }
    ws_only = body_of(
        digit.post(
            "/billing-service/bill/v2/_search",
            tenantId="pb",
            mobileNumber="9876543210",
            service="WS",
        )
    )["Bill"]
    assert {b["tenantId"] for b in ws_only} == {AMRITSAR, "pb.jalandhar"}


def test_search_validations_and_multi_values(digit: Digit) -> None:
    none = digit.post("/billing-service/bill/v2/_search", tenantId=AMRITSAR)
    assert codes(none) == ["EGBS_MANDATORY_FIELDS_ERROR"]
    no_service = digit.post(
        "/billing-service/bill/v2/_search", tenantId=AMRITSAR, consumerCode=WS_RAMESH
    )
    assert codes(no_service) == ["BILL_SEARCH_CONSUMERCODE_BUSINESSSERVICE"]
    two = digit.post(
        "/billing-service/bill/v2/_search",
        tenantId=AMRITSAR,
        service="WS",
        consumerCode=f"{WS_RAMESH},WS/107/2019-20/000023",
    )
    assert len(body_of(two)["Bill"]) == 2


def test_mdms_serves_business_service_flags_and_tenants(digit: Digit) -> None:
    response = digit.post(
        "/egov-mdms-service/v1/_search",
        {
            "MdmsCriteria": {
                "tenantId": "pb",
                "moduleDetails": [
                    {
                        "moduleName": "BillingService",
                        "masterDetails": [
                            {"name": "BusinessService", "filter": "[?(@.code=='WS')]"}
                        ],
                    },
                    {"moduleName": "tenant", "masterDetails": [{"name": "tenants"}]},
                ],
            }
        },
    )
    assert response.status_code == 200
    res = body_of(response)["MdmsRes"]
    [ws] = res["BillingService"]["BusinessService"]
    assert ws["partPaymentAllowed"] is True and ws["minAmountPayable"] == 100
    assert ws["collectionModesNotAllowed"] == ["DD"]
    codes_ = {t["code"] for t in res["tenant"]["tenants"]}
    assert {"pb", "pb.amritsar", "pb.jalandhar", "pb.nawanshahr"} == codes_


def test_search_by_mobile_only_matches_existing_bills_and_never_generates(digit: Digit) -> None:
    found = body_of(digit.post(SEARCH, tenantId=AMRITSAR, mobileNumber=POOJA))["Bill"]
    assert [b["consumerCode"] for b in found] == [BILLED_SIBLING]
    assert body_of(digit.post(SEARCH, tenantId=AMRITSAR, mobileNumber=POOJA))["Bill"] == found


def test_search_by_mobile_returns_the_latest_bill_per_consumer_in_any_status(
    digit: Digit,
) -> None:
    old = digit.bill(BILLED_SIBLING)
    digit.admin("new-demand", {"tenantId": AMRITSAR, "consumerCode": BILLED_SIBLING})
    new = digit.bill(BILLED_SIBLING)
    [latest] = body_of(digit.post(SEARCH, tenantId=AMRITSAR, mobileNumber=POOJA))["Bill"]
    assert latest["id"] == new["id"] != old["id"]
    [expired] = body_of(
        digit.post(SEARCH, tenantId=AMRITSAR, mobileNumber=POOJA, status="EXPIRED")
    )["Bill"]
    assert expired["id"] == old["id"]


def test_fetch_by_mobile_needs_the_business_service(digit: Digit) -> None:
    response = digit.post(FETCH, tenantId=AMRITSAR, mobileNumber=POOJA)
    assert codes(response) == ["NotNull.generateBillCriteria.businessService"]
    bad = digit.post(FETCH, tenantId=AMRITSAR, businessService="WS", mobileNumber="12345")
    assert codes(bad) == ["Pattern.generateBillCriteria.mobileNumber"]


def test_fetch_by_mobile_with_an_active_bill_returns_only_the_billed_consumers(
    digit: Digit,
) -> None:
    """Step (c): the unbilled sibling is not added, whatever the payer owes on it."""
    sibling = digit.bill(BILLED_SIBLING)
    response = digit.post(FETCH, tenantId=AMRITSAR, businessService="WS", mobileNumber=POOJA)
    assert response.status_code == 201
    body = body_of(response)
    assert [b["id"] for b in body["Bill"]] == [sibling["id"]]
    assert body["ResposneInfo"] is not None  # nothing generated
    # the unbilled consumer is found by its consumerCode, which generates its first bill
    fresh = digit.fetch(UNBILLED_CONSUMER)
    assert body_of(fresh)["ResposneInfo"] is None
    [bill] = body_of(fresh)["Bill"]
    assert (bill["consumerCode"], bill["mobileNumber"]) == (UNBILLED_CONSUMER, POOJA)


def test_fetch_by_mobile_without_active_bills_generates_one_per_consumer(digit: Digit) -> None:
    """Step (b): the payer is found as a state-level citizen, its unpaid demands are billed."""
    digit.admin("backupdate-lag", {"seconds": 0})
    sibling = digit.bill(BILLED_SIBLING)
    assert digit.pay([(sibling, sibling["totalAmount"])]).status_code == 200
    response = digit.post(FETCH, tenantId=AMRITSAR, businessService="WS", mobileNumber=POOJA)
    body = body_of(response)
    assert body["ResposneInfo"] is None
    assert [b["consumerCode"] for b in body["Bill"]] == [UNBILLED_CONSUMER]
    assert body["Bill"][0]["userId"] and body["Bill"][0]["totalAmount"] == Decimal(103)
    # another service, or a mobile no citizen has, finds nothing
    for service, mobile in (("SW", POOJA), ("WS", "9000011111")):
        other = digit.post(FETCH, tenantId=AMRITSAR, businessService=service, mobileNumber=mobile)
        assert body_of(other)["Bill"] == []


def test_fetch_by_mobile_is_scoped_to_the_city(digit: Digit) -> None:
    response = digit.post(FETCH, tenantId="pb.jalandhar", businessService="WS", mobileNumber=POOJA)
    assert body_of(response)["Bill"] == []


STATE_RULE = [
    ("employee, state tenant", "EMPLOYEE", ("EMPLOYEE",), "pb", True),
    ("employee, city tenant", "EMPLOYEE", ("EMPLOYEE",), "pb.amritsar", False),
    ("employee on the exclusion list", "EMPLOYEE", ("EMPLOYEE", "BPAREG_APPROVER"), "pb", False),
    ("citizen, state tenant", "CITIZEN", ("CITIZEN",), "pb", False),
]


@pytest.mark.parametrize(
    ("case", "user_type", "roles", "tenant", "refused"),
    STATE_RULE,
    ids=[r[0] for r in STATE_RULE],
)
def test_state_level_tenant_rule(
    case: str, user_type: str, roles: tuple[str, ...], tenant: str, refused: bool
) -> None:
    from integrator.sandbox.billing import validate_tenant_for_user_type
    from integrator.sandbox.errors import SandboxError
    from integrator.sandbox.world import Role, User

    user = User(
        id=1,
        uuid="u",
        user_name="u",
        password="p",
        name="U",
        mobile_number="9999999999",
        type=user_type,
        tenant_id="pb.amritsar",
        roles=tuple(Role(code, "pb.amritsar") for code in roles),
    )
    try:
        validate_tenant_for_user_type(user, tenant)
    except SandboxError as error:
        assert refused and error.body["Errors"][0]["code"] == "EG_BS_INVALID_TENANTID"
    else:
        assert not refused
