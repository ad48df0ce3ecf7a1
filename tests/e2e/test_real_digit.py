"""The integrator against DIGIT as it really behaves (the corrected digest), over real HTTP to the
sandbox: state-wide lookups city by city, never-billed consumers, the account's roles per city,
DIGIT's temporary lockout, and an employee's exact login tenant."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from integrator.digit.account import check_account
from integrator.digit.auth import ACCOUNT_LOCKED_RETRY_SECONDS
from integrator.digit.client import DigitClient
from integrator.digit.errors import DigitAccountLocked
from integrator.services import Services
from integrator.settings import Settings
from tests.e2e.conftest import Pos, Sandbox, body_of

AMRITSAR, NAWANSHAHR = "pb.amritsar", "pb.nawanshahr"
RAMESH_MOBILE = "9876543210"
UNBILLED, SIBLING, POOJA_MOBILE = "WS/107/2021-22/000041", "WS/107/2021-22/000040", "9444400009"
NAWANSHAHR_CONSUMER = "WS/1801/2019-20/000301"
RAMESH_WS, RAMESH_PT = "WS/107/2019-20/000022", "PT-107-000123"


def _bills(pos: Pos, **params: Any) -> dict[str, Any]:
    response = pos.get("/v1/bills", **params)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = body_of(response)
    return answer


def test_a_state_wide_mobile_lookup_searches_city_by_city_and_names_what_it_missed(
    pos: Pos, world: Sandbox
) -> None:
    answer = _bills(pos, tenantId="pb", mobileNumber=RAMESH_MOBILE)

    tenants = {b["tenantId"] for b in answer["bills"]}
    assert tenants == {AMRITSAR, "pb.jalandhar"}  # Ramesh's consumers in both cities
    # no role in Nawanshahr: DIGIT would refuse every call there, so none is made; the city is
    # named as not searched and the rest is answered
    assert answer["unsearchedTenants"] == [NAWANSHAHR]
    assert world.counters().get("rbac_denied", 0) == 0


def test_a_consumer_digit_never_billed_is_found_by_mobile_once_digit_generates_its_bill(
    pos: Pos, world: Sandbox
) -> None:
    # the payer has another ACTIVE water bill: DIGIT's _fetchbill then generates nothing (its
    # known gap): only the billed sibling is found
    first = _bills(pos, tenantId=AMRITSAR, mobileNumber=POOJA_MOBILE, businessService="WS")
    assert {b["consumerCode"] for b in first["bills"]} == {SIBLING}
    [sibling] = first["bills"]
    paid = pos.pay(
        {
            "tenantId": AMRITSAR,
            "paymentMode": "CASH",
            "paidBy": "Pooja Rani",
            "bills": [{"billId": sibling["billId"], "amount": sibling["totalAmount"]}],
        },
        key="pooja-sibling",
    )
    assert paid.status_code == 201, paid.text
    world.pass_backupdate_lag()  # the sibling's bill is PAID: no ACTIVE water bill is left

    later = _bills(pos, tenantId=AMRITSAR, mobileNumber=POOJA_MOBILE, businessService="WS")

    assert UNBILLED in {b["consumerCode"] for b in later["bills"]}


def test_a_payment_in_a_city_without_a_role_is_refused_before_anything_is_stored_or_sent(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    before = world.counters()

    refused = pos.pay(
        {
            "tenantId": NAWANSHAHR,
            "paymentMode": "CASH",
            "paidBy": "A payer",
            "bills": [{"billId": "any-bill-of-nawanshahr", "amount": 500}],
        },
        key="naw-1",
    )

    assert refused.status_code == 422, refused.text
    problem = body_of(refused)
    assert problem["code"] == "TENANT_NOT_COLLECTABLE"
    assert problem["errors"][0]["field"] == "tenantId"
    assert services.payments_store.list_recent().payments == ()
    after = world.counters()
    assert after.get("payment_create", 0) == before.get("payment_create", 0)
    assert after.get("bill_search", 0) == before.get("bill_search", 0)


def test_account_locked_by_someone_else_recovers_by_itself_after_the_cool_down(
    settings: Settings, sandbox: str, world: Sandbox, services: Services
) -> None:
    ahead = [0.0]  # our clock, moved past the next try instead of waiting for it
    client = DigitClient(
        settings=settings, redis=services.redis, clock=lambda: time.time() + ahead[0]
    )
    assert client.fetch_bills(
        tenant_id=AMRITSAR, business_service="WS", consumer_code="WS/107/2019-20/000022"
    )
    # someone at a terminal mistypes the shared password five times: DIGIT locks the account
    # and deletes its tokens
    for _ in range(5):
        requests.post(
            f"{sandbox}/user/oauth/token",
            data={
                "username": settings.digit_username,
                "password": "wrong-password",
                "tenantId": AMRITSAR,
                "userType": "EMPLOYEE",
                "grant_type": "password",
                "scope": "read",
            },
            auth=("egov-user-client", ""),
            timeout=10,
        )
    logins = world.counters()["login"]  # the sandbox counts every token request
    try:
        client.fetch_bills(
            tenant_id=AMRITSAR, business_service="WS", consumer_code="WS/107/2019-20/000022"
        )
        raise AssertionError("a locked account still fetched bills")
    except DigitAccountLocked as locked:
        assert locked.retry_at > time.time()
    assert client.auth_state().locked
    # DIGIT's own cool-down passes (its clock), then our next try: one login, and work resumes
    world.admin("clock", advance_seconds=3700)
    ahead[0] = ACCOUNT_LOCKED_RETRY_SECONDS
    assert client.fetch_bills(
        tenant_id=AMRITSAR, business_service="WS", consumer_code="WS/107/2019-20/000022"
    )
    assert not client.auth_state().locked
    assert world.counters()["login"] <= logins + 2  # the refused one, then the one that worked


def test_a_wrong_login_tenant_is_said_plainly_and_never_locks_the_account(
    settings: Settings, sandbox: str, world: Sandbox, services: Services
) -> None:
    wrong = DigitClient(
        settings=settings.with_changes(digit_tenant_id="pb.jalandhar"), redis=services.redis
    )
    for _ in range(6):  # more than the five bad logins DIGIT locks an account after
        verdict = check_account(wrong)
        assert verdict.verdict == "bad_credentials", verdict.message
        services.redis.delete(*services.redis.keys("integrator:digit:auth:*") or ["none"])
    state = body_of(requests.get(f"{sandbox}/_sandbox/lockout", timeout=10))
    assert state["locked"] == []
    right = DigitClient(settings=settings, redis=services.redis)
    assert check_account(right).verdict == "ok"


def test_two_weeks_on_the_sandbox_clock_cause_no_login_storm_and_no_gap(
    settings: Settings, world: Sandbox, services: Services, monkeypatch: Any
) -> None:
    """An hourly call for 15 days, our clock moved with DIGIT's: the access token (10 minutes in
    the test sandbox) is renewed by refresh, the refresh token lasts 14 days and is never
    extended, and when it dies one password login takes over, with no call failing."""
    now = [time.time()]
    client = DigitClient(settings=settings, redis=services.redis, clock=lambda: now[0])
    auth = client._auth  # spy on the two ways of renewing (counts only; nothing replaced)
    calls = {"login": 0, "refresh": 0}
    real_login, real_refresh = auth._login, auth._refresh

    def login(*args: Any) -> Any:
        calls["login"] += 1
        return real_login(*args)

    def refresh(*args: Any) -> Any:
        calls["refresh"] += 1
        return real_refresh(*args)

    monkeypatch.setattr(auth, "_login", login)
    monkeypatch.setattr(auth, "_refresh", refresh)
    per_day: list[int] = []
    for day in range(15):
        before = calls["login"]
        for _hour in range(24):
            bills = client.fetch_bills(
                tenant_id=AMRITSAR, business_service="WS", consumer_code="WS/107/2019-20/000022"
            )
            assert bills  # no gap in service, also when the refresh token expires
            world.admin("clock", advance_seconds=3600)
            now[0] += 3600
        per_day.append(calls["login"] - before)
    # stated bound: at most one password login a day (day 0, and the day the refresh token of
    # 14 days dies); every other renewal is a refresh
    assert max(per_day) <= 1, per_day
    assert sum(per_day) <= 2, per_day
    assert calls["refresh"] >= 14 * 24 - 2


@pytest.mark.settings(digit_search_role_codes={"WS": ("A_ROLE_NOBODY_HOLDS",)})
def test_a_service_whose_payments_the_account_cannot_search_is_not_collected(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    # this deployment's water payments are searched with a role our account does not hold: a
    # create DIGIT left unanswered could never be looked up, by us or by a person
    [bill] = _bills(pos, tenantId=AMRITSAR, businessService="WS", consumerCode=RAMESH_WS)["bills"]
    assert (bill["payable"], bill["notPayableReason"]) == (False, "SERVICE_NOT_COLLECTABLE")
    before = world.counters()

    refused = pos.pay(
        {
            "tenantId": AMRITSAR,
            "paymentMode": "CASH",
            "paidBy": "Ramesh Kumar",
            "bills": [{"billId": bill["billId"], "amount": bill["totalAmount"]}],
        },
        key="ws-unsearchable-1",
    )

    assert refused.status_code == 422, refused.text
    problem = body_of(refused)
    assert problem["code"] == "SERVICE_NOT_COLLECTABLE"
    assert problem["errors"][0]["field"] == "bills/0/billId"
    assert services.payments_store.list_recent().payments == ()
    assert world.counters().get("payment_create", 0) == before.get("payment_create", 0)
    # property tax, whose payments the account may search, is still collected
    [tax] = _bills(pos, tenantId=AMRITSAR, businessService="PT", consumerCode=RAMESH_PT)["bills"]
    assert (tax["payable"], tax["notPayableReason"]) == (True, None)


def test_a_state_tenant_is_refused_where_digit_needs_a_city(pos: Pos, world: Sandbox) -> None:
    before = world.counters()

    by_consumer = pos.get("/v1/bills", tenantId="pb", businessService="WS", consumerCode=RAMESH_WS)
    payment = pos.pay(
        {
            "tenantId": "pb",
            "paymentMode": "CASH",
            "paidBy": "Ramesh Kumar",
            "bills": [{"billId": "any-bill", "amount": 100}],
        },
        key="state-tenant-1",
    )

    for refused in (by_consumer, payment):
        assert refused.status_code == 422, refused.text
        assert body_of(refused)["code"] == "CITY_TENANT_REQUIRED"
        assert body_of(refused)["errors"][0]["field"] == "tenantId"
    assert world.counters() == before  # DIGIT was not asked
    # a state-wide look-up by mobile number is what a state tenant is for
    assert pos.get("/v1/bills", tenantId="pb", mobileNumber=RAMESH_MOBILE).status_code == 200


JALANDHAR = "pb.jalandhar"
JALANDHAR_WS, JALANDHAR_PT = "WS/1013/2019-20/000101", "PT-1013-000045"


def _offer(pos: Pos, service: str, consumer: str) -> dict[str, Any]:
    [bill] = pos.bills(tenantId=JALANDHAR, businessService=service, consumerCode=consumer)
    return bill


def _pay_offer(pos: Pos, bill: dict[str, Any], key: str) -> requests.Response:
    return pos.pay(
        {
            "tenantId": JALANDHAR,
            "paymentMode": "CASH",
            "paidBy": "Ramesh Kumar",
            "bills": [{"billId": bill["billId"], "amount": bill["totalAmount"]}],
        },
        key=key,
    )


def test_a_city_without_mdms_data_is_not_collectable_though_the_account_holds_its_roles(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    # MDMS v1 answers Invalid_tenantId for the city, and collection reads MDMS with the
    # payment's city (corrections 7): every create there would fail, so none is offered
    world.admin("mdms", withoutData=[JALANDHAR])

    bill = _offer(pos, "WS", JALANDHAR_WS)
    refused = _pay_offer(pos, bill, key="jal-no-mdms")

    assert not bill["payable"] and bill["notPayableReason"] == "TENANT_NOT_COLLECTABLE"
    assert refused.status_code == 422, refused.text
    assert body_of(refused)["code"] == "TENANT_NOT_COLLECTABLE"
    assert services.payments_store.list_recent().payments == ()
    assert world.counters().get("payment_create", 0) == 0


def test_under_mdms_v2_a_service_the_citys_own_rows_lack_is_not_collectable_there(
    pos: Pos, world: Sandbox, services: Services
) -> None:
    # mdms-v2: the city's rows replace the state's without a merge (corrections 8); a WS bill
    # there is INVALID_BILL_BUSINESSSERVICE at collection (5.2), PT is collected as usual
    world.admin("mdms", semantics="v2", cityBusinessServices={JALANDHAR: ["PT", "SW"]})

    water, tax = _offer(pos, "WS", JALANDHAR_WS), _offer(pos, "PT", JALANDHAR_PT)
    refused = _pay_offer(pos, water, key="jal-v2-ws")
    paid = _pay_offer(pos, tax, key="jal-v2-pt")

    assert water["notPayableReason"] == "SERVICE_NOT_COLLECTABLE" and not water["payable"]
    assert tax["notPayableReason"] is None and tax["payable"]
    assert refused.status_code == 422, refused.text
    assert body_of(refused)["code"] == "SERVICE_NOT_COLLECTABLE"
    assert "MDMS" in body_of(refused)["errors"][0]["message"]
    assert paid.status_code == 201, paid.text
    assert world.counters().get("payment_create", 0) == 1
