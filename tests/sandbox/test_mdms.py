"""MDMS BusinessService by city tenant, v1 or v2 semantics (Corrections 7-8)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from integrator.sandbox.seed import NAWANSHAHR_CONSUMER
from tests.sandbox.conftest import Digit, body_of, codes

NAWANSHAHR = "pb.nawanshahr"
PATHS = ["/egov-mdms-service/v1/_search", "/mdms-v2/v1/_search"]


def business_services(
    digit: Digit, tenant: str, path: str = PATHS[0], expression: str | None = None
) -> Any:
    master: dict[str, Any] = {"name": "BusinessService"}
    if expression:
        master["filter"] = expression
    criteria = {
        "tenantId": tenant,
        "moduleDetails": [{"moduleName": "BillingService", "masterDetails": [master]}],
    }
    return digit.post(path, {"MdmsCriteria": criteria})


def records(response: Any) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = body_of(response)
    assert body["ResponseInfo"] is None
    return {r["code"]: r for r in body["MdmsRes"]["BillingService"]["BusinessService"]}


@pytest.mark.parametrize("path", PATHS)
def test_v1_serves_the_state_master_to_a_city(digit: Digit, path: str) -> None:
    found = records(business_services(digit, NAWANSHAHR, path))
    assert found["PT"]["isAdvanceAllowed"] is False
    assert {"WS", "SW", "PT", "TL"} <= set(found)
    assert found == records(business_services(digit, "pb", path))


@pytest.mark.parametrize("path", PATHS)
def test_v2_lets_the_city_records_win_without_merging(digit: Digit, path: str) -> None:
    assert digit.admin("mdms", {"semantics": "v2"})["semantics"] == "v2"
    city = records(business_services(digit, NAWANSHAHR, path))
    assert set(city) == {"PT", "WC", "TL"}
    assert city["PT"]["isAdvanceAllowed"] is True
    # the filter comes first: the city has no WS, so the state's WS is served
    [ws] = records(business_services(digit, NAWANSHAHR, path, "[?(@.code=='WS')]")).values()
    assert ws["isAdvanceAllowed"] is True and ws["collectionModesNotAllowed"] == ["DD"]
    # a city without its own file gets the state's
    assert set(records(business_services(digit, "pb.amritsar", path))) >= {"WS", "SW"}


@pytest.mark.parametrize("tenant", ["pb.unknown", "xx", ""])
def test_a_tenant_without_mdms_data_is_refused(digit: Digit, tenant: str) -> None:
    response = business_services(digit, tenant)
    assert response.status_code == 400
    assert body_of(response)["Errors"][0]["code"] == "Invalid_tenantId.MdmsCriteria.tenantId"
    assert body_of(response)["Errors"][0]["message"] == "Invalid Tenant Id"


def test_collection_reads_business_service_with_the_payments_city(sandbox: str) -> None:
    """Under v2 Nawanshahr's master has no WS: its water bill cannot be paid."""
    supervisor = Digit(sandbox)
    assert supervisor.login("STATE_SUPERVISOR", "state-password").status_code == 200
    [bill] = body_of(supervisor.fetch(NAWANSHAHR_CONSUMER, tenant=NAWANSHAHR))["Bill"]
    supervisor.admin("mdms", {"semantics": "v2"})
    refused = supervisor.pay([(bill, bill["totalAmount"])])
    assert codes(refused) == ["INVALID_BILL_BUSINESSSERVICE"]
    supervisor.admin("mdms", {"semantics": "v1"})
    assert supervisor.pay([(bill, bill["totalAmount"])]).status_code == 200


JALANDHAR = "pb.jalandhar"
JALANDHAR_WS = "WS/1013/2019-20/000101"


@pytest.mark.parametrize("path", PATHS)
def test_a_city_whose_data_is_taken_away_is_an_invalid_tenant_under_v1(
    digit: Digit, path: str
) -> None:
    answer = digit.admin("mdms", {"withoutData": [JALANDHAR]})
    assert answer["withoutData"] == [JALANDHAR]
    refused = business_services(digit, JALANDHAR, path)
    assert codes(refused) == ["Invalid_tenantId.MdmsCriteria.tenantId"]
    # v2 reads every row of the state: such a city gets the state's
    digit.admin("mdms", {"semantics": "v2"})
    assert set(records(business_services(digit, JALANDHAR, path))) >= {"WS", "SW", "PT"}
    digit.admin("reset")
    assert digit.get("mdms")["withoutData"] == []
    assert records(business_services(digit, JALANDHAR, path))


def test_collection_cannot_take_a_payment_in_a_city_without_mdms_data(digit: Digit) -> None:
    bill = digit.bill(JALANDHAR_WS, tenant=JALANDHAR)
    digit.admin("mdms", {"withoutData": [JALANDHAR]})
    refused = digit.pay([(bill, bill["totalAmount"])])
    assert codes(refused) == ["Invalid_tenantId.MdmsCriteria.tenantId"]
    digit.admin("mdms", {"withoutData": []})
    assert digit.pay([(bill, bill["totalAmount"])]).status_code == 200


def test_a_city_file_without_ws_is_what_v2_serves_and_collection_refuses_its_water_bills(
    digit: Digit,
) -> None:
    bill = digit.bill(JALANDHAR_WS, tenant=JALANDHAR)
    answer = digit.admin("mdms", {"cityBusinessServices": {JALANDHAR: ["PT", "SW"]}})
    assert answer["cityBusinessServices"] == {JALANDHAR: ["PT", "SW"]}
    # v1: BusinessService is state-level, the city's file is ignored
    assert {"WS", "PT", "SW"} <= set(records(business_services(digit, JALANDHAR)))
    digit.admin("mdms", {"semantics": "v2"})
    assert set(records(business_services(digit, JALANDHAR))) == {"PT", "SW"}
    assert codes(digit.pay([(bill, bill["totalAmount"])])) == ["INVALID_BILL_BUSINESSSERVICE"]
    digit.admin("mdms", {"cityBusinessServices": {JALANDHAR: None}})
    assert digit.pay([(bill, bill["totalAmount"])]).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"withoutData": ["pb"]}, {"withoutData": "pb.jalandhar"}, {"cityBusinessServices": {"x": []}}],
)
def test_mdms_settings_name_cities_of_the_sandbox(sandbox: str, body: dict[str, Any]) -> None:
    answer = requests.post(f"{sandbox}/_sandbox/mdms", json=body, timeout=5)
    assert answer.status_code == 400


def test_mdms_semantics_option_on_the_command_line() -> None:
    from integrator.sandbox.server import build_parser

    assert build_parser().parse_args(["--mdms", "v2"]).mdms == "v2"
    assert build_parser().parse_args([]).mdms == "v1"
