"""Bills by mobile number (digest corrections 1, 2): every city of a state searched in parallel,
never the state tenant itself; `_fetchbill` by mobile finds never-billed consumers; one overall
deadline; a partial answer names the cities that could not be searched."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from integrator import jsonutil
from integrator.digit.client import DigitClient
from integrator.digit.errors import DigitUnavailable
from integrator.digit.http import build_session
from tests.unit.digit.digit_unit_helpers import (
    FETCH_URL,
    MDMS_URL,
    SEARCH_URL,
    TOKEN_URL,
    add_json,
    bill_response,
    make_bill,
    token_answer,
)

MOBILE = "9876543210"
CITIES = ["pb.amritsar", "pb.jalandhar", "pb.nawanshahr"]
JSON = {"Content-Type": "application/json"}


def _q(request: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}


@pytest.fixture
def digit(rsps):
    """A DIGIT whose billing answers per city from `world`, recording every billing query."""
    add_json(rsps, TOKEN_URL, token_answer())
    add_json(
        rsps,
        MDMS_URL,
        {
            "ResponseInfo": None,
            "MdmsRes": {
                "tenant": {
                    "tenants": [{"code": "pb", "name": "Punjab"}]
                    + [{"code": c, "name": c} for c in CITIES]
                }
            },
        },
    )
    world: dict[str, Any] = {
        "searched": {},  # city -> bills _search returns
        "by_mobile": {},  # (city, service) -> bills _fetchbill?mobileNumber returns
        "down": set(),  # cities whose billing answers 503
        "denied": set(),  # cities whose billing answers SCG's RBAC denial (a plain 401)
        "slow": set(),  # cities whose billing takes 2 s
        "queries": [],
        "in_flight": 0,
        "max_in_flight": 0,
    }
    lock = threading.Lock()

    def billing(request: Any) -> tuple[int, dict[str, str], str]:
        q = _q(request)
        with lock:
            world["queries"].append((urlsplit(request.url).path, q))
            world["in_flight"] += 1
            world["max_in_flight"] = max(world["max_in_flight"], world["in_flight"])
        try:
            city = q["tenantId"]
            if city in world["slow"]:
                time.sleep(1.0)
            else:
                time.sleep(0.02)
            if city in world["down"]:
                return 503, JSON, "{}"
            if city in world["denied"]:
                return 401, JSON, '{"message": "You are not authorized to access this resource"}'
            if request.url.startswith(SEARCH_URL):
                bills = world["searched"].get(city, [])
            elif "consumerCode" in q:
                bills = [
                    make_bill(
                        bill_id=f"cur-{q['consumerCode']}",
                        tenant=city,
                        service=q["businessService"],
                        consumer=q["consumerCode"],
                    )
                ]
            else:
                bills = world["by_mobile"].get((city, q["businessService"]), [])
            return 201, JSON, jsonutil.dumps(bill_response(*bills))
        finally:
            with lock:
                world["in_flight"] -= 1

    rsps.add_callback("POST", SEARCH_URL, callback=billing)
    rsps.add_callback("POST", FETCH_URL, callback=billing)
    return world


def _client(settings, redis, **changes) -> DigitClient:
    settings = settings.with_changes(**changes) if changes else settings
    return DigitClient(settings=settings, redis=redis, session=build_session(settings))


def test_a_state_lookup_searches_every_city_and_never_sends_the_state(digit, digit_settings, redis):
    digit["searched"]["pb.amritsar"] = [
        make_bill(bill_id="old-1", service="WS", consumer="WS-1", status="PAID"),
        make_bill(bill_id="f-1", service="FIRENOC", consumer="F-1"),  # not collectable
    ]
    digit["by_mobile"][("pb.jalandhar", "PT")] = [
        make_bill(bill_id="new-9", tenant="pb.jalandhar", service="PT", consumer="PT-9")
    ]
    client = _client(digit_settings, redis)

    found = client.mobile_lookup(tenant_id="pb", mobile_number=MOBILE)

    assert found.complete
    assert [(b.tenant_id, b.id) for b in found.bills] == [
        ("pb.amritsar", "cur-WS-1"),  # the consumer's current bill, not the paid one
        ("pb.jalandhar", "new-9"),  # never billed before: only _fetchbill by mobile finds it
    ]
    tenants = {q["tenantId"] for _, q in digit["queries"]}
    assert tenants == set(CITIES)  # each city, never "pb"
    searches = [q for p, q in digit["queries"] if p.endswith("_search")]
    assert sorted(q["tenantId"] for q in searches) == CITIES
    by_mobile = {
        (q["tenantId"], q["businessService"])
        for p, q in digit["queries"]
        if p.endswith("_fetchbill") and "mobileNumber" in q
    }
    assert by_mobile == {(c, s) for c in CITIES for s in digit_settings.collectable_services}


def test_a_city_lookup_searches_only_that_city(digit, digit_settings, redis):
    client = _client(digit_settings, redis)
    client.mobile_lookup(tenant_id="pb.jalandhar", mobile_number=MOBILE, business_service="WS")
    assert {q["tenantId"] for _, q in digit["queries"]} == {"pb.jalandhar"}
    assert {q.get("businessService") for p, q in digit["queries"] if "fetchbill" in p} == {"WS"}


def test_the_same_bill_found_twice_is_returned_once(digit, digit_settings, redis):
    digit["searched"]["pb.amritsar"] = [make_bill(bill_id="x", consumer="WS-1")]
    digit["by_mobile"][("pb.amritsar", "WS")] = [
        make_bill(bill_id="cur-WS-1", consumer="WS-1")  # the same current bill
    ]
    found = _client(digit_settings, redis).mobile_lookup(tenant_id="pb", mobile_number=MOBILE)
    assert [b.id for b in found.bills] == ["cur-WS-1"]


def test_a_city_that_fails_is_listed_and_the_others_answer(digit, digit_settings, redis):
    digit["down"].add("pb.nawanshahr")
    digit["by_mobile"][("pb.amritsar", "WS")] = [make_bill(bill_id="a", consumer="WS-1")]
    client = _client(digit_settings, redis)

    found = client.mobile_lookup(tenant_id="pb", mobile_number=MOBILE)

    assert found.failed_tenants == ("pb.nawanshahr",) and not found.complete
    assert [b.id for b in found.bills] == ["a"]
    with pytest.raises(DigitUnavailable, match=r"pb\.nawanshahr"):  # the old all-or-nothing API
        client.bills_for_mobile(tenant_id="pb", mobile_number=MOBILE)


def test_one_overall_deadline_bounds_the_lookup(digit, digit_settings, redis):
    digit["slow"].add("pb.jalandhar")
    digit["by_mobile"][("pb.amritsar", "WS")] = [make_bill(bill_id="a", consumer="WS-1")]
    client = _client(digit_settings, redis, bills_deadline_seconds=0.5)
    client.tenants()  # warm the MDMS cache: only billing is timed here

    started = time.monotonic()
    found = client.mobile_lookup(tenant_id="pb", mobile_number=MOBILE)

    assert time.monotonic() - started < 0.95
    assert found.failed_tenants == ("pb.jalandhar",)
    assert [b.id for b in found.bills] == ["a"]
    time.sleep(0.6)  # let the slow city's calls (fakes ignore timeouts) end inside the test


def test_calls_in_flight_are_bounded(digit, digit_settings, redis):
    client = _client(digit_settings, redis, mobile_fetch_concurrency=3)
    client.mobile_lookup(tenant_id="pb", mobile_number=MOBILE)
    assert digit["max_in_flight"] <= 3
    assert len(digit["queries"]) == len(CITIES) * (1 + len(digit_settings.collectable_services))


def test_cities_where_the_account_holds_no_role_are_listed_not_asked(
    rsps, digit, digit_settings, redis
):
    answer = token_answer()
    answer["UserRequest"]["roles"] = [
        {"name": "Employee", "code": "EMPLOYEE", "tenantId": "pb.amritsar"},
        {"name": "Water counter", "code": "WS_CEMP", "tenantId": "pb.jalandhar"},
    ]
    rsps.replace("POST", TOKEN_URL, json=answer)
    digit["by_mobile"][("pb.jalandhar", "WS")] = [
        make_bill(bill_id="j", tenant="pb.jalandhar", consumer="WS-J")
    ]
    client = _client(digit_settings, redis)
    client.ensure_token()  # the roles come with the token

    found = client.mobile_lookup(tenant_id="pb", mobile_number=MOBILE)

    assert {q["tenantId"] for _, q in digit["queries"]} == {"pb.amritsar", "pb.jalandhar"}
    assert found.failed_tenants == ("pb.nawanshahr",)  # named as not searched, never asked
    assert [b.id for b in found.bills] == ["j"]


def test_a_city_the_scg_gateway_denies_is_listed_and_the_others_answer(
    digit, digit_settings, redis
):
    digit["denied"].add("pb.nawanshahr")
    digit["by_mobile"][("pb.amritsar", "WS")] = [make_bill(bill_id="a", consumer="WS-1")]

    found = _client(digit_settings, redis).mobile_lookup(tenant_id="pb", mobile_number=MOBILE)

    assert found.failed_tenants == ("pb.nawanshahr",)  # not an authentication failure
    assert [b.id for b in found.bills] == ["a"]
