"""Payment rules read with the payment's city (digest corrections 7, 8), payment searches that
follow every page (corrections 11), and cancelling with `_workflow` (§13)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from integrator import jsonutil
from integrator.digit.client import DigitClient
from integrator.digit.errors import DigitOutcomeUnknown, DigitRejected
from integrator.digit.http import build_session
from integrator.digit.models import DigitPayment, WorkflowItem
from integrator.digit.roles import capability_rows
from integrator.store import keys
from tests.unit.digit.digit_unit_helpers import (
    BASE,
    MDMS_URL,
    TOKEN_URL,
    add_json,
    error_res,
    payment_response,
    token_answer,
)

JSON = {"Content-Type": "application/json"}
RULES = "BillingService.BusinessService"


@pytest.fixture
def logged_in(rsps):
    add_json(rsps, TOKEN_URL, token_answer())
    return rsps


def _rules_answer(*records: dict[str, Any]) -> dict[str, Any]:
    return {"ResponseInfo": None, "MdmsRes": {"BillingService": {"BusinessService": list(records)}}}


STATE_PT = {"code": "PT", "partPaymentAllowed": True, "isAdvanceAllowed": False}
CITY_PT = {"code": "PT", "partPaymentAllowed": True, "isAdvanceAllowed": True}


def _mdms(logged_in, answers: dict[str, Any]) -> list[str]:
    """MDMS answering per asked tenant; returns the tenants asked, in order."""
    asked: list[str] = []

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        tenant = jsonutil.loads(request.body)["MdmsCriteria"]["tenantId"]
        asked.append(tenant)
        status, body = answers[tenant]
        return status, JSON, jsonutil.dumps(body)

    logged_in.add_callback("POST", MDMS_URL, callback=answer)
    return asked


def test_rules_are_read_with_the_city_tenant_and_its_records_win(logged_in, client, redis):
    asked = _mdms(logged_in, {"pb.nawanshahr": (200, _rules_answer(CITY_PT))})

    rules = client.payment_rules("pb.nawanshahr")

    assert asked == ["pb.nawanshahr"]
    assert rules["PT"].advance_allowed  # the city's record, as mdms-v2 would pick it
    assert redis.exists(keys.digit_mdms(RULES, "pb.nawanshahr"))
    client.payment_rules("pb.nawanshahr")
    assert asked == ["pb.nawanshahr"]  # cached per city


@pytest.mark.parametrize(
    "city_answer",
    [(200, _rules_answer()), (400, error_res("Invalid_tenantId.MdmsCriteria.tenantId"))],
    ids=["no-records", "no-mdms-file"],
)
def test_the_states_rules_apply_when_the_city_has_none(logged_in, client, city_answer):
    asked = _mdms(logged_in, {"pb.amritsar": city_answer, "pb": (200, _rules_answer(STATE_PT))})

    rules = client.payment_rules("pb.amritsar")

    assert asked == ["pb.amritsar", "pb"]
    assert not rules["PT"].advance_allowed


# --- collectable: what DIGIT's own MDMS answer for the city allows (corrections 7, 8; 5.2) ---

STATE_WS = {"code": "WS", "partPaymentAllowed": True, "isAdvanceAllowed": True}


@pytest.fixture
def with_roles(rsps):
    """Logged in with every role the defaults need, in every city of `pb`."""
    answer = token_answer()
    answer["UserRequest"]["roles"] = [
        {"code": code, "tenantId": "pb", "name": code}
        for code in ("EMPLOYEE", "WS_CEMP", "SW_CEMP", "CR_PT")
    ]
    add_json(rsps, TOKEN_URL, answer)
    return rsps


def test_a_city_mdms_does_not_know_is_not_collectable(with_roles, client):
    # MDMS v1 answers Invalid_tenantId for a city without any data, and collection reads MDMS
    # with the payment's city: every create there would fail
    _mdms(
        with_roles,
        {
            "pb.amritsar": (400, error_res("Invalid_tenantId.MdmsCriteria.tenantId")),
            "pb.jalandhar": (200, _rules_answer(STATE_PT, STATE_WS)),
            "pb": (200, _rules_answer(STATE_PT, STATE_WS)),
        },
    )
    client.ensure_token()

    assert not client.may_create("pb.amritsar")
    assert client.may_search("WS", "pb.amritsar") is False
    assert client.may_create("pb.jalandhar") and client.may_search("WS", "pb.jalandhar")
    assert "PT" in client.payment_rules("pb.amritsar")  # the state's, for the answer's amounts


def test_a_service_missing_from_the_citys_answer_is_not_collectable_there(
    with_roles, client, redis
):
    # mdms-v2: the city's rows replace the state's without a merge; collection then answers
    # INVALID_BILL_BUSINESSSERVICE for a WS bill (digest 5.2)
    asked = _mdms(with_roles, {"pb.nawanshahr": (200, _rules_answer(CITY_PT))})
    client.ensure_token()

    assert client.may_search("WS", "pb.nawanshahr") is False
    assert client.may_search("PT", "pb.nawanshahr") is True
    assert client.may_create("pb.nawanshahr")
    assert asked == ["pb.nawanshahr"]
    stored = jsonutil.loads(redis.get(keys.digit_mdms(RULES, "pb.nawanshahr")))
    assert stored["source"] == "mdms" and stored["invalidTenant"] is False


def test_nothing_is_refused_on_mdms_while_it_cannot_answer(with_roles, client):
    # the shipped fallback is not DIGIT's answer: it decides no collectability
    asked = _mdms(with_roles, {"pb.amritsar": (503, {}), "pb": (503, {})})
    client.ensure_token()

    assert client.may_create("pb.amritsar")
    assert client.may_search("WS", "pb.amritsar") is True
    assert client.payment_rules("pb.amritsar")  # the shipped copy
    assert asked[0] == "pb.amritsar"


def test_an_mdms_answer_listing_nothing_or_the_shipped_copy_refuses_nothing(
    with_roles, client, redis
):
    # no city lacks every service: an empty answer is no answer, as the payment rules take it
    _mdms(with_roles, {"pb.amritsar": (200, _rules_answer()), "pb": (200, _rules_answer())})
    # the shipped copy kept while MDMS failed is not DIGIT's answer for the city either
    redis.set(
        keys.digit_mdms(RULES, "pb.jalandhar"),
        jsonutil.dumps({"source": "fallback", "records": [STATE_PT]}),
    )
    client.ensure_token()

    assert client.may_search("WS", "pb.amritsar") is True
    assert client.may_create("pb.amritsar")
    assert client.may_search("WS", "pb.jalandhar") is True  # WS is not in that copy


def test_a_city_refused_on_mdms_is_remembered_across_processes(with_roles, digit_settings, redis):
    _mdms(with_roles, {"pb.amritsar": (400, error_res("Invalid_tenantId.MdmsCriteria.tenantId"))})
    first = DigitClient(settings=digit_settings, redis=redis, session=build_session(digit_settings))
    first.ensure_token()
    assert not first.may_create("pb.amritsar")
    mdms_calls = len([c for c in with_roles.calls if c.request.url == MDMS_URL])
    assert mdms_calls == 1
    second = DigitClient(
        settings=digit_settings, redis=redis, session=build_session(digit_settings)
    )
    assert not second.may_create("pb.amritsar")
    assert len([c for c in with_roles.calls if c.request.url == MDMS_URL]) == mdms_calls


def test_the_capability_rows_say_what_mdms_lists_asking_only_when_told(with_roles, client):
    asked = _mdms(
        with_roles,
        {
            "pb.nawanshahr": (200, _rules_answer(CITY_PT)),
            "pb.amritsar": (400, error_res("Invalid_tenantId.MdmsCriteria.tenantId")),
        },
    )
    client.ensure_token()
    rows = capability_rows(client.roles(), ["pb.nawanshahr", "pb.amritsar"], client.settings)

    unknown = client.with_mdms(rows, ask=False)  # /readyz and the console: only what is cached
    checked = {(r.tenant_id, r.module): r.in_mdms for r in client.with_mdms(rows, ask=True)}
    cached = {(r.tenant_id, r.module): r.in_mdms for r in client.with_mdms(rows, ask=False)}

    assert sorted(asked) == ["pb.amritsar", "pb.nawanshahr"]  # asked once each, when told
    assert {r.in_mdms for r in unknown} == {None}
    assert checked["pb.nawanshahr", "PT"] is True and checked["pb.nawanshahr", "WS"] is False
    assert checked["pb.amritsar", "PT"] is False  # no MDMS data for the city at all
    assert cached["pb.nawanshahr", "WS"] is False  # now in Redis: shown without asking


def test_without_a_tenant_the_state_rules_are_read_as_before(logged_in, client):
    asked = _mdms(logged_in, {"pb": (200, _rules_answer(STATE_PT))})
    assert "PT" in client.payment_rules()
    assert asked == ["pb"]


def test_the_mdms_path_is_a_setting(rsps, digit_settings, redis):
    settings = digit_settings.with_changes(mdms_search_path="/mdms-v2/v1/_search")
    client = DigitClient(settings=settings, redis=redis, session=build_session(settings))
    add_json(rsps, TOKEN_URL, token_answer())
    add_json(rsps, f"{BASE}/mdms-v2/v1/_search", _rules_answer(CITY_PT))
    assert client.payment_rules("pb.amritsar")["PT"].advance_allowed


# --- payment search paging ---


def _payment(n: int) -> dict[str, Any]:
    payment = payment_response()["Payments"][0]
    return {**payment, "id": f"pay-{n}"}


def test_a_payment_search_asks_100_and_follows_offsets_until_a_short_page(logged_in, client):
    url = f"{BASE}/collection-services/payments/WS/_search"
    total = 230
    pages: list[dict[str, str]] = []

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        q = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        pages.append(q)
        start, limit = int(q["offset"]), min(int(q["limit"]), 100)
        batch = [_payment(n) for n in range(start, min(start + limit, total))]
        body = {"ResponseInfo": None, "Payments": batch}
        return 200, JSON, jsonutil.dumps(body)

    logged_in.add_callback("POST", url, callback=answer)

    found = client.search_payments(tenant_id="pb.amritsar", module="WS", consumer_codes=["C"])

    assert len(found) == total and len({p.id for p in found}) == total
    assert [(q["limit"], q["offset"]) for q in pages] == [
        ("100", "0"),
        ("100", "100"),
        ("100", "200"),
    ]
    assert all(q["consumerCodes"] == "C" for q in pages)


def test_a_search_that_ignores_offset_does_not_loop(logged_in, client):
    url = f"{BASE}/collection-services/payments/WS/_search"
    same = {"ResponseInfo": None, "Payments": [_payment(n) for n in range(100)]}
    add_json(logged_in, url, same)
    found = client.search_payments(tenant_id="pb.amritsar", module="WS", bill_ids=["b"])
    assert len(found) == 100
    assert len([c for c in logged_in.calls if c.request.url.startswith(url)]) == 2


# --- cancelling ---

WORKFLOW_URL = f"{BASE}/collection-services/payments/PT/_workflow"


def _cancelled() -> dict[str, Any]:
    answer = payment_response()
    payment = answer["Payments"][0]
    payment["paymentStatus"] = "CANCELLED"
    payment["instrumentStatus"] = "CANCELLED"
    bill = payment["paymentDetails"][0]["bill"]
    bill.update(status="CANCELLED", isCancelled=True, reasonForCancellation="Wrong amount")
    return answer


def test_workflow_cancels_and_returns_the_updated_payments(logged_in, client):
    add_json(logged_in, WORKFLOW_URL, _cancelled())

    [payment] = client.workflow(
        tenant_id="pb.amritsar",
        module="PT",
        action="CANCEL",
        items=[
            WorkflowItem(payment_id="pay-1", reason="Wrong amount", additional_details={"x": 1})
        ],
    )

    sent = jsonutil.loads(logged_in.calls[-1].request.body)
    assert sent["PaymentWorkflows"] == [
        {
            "paymentId": "pay-1",
            "action": "CANCEL",
            "tenantId": "pb.amritsar",
            "reason": "Wrong amount",
            "additionalDetails": {"x": 1},
        }
    ]
    assert sent["RequestInfo"]["authToken"] == "tok-1"
    assert "?" not in logged_in.calls[-1].request.url  # no query parameters
    assert payment.is_cancelled and not payment.is_live
    assert payment.details[0].bill_status == "CANCELLED" and payment.details[0].bill_cancelled


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (("RECEIPT_WORKFLOW_INVALID_RECEIPT",), DigitRejected),
        (("RECEIPT_WORKFLOW_ACTION_NOT_APPLICABLE",), DigitRejected),
        (("CROSS_TENANT_OP_NOT_ALLOWED",), DigitRejected),
        (("NotNull.paymentWorkflowRequest.paymentWorkflows[0].action",), DigitRejected),
        (("CANCEL_RECEIPT_FAILED",), DigitOutcomeUnknown),
    ],
)
def test_workflow_errors_are_classified_by_the_tree(logged_in, client, codes, expected):
    add_json(logged_in, WORKFLOW_URL, error_res(*codes), status=400)
    with pytest.raises(expected):
        client.workflow(
            tenant_id="pb.amritsar",
            module="PT",
            action="CANCEL",
            items=[WorkflowItem(payment_id="p")],
        )


@pytest.mark.parametrize("action", ["REMIT", "VOID", ""])
def test_workflow_refuses_actions_we_must_not_send(client, rsps, action):
    with pytest.raises(ValueError):
        client.workflow(
            tenant_id="pb.amritsar",
            module="PT",
            action=action,
            items=[WorkflowItem(payment_id="p")],
        )
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    ("payment_status", "instrument_status", "live"),
    [
        ("NEW", "APPROVED", True),
        ("DEPOSITED", "REMITTED", True),
        ("RECONCILED", "APPROVED", True),
        ("CANCELLED", "CANCELLED", False),
        ("DISHONOURED", "DISHONOURED", False),
        ("NEW", "DISHONOURED", False),
        ("CANCELLED", "APPROVED", False),
        ("NEW", "REJECTED", False),
    ],
)
def test_a_payment_is_live_until_cancelled_or_dishonoured(payment_status, instrument_status, live):
    payment = DigitPayment(
        id="p",
        tenant_id="pb.amritsar",
        payment_mode="CASH",
        payment_status=payment_status,
        instrument_status=instrument_status,
        total_amount_paid=Decimal(1),
        transaction_number=None,
        transaction_date=None,
        paid_by=None,
        payer_name=None,
        mobile_number=None,
        additional_details={},
        details=(),
    )
    assert payment.is_live is live
