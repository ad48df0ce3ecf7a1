"""billing-service v2 and MDMS as the sandbox serves them (digest 4, 12)."""

from __future__ import annotations

import re
from decimal import Decimal

from tests.sandbox.conftest import AMRITSAR, WS_RAMESH, Digit, body_of, codes


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
    state = digit.fetch(tenant="pb")
    assert codes(state) == ["EG_BS_INVALID_TENANTID"]


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


def test_search_by_mobile_with_state_tenant_spans_cities_latest_bill_each(digit: Digit) -> None:
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
    assert {"pb.amritsar", "pb.jalandhar"} <= codes_
