"""DigitClient operations: request shapes, answers and errors as types, MDMS cache and fallback."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

import integrator.digit
from integrator import jsonutil
from integrator.digit.client import DEFAULT_CONFIG_DIR, DigitClient
from integrator.digit.errors import (
    DigitAnswered,
    DigitAuthError,
    DigitForbidden,
    DigitOutcomeUnknown,
    DigitRejected,
    DigitTokenRefused,
    DigitUnavailable,
)
from integrator.digit.http import build_session, request_info
from integrator.digit.models import PaymentCreate, PaymentLine, WorkflowItem
from integrator.digit.parse import datetime_to_epoch_ms, epoch_ms_to_datetime
from integrator.masking import mask_mobile
from integrator.store import keys
from integrator.store.tokens import TokenStore
from tests.unit.digit.digit_unit_helpers import (
    BASE,
    CREATE_URL,
    EXPIRY_MS,
    FETCH_URL,
    MDMS_URL,
    SEARCH_URL,
    TOKEN_URL,
    add_json,
    assert_no_floats,
    bill_response,
    error_res,
    make_bill,
    payment_response,
    token_answer,
)


@pytest.fixture
def logged_in(rsps):
    add_json(rsps, TOKEN_URL, token_answer())
    return rsps


def _business_calls(rsps):
    return [c for c in rsps.calls if c.request.url.split("?")[0] != TOKEN_URL]


def _query(call) -> dict[str, str]:
    from urllib.parse import parse_qs, urlsplit

    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


# --- request shapes ---


def test_request_info_is_built_in_one_place_with_a_fresh_msg_id():
    first, second = request_info("tok", action="_search"), request_info("tok")
    assert first["apiId"] == "Rainmaker" and first["authToken"] == "tok"
    assert isinstance(first["ts"], int) and first["ts"] > 1_600_000_000_000
    assert first["msgId"] != second["msgId"]
    assert "authToken" not in request_info(None)


def test_fetch_bills_sends_criteria_as_query_params_and_request_info_in_the_body(logged_in, client):
    add_json(logged_in, FETCH_URL, bill_response(make_bill()), status=201)

    client.fetch_bills(
        tenant_id="pb.amritsar", business_service="WS", consumer_code="WS/107/2019-20/000022"
    )

    call = _business_calls(logged_in)[0]
    assert call.request.method == "POST"
    assert _query(call) == {
        "tenantId": "pb.amritsar",
        "businessService": "WS",
        "consumerCode": "WS/107/2019-20/000022",
    }
    body = jsonutil.loads(call.request.body)
    assert set(body) == {"RequestInfo"}
    assert body["RequestInfo"]["authToken"] == "tok-1"
    assert call.request.headers["Content-Type"].startswith("application/json")


def test_every_call_has_explicit_timeouts_and_tls_verification(logged_in, client, digit_settings):
    add_json(logged_in, FETCH_URL, bill_response(), status=201)
    client.fetch_bills(tenant_id="pb.amritsar", business_service="WS", consumer_code="c")
    for call in logged_in.calls:
        assert call.request.req_kwargs["timeout"] == (1.5, 4.0)
        assert call.request.req_kwargs["verify"] not in (False, None, "")


def test_the_session_pools_connections_and_always_verifies(digit_settings):
    session = build_session(digit_settings.with_changes(digit_pool_size=17))
    adapter = session.get_adapter("https://digit.test/")
    assert adapter._pool_maxsize == 17  # type: ignore[attr-defined]
    assert session.verify is True


def test_search_bills_uses_the_service_param_and_comma_joined_values(logged_in, client):
    add_json(logged_in, SEARCH_URL, bill_response(make_bill(), make_bill(bill_id="bill-2")))

    bills = client.search_bills(
        tenant_id="pb.amritsar",
        bill_ids=["bill-1", "bill-2"],
        consumer_codes=["C1", "C2"],
        business_service="WS",
        mobile_number="9876543210",
    )

    assert [b.id for b in bills] == ["bill-1", "bill-2"]
    assert _query(_business_calls(logged_in)[0]) == {
        "tenantId": "pb.amritsar",
        "billId": "bill-1,bill-2",
        "consumerCode": "C1,C2",
        "service": "WS",
        "mobileNumber": "9876543210",
    }


def test_search_bills_refuses_consumer_codes_without_a_service_before_calling_digit(client, rsps):
    with pytest.raises(ValueError):
        client.search_bills(tenant_id="pb.amritsar", consumer_codes=["C1"])
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.search_bills(tenant_id="pb", mobile_number="9876543210"),
        lambda c: c.fetch_bills(tenant_id="pb", business_service="WS", consumer_code="C1"),
        lambda c: c.fetch_bills_by_mobile(
            tenant_id="pb", business_service="WS", mobile_number="9876543210"
        ),
    ],
    ids=["search", "fetch", "fetch-by-mobile"],
)
def test_a_state_tenant_is_never_sent_to_billing(client, rsps, call):
    with pytest.raises(ValueError, match="city tenant"):
        call(client)
    assert len(rsps.calls) == 0


def test_create_payment_builds_the_digest_body(logged_in, client):
    add_json(logged_in, CREATE_URL, payment_response())
    payment = PaymentCreate(
        tenant_id="pb.amritsar",
        payment_mode="CARD",
        paid_by="Ramesh Kumar",
        payer_name="Ramesh Kumar",
        mobile_number="9876543210",
        lines=(
            PaymentLine(
                bill_id="bill-1",
                business_service="WS",
                amount=Decimal("1200"),
                total_due=Decimal("1200.50"),
            ),
            PaymentLine(
                bill_id="bill-2",
                business_service="SW",
                amount=Decimal("300"),
                total_due=Decimal("300"),
            ),
        ),
        transaction_number="POS-42",
        instrument_number="4242",
        instrument_date=datetime(2025, 1, 1, tzinfo=UTC),
        additional_details={"posTxnId": "POS-42"},
    )

    client.create_payment(payment)

    call = _business_calls(logged_in)[0]
    assert call.request.url == CREATE_URL
    raw = call.request.body.decode()
    assert "1200.50" in raw  # written as a number, exactly
    body = jsonutil.loads(raw)
    assert body["RequestInfo"]["authToken"] == "tok-1"
    assert body["Payment"] == {
        "tenantId": "pb.amritsar",
        "totalDue": Decimal("1500.50"),
        "totalAmountPaid": Decimal("1500"),
        "paidBy": "Ramesh Kumar",
        "payerName": "Ramesh Kumar",
        "mobileNumber": "9876543210",
        "paymentMode": "CARD",
        "transactionNumber": "POS-42",
        "instrumentNumber": "4242",
        "instrumentDate": 1_735_689_600_000,
        "additionalDetails": {"posTxnId": "POS-42"},
        "paymentDetails": [
            {
                "billId": "bill-1",
                "businessService": "WS",
                "totalDue": Decimal("1200.50"),
                "totalAmountPaid": Decimal("1200"),
            },
            {
                "billId": "bill-2",
                "businessService": "SW",
                "totalDue": Decimal("300"),
                "totalAmountPaid": Decimal("300"),
            },
        ],
    }


def test_create_payment_leaves_out_absent_optional_fields(logged_in, client):
    add_json(logged_in, CREATE_URL, payment_response())
    client.create_payment(
        PaymentCreate(
            tenant_id="pb.amritsar",
            payment_mode="CASH",
            paid_by="Ramesh",
            payer_name=None,
            mobile_number=None,
            transaction_number="POS-1",
            lines=(
                PaymentLine(
                    bill_id="bill-1",
                    business_service="WS",
                    amount=Decimal(100),
                    total_due=Decimal(100),
                ),
            ),
        )
    )
    sent = jsonutil.loads(_business_calls(logged_in)[0].request.body)["Payment"]
    assert not {"payerName", "mobileNumber", "instrumentNumber", "instrumentDate"} & set(sent)


def test_search_payments_requires_and_uses_the_module_path(logged_in, client):
    url = f"{BASE}/collection-services/payments/WS/_search"
    add_json(logged_in, url, payment_response())

    found = client.search_payments(
        tenant_id="pb.amritsar",
        module="WS",
        bill_ids=["b1", "b2"],
        receipt_numbers=["R1"],
        consumer_codes=["C1"],
        transaction_number="T1",
        mobile_number="9876543210",
    )

    assert len(found) == 1 and found[0].details[0].receipt_number == "01/2025-26/001234"
    assert _query(_business_calls(logged_in)[0]) == {
        "tenantId": "pb.amritsar",
        "billIds": "b1,b2",
        "receiptNumbers": "R1",
        "consumerCodes": "C1",
        "transactionNumber": "T1",
        "mobileNumber": "9876543210",
        "limit": "100",
        "offset": "0",
    }
    with pytest.raises(ValueError):
        client.search_payments(tenant_id="pb.amritsar", module="")


# --- answers as types ---


def test_bills_are_parsed_with_decimals_and_aware_datetimes(logged_in, client):
    add_json(
        logged_in, FETCH_URL, bill_response(make_bill(total="1200.50"), fresh=True), status=201
    )

    [bill] = client.fetch_bills(
        tenant_id="pb.amritsar", business_service="WS", consumer_code="WS/107/2019-20/000022"
    )

    assert bill.total_amount == Decimal("1200.50") and type(bill.total_amount) is Decimal
    assert type(bill.details[0].account_details[0].amount) is Decimal
    assert type(bill.details[0].account_details[0].order) is int
    assert bill.expires_at == datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert bill.expires_at is not None and bill.expires_at.tzinfo == ZoneInfo("Asia/Kolkata")
    assert bill.lines() == {"WS_CHARGE": Decimal("1200.50")}
    assert_no_floats(bill)


def test_nothing_due_is_an_empty_list_not_an_error(logged_in, client):
    add_json(logged_in, FETCH_URL, bill_response(fresh=True), status=201)
    assert (
        client.fetch_bills(tenant_id="pb.amritsar", business_service="WS", consumer_code="nobody")
        == []
    )


def test_payments_are_parsed_with_decimals(logged_in, client):
    add_json(
        logged_in,
        f"{BASE}/collection-services/payments/WS/_search",
        payment_response(paid="1200", due="1200.50"),
    )
    [payment] = client.search_payments(tenant_id="pb.amritsar", module="WS", bill_ids=["bill-1"])
    assert payment.total_amount_paid == Decimal(1200)
    detail = payment.details[0]
    assert (detail.bill_id, detail.business_service, detail.consumer_code) == (
        "bill-1",
        "WS",
        "WS/107/2019-20/000022",
    )
    assert detail.total_due == Decimal("1200.50") and detail.amount_paid == Decimal(1200)
    assert detail.receipt_date is not None and detail.receipt_date.tzinfo is not None
    assert payment.is_live
    assert_no_floats(payment)


def test_epoch_milliseconds_become_aware_datetimes_and_back():
    tz = ZoneInfo("Asia/Kolkata")
    when = epoch_ms_to_datetime(Decimal(EXPIRY_MS), tz)
    assert when is not None
    assert when.utcoffset() is not None and when.tzinfo == tz
    assert when.isoformat() == "2026-01-01T05:29:59+05:30"
    assert datetime_to_epoch_ms(when) == EXPIRY_MS
    assert epoch_ms_to_datetime(None, tz) is None
    with pytest.raises(ValueError):
        datetime_to_epoch_ms(datetime(2025, 1, 1))


def test_a_garbled_bill_is_unavailable_and_a_garbled_create_is_unknown(logged_in, client):
    add_json(logged_in, FETCH_URL, {"ResposneInfo": None, "Bill": [{"id": "x"}]}, status=201)
    with pytest.raises(DigitUnavailable):
        client.fetch_bills(tenant_id="pb.amritsar", business_service="WS", consumer_code="c")
    logged_in.add("POST", CREATE_URL, body="<html>oops</html>", status=200)
    with pytest.raises(DigitOutcomeUnknown):
        client.create_payment(
            PaymentCreate(
                tenant_id="pb.amritsar",
                payment_mode="CASH",
                paid_by="Ramesh",
                payer_name=None,
                mobile_number=None,
                transaction_number="t",
                lines=(
                    PaymentLine(
                        bill_id="b", business_service="WS", amount=Decimal(1), total_due=Decimal(1)
                    ),
                ),
            )
        )


# --- errors as types ---


def _create(client: DigitClient):
    return client.create_payment(
        PaymentCreate(
            tenant_id="pb.amritsar",
            payment_mode="CASH",
            paid_by="Ramesh",
            payer_name=None,
            mobile_number=None,
            transaction_number="t",
            lines=(
                PaymentLine(
                    bill_id="bill-1",
                    business_service="WS",
                    amount=Decimal(100),
                    total_due=Decimal(100),
                ),
            ),
        )
    )


@pytest.mark.parametrize(
    "answer",
    [
        {"body": requests.ConnectTimeout("connect timed out")},
        {"body": requests.ReadTimeout("read timed out")},
        {"body": requests.ConnectionError("refused")},
        {"status": 500, "body": "{}"},
        {"status": 503, "body": ""},
        {"status": 429, "body": "{}"},
        {
            "status": 502,
            "body": jsonutil.dumps(
                {
                    "ResponseInfo": None,
                    "Errors": [
                        {
                            "code": "ResourceAccessException",
                            "message": "The backend service is unreachable",
                        }
                    ],
                }
            ),
        },
    ],
    ids=["connect-timeout", "read-timeout", "connection-error", "500", "503", "429", "502"],
)
def test_no_usable_answer_is_unavailable(logged_in, client, answer):
    logged_in.add("POST", CREATE_URL, **answer)
    with pytest.raises(DigitUnavailable):
        _create(client)


@pytest.mark.parametrize(
    "codes",
    [
        ("NullPointerException",),
        ("APPORTIONING_FAILED_CODE",),
        ("DataIntegrityViolationException",),
        ("BILL_ALREADY_PAID", "NullPointerException"),  # one unknown code taints the answer
        (),
    ],
)
def test_a_400_that_is_not_a_refusal_is_outcome_unknown(logged_in, client, codes):
    add_json(logged_in, CREATE_URL, error_res(*codes), status=400)
    with pytest.raises(DigitOutcomeUnknown) as err:
        _create(client)
    assert err.value.codes == codes
    assert not isinstance(err.value, DigitRejected)


def test_an_unparseable_400_is_outcome_unknown(logged_in, client):
    logged_in.add("POST", CREATE_URL, body="Internal error <html>", status=400)
    with pytest.raises(DigitOutcomeUnknown):
        _create(client)


@pytest.mark.parametrize(
    "codes",
    [
        ("BILL_ALREADY_PAID",),
        ("BILL_EXPIRED", "INVALID_PAYMENTDETAIL"),
        ("INVALID_BILL_ID",),
        ("NotNull.paymentRequest.payment.paidBy",),
        ("Pattern.paymentRequest.payment.mobileNumber",),
        ("Size.paymentRequest.payment.paymentDetails[0].billId",),
    ],
)
def test_known_validation_codes_are_a_refusal_with_the_codes(logged_in, client, codes):
    add_json(logged_in, CREATE_URL, error_res(*codes), status=400)
    with pytest.raises(DigitRejected) as err:
        _create(client)
    assert err.value.codes == codes
    assert err.value.status == 400
    assert err.value.errors[0].message == f"message of {codes[0]}"


def test_403_is_forbidden_an_answer_not_an_auth_error_nor_a_refusal(logged_in, client):
    add_json(
        logged_in,
        CREATE_URL,
        {
            "ResponseInfo": None,
            "Errors": [
                {"code": "CustomException", "message": "Not authorized to access this resource"}
            ],
        },
        status=403,
    )
    with pytest.raises(DigitForbidden) as err:
        _create(client)
    assert isinstance(err.value, DigitAnswered)
    assert not isinstance(err.value, DigitAuthError | DigitRejected)
    assert err.value.tenants == ("pb.amritsar",)  # the payment's tenant, checked by RBAC
    assert err.value.endpoint == "collection-services/payments/_create"
    assert len(_business_calls(logged_in)) == 1  # not retried


def _query_of(url: str) -> dict[str, str]:
    from urllib.parse import parse_qs, urlsplit

    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_mobile_numbers_are_masked_to_the_last_four_digits():
    assert mask_mobile("9876543210") == "******3210"
    assert mask_mobile(None) is None


# --- MDMS ---

MDMS_RULES = {
    "ResponseInfo": None,
    "MdmsRes": {
        "BillingService": {
            "BusinessService": [
                {
                    "code": "WS",
                    "partPaymentAllowed": True,
                    "isAdvanceAllowed": True,
                    "minAmountPayable": Decimal(100),
                    "collectionModesNotAllowed": ["DD"],
                },
                {
                    "code": "TL",
                    "partPaymentAllowed": False,
                    "isAdvanceAllowed": False,
                    "collectionModesNotAllowed": ["DD", "POSTAL_ORDER"],
                },
            ]
        }
    },
}


def test_payment_rules_come_from_mdms_for_the_state_tenant_and_are_cached(
    logged_in, client, redis, digit_settings
):
    add_json(logged_in, MDMS_URL, MDMS_RULES)

    rules = client.payment_rules()
    assert client.last_source["BillingService.BusinessService"] == "mdms"
    again = client.payment_rules()  # this process's memo: no Redis read, no parsing
    # another process (a new client) reads the shared copy in Redis, not MDMS
    other = DigitClient(settings=digit_settings, redis=redis, session=build_session(digit_settings))
    from_cache = other.payment_rules()

    assert rules == again == from_cache
    assert other.last_source["BillingService.BusinessService"] == "cache"
    assert len(_business_calls(logged_in)) == 1
    body = jsonutil.loads(_business_calls(logged_in)[0].request.body)
    assert body["MdmsCriteria"] == {
        "tenantId": "pb",
        "moduleDetails": [
            {"moduleName": "BillingService", "masterDetails": [{"name": "BusinessService"}]}
        ],
    }
    assert body["RequestInfo"]["authToken"] == "tok-1"
    ws = rules["WS"]
    assert ws.part_payment_allowed and ws.advance_allowed
    assert ws.min_amount_payable == Decimal(100) and type(ws.min_amount_payable) is Decimal
    assert ws.modes_not_allowed == frozenset({"DD"})
    assert rules["TL"].min_amount_payable is None
    ttl = redis.ttl(keys.digit_mdms("BillingService.BusinessService", "pb"))
    assert 0 < ttl <= digit_settings.mdms_cache_seconds


@pytest.mark.parametrize(
    "answer", [{"status": 503, "body": ""}, {"body": requests.ConnectionError("down")}]
)
def test_payment_rules_fall_back_to_the_config_file_when_mdms_is_unreachable(
    logged_in, client, answer
):
    logged_in.add("POST", MDMS_URL, **answer)

    rules = client.payment_rules()

    assert client.last_source["BillingService.BusinessService"] == "fallback"
    assert {"WS", "SW", "PT", "TL"} <= set(rules)
    assert rules["WS"].part_payment_allowed and rules["WS"].advance_allowed
    assert rules["WS"].min_amount_payable == Decimal(100)
    assert not rules["TL"].part_payment_allowed
    assert_no_floats(rules)


def test_the_fallback_files_ship_with_the_package():
    for name, master in (("payment-rules.json", "BusinessService"), ("tenants.json", "tenants")):
        data = json.loads((DEFAULT_CONFIG_DIR / name).read_text())
        assert data[master], name
    # package data: the fallbacks ship with the installed package, not beside a checkout
    assert DEFAULT_CONFIG_DIR.parent == Path(integrator.digit.__file__).resolve().parent


def test_tenants_come_from_mdms_or_the_fallback(logged_in, client, digit_settings, redis):
    add_json(
        logged_in,
        MDMS_URL,
        {
            "MdmsRes": {
                "tenant": {
                    "tenants": [
                        {"code": "pb.amritsar", "name": "Amritsar", "city": {"name": "Amritsar"}}
                    ]
                }
            }
        },
    )
    [tenant] = client.tenants()
    assert (tenant.code, tenant.city_name) == ("pb.amritsar", "Amritsar")

    redis.flushdb()
    logged_in.replace("POST", MDMS_URL, body=requests.ConnectTimeout("slow"))
    add_json(logged_in, TOKEN_URL, token_answer())
    fallback = DigitClient(settings=digit_settings, redis=redis)
    codes = {t.code for t in fallback.tenants()}
    assert fallback.last_source["tenant.tenants"] == "fallback"
    assert {"pb", "pb.amritsar", "pb.jalandhar"} <= codes


# --- ping ---


@pytest.mark.parametrize(("status", "up"), [(401, True), (200, True), (502, False), (503, False)])
def test_ping_needs_no_login(rsps, client, status, up):
    add_json(rsps, SEARCH_URL, error_res("CustomException"), status=status)
    assert client.ping() is up
    assert all(c.request.url.split("?")[0] != TOKEN_URL for c in rsps.calls)


def test_ping_is_false_when_digit_cannot_be_reached(rsps, client):
    rsps.add("POST", SEARCH_URL, body=requests.ConnectionError("refused"))
    assert client.ping() is False


def test_the_session_reads_nothing_from_the_environment_and_uses_the_configured_proxy(
    digit_settings,
):
    direct = build_session(digit_settings)
    assert direct.trust_env is False and direct.proxies == {}
    proxied = build_session(digit_settings.with_changes(digit_proxy_url="http://proxy:3128"))
    assert proxied.proxies == {"http": "http://proxy:3128", "https": "http://proxy:3128"}
    assert proxied.verify is not False


def test_a_refused_token_on_a_create_is_not_resent_within_the_call(logged_in, client, redis):
    add_json(
        logged_in,
        CREATE_URL,
        {
            "ResponseInfo": None,
            "Errors": [
                {
                    "code": "InvalidAccessTokenException",
                    "message": "An unhandled exception occurred",
                }
            ],
        },
        status=401,
    )

    with pytest.raises(DigitTokenRefused) as refused:
        _create(client)

    assert isinstance(refused.value, DigitAuthError)
    creates = [c for c in logged_in.calls if c.request.url.startswith(CREATE_URL)]
    assert len(creates) == 1  # the caller's next attempt (which looks first) sends it again
    assert redis.get(keys.digit_token()) is None  # the refused token was dropped


WORKFLOW_URL = f"{BASE}/collection-services/payments/PT/_workflow"
SCG_DENIALS = [
    error_res("CustomException"),
    {"message": "You are not authorized to access this resource"},
]


def _cancel(client: DigitClient):
    return client.workflow(
        tenant_id="pb.amritsar", module="PT", action="CANCEL", items=[WorkflowItem(payment_id="p")]
    )


@pytest.mark.parametrize("denial", SCG_DENIALS, ids=["error-res", "bare-message"])
@pytest.mark.parametrize(
    ("url", "write"), [(CREATE_URL, _create), (WORKFLOW_URL, _cancel)], ids=["create", "workflow"]
)
def test_a_plain_401_on_a_write_is_the_scg_role_denial_and_the_token_stays(
    logged_in, client, redis, denial, url, write
):
    # SCG answers a role denial with 401 and no InvalidAccessTokenException (digest, corrections
    # 3): the write was refused by the gateway, for our roles; the shared token is not at fault
    add_json(logged_in, url, denial, status=401)

    with pytest.raises(DigitForbidden) as refused:
        write(client)

    assert refused.value.status == 401 and refused.value.tenants == ("pb.amritsar",)
    assert len([c for c in logged_in.calls if c.request.url.startswith(url)]) == 1
    assert len([c for c in logged_in.calls if c.request.url == TOKEN_URL]) == 1
    stored = TokenStore(redis).get()
    assert stored is not None and stored.access_token == "tok-1"


INVALID_TOKEN = error_res("InvalidAccessTokenException")


def _replaced_by_another_process(redis, access_token: str = "tok-2") -> None:
    """Another process refreshed: DIGIT revoked our token and it stored the successor."""
    store = TokenStore(redis)
    current = store.get()
    assert current is not None
    store.save(dataclasses.replace(current, access_token=access_token), now=time.time())


def _sent_tokens(rsps, url: str) -> list[str]:
    return [
        jsonutil.loads(c.request.body)["RequestInfo"]["authToken"]
        for c in rsps.calls
        if c.request.url.startswith(url)
    ]


@pytest.mark.parametrize(
    ("url", "write", "answer"),
    [(CREATE_URL, _create, payment_response()), (WORKFLOW_URL, _cancel, payment_response())],
    ids=["create", "workflow"],
)
def test_a_write_refused_for_a_token_another_process_replaced_goes_again_with_the_newer_one(
    logged_in, client, redis, url, write, answer
):
    client.ensure_token()
    client.ensure_token()  # tok-1, now remembered by this process (TOKEN_MEMO_SECONDS)
    _replaced_by_another_process(redis)
    add_json(logged_in, url, INVALID_TOKEN, status=401)
    add_json(logged_in, url, answer)

    write(client)

    assert _sent_tokens(logged_in, url) == ["tok-1", "tok-2"]
    assert len([c for c in logged_in.calls if c.request.url == TOKEN_URL]) == 1  # no login
    stored = TokenStore(redis).get()
    assert stored is not None and stored.access_token == "tok-2"


def test_a_write_refused_again_with_the_newer_token_is_token_refused_after_two_sends(
    logged_in, client, redis
):
    client.ensure_token()
    client.ensure_token()  # tok-1, remembered
    _replaced_by_another_process(redis)
    add_json(logged_in, CREATE_URL, INVALID_TOKEN, status=401)

    with pytest.raises(DigitTokenRefused):
        _create(client)

    assert _sent_tokens(logged_in, CREATE_URL) == ["tok-1", "tok-2"]
    assert TokenStore(redis).get() is None  # the newer one was refused too: dropped


def test_a_write_refused_for_the_stored_token_itself_is_not_sent_again(logged_in, client, redis):
    client.ensure_token()
    add_json(logged_in, CREATE_URL, INVALID_TOKEN, status=401)

    with pytest.raises(DigitTokenRefused):
        _create(client)

    assert _sent_tokens(logged_in, CREATE_URL) == ["tok-1"]


def test_a_login_before_a_write_does_not_eat_the_writes_own_time(rsps, digit_settings, redis):
    # a login and a create, each within one call's deadline, but not both together
    settings = digit_settings.with_changes(digit_call_deadline_seconds=0.4)
    digit = DigitClient(settings=settings, redis=redis, session=build_session(settings))

    def slow(answer):
        def respond(request):
            time.sleep(0.25)
            return 200, {"Content-Type": "application/json"}, jsonutil.dumps(answer)

        return respond

    rsps.add_callback("POST", TOKEN_URL, callback=slow(token_answer()))
    rsps.add_callback("POST", CREATE_URL, callback=slow(payment_response()))

    digit.create_payment(
        PaymentCreate(
            tenant_id="pb.amritsar",
            payment_mode="CASH",
            paid_by="Ramesh Kumar",
            payer_name=None,
            mobile_number=None,
            transaction_number="POS-1",
            lines=(
                PaymentLine(
                    bill_id="bill-1",
                    business_service="WS",
                    amount=Decimal("1200"),
                    total_due=Decimal("1200"),
                ),
            ),
        )
    )

    assert [c.request.url for c in _business_calls(rsps)] == [CREATE_URL]
