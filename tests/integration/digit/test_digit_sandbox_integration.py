"""The DIGIT client against the sandbox over real HTTP, with the token in a real Redis."""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
import redis as redis_lib
import requests

from integrator.digit.auth import TokenManager
from integrator.digit.client import DigitClient
from integrator.digit.errors import (
    DigitAuthError,
    DigitAuthLocked,
    DigitForbidden,
    DigitOutcomeUnknown,
    DigitUnavailable,
)
from integrator.digit.http import Transport, build_session
from integrator.digit.models import Bill, PaymentCreate, PaymentLine, WorkflowItem
from integrator.settings import Settings
from integrator.store.tokens import StoredToken, TokenStore
from tests.integration.digit.digit_procs import fetch_in_own_process
from tests.support.processes import sandbox_server

WS_CONSUMER = "WS/107/2019-20/000022"
RAMESH_MOBILE = "9876543210"


def _counters(sandbox: str) -> dict[str, Any]:
    answer = requests.get(f"{sandbox}/_sandbox/counters", timeout=5)
    answer.raise_for_status()
    return dict(answer.json())


def _requests(sandbox: str, since: int = 0) -> list[dict[str, Any]]:
    """What the sandbox was sent after request `since` (0: everything it recorded)."""
    answer = requests.get(f"{sandbox}/_sandbox/requests", params={"since": since}, timeout=5)
    answer.raise_for_status()
    return list(answer.json()["requests"])


def _faults(sandbox: str, **faults: Any) -> None:
    requests.post(f"{sandbox}/_sandbox/faults", json=faults, timeout=5).raise_for_status()


def _client(settings: Settings, redis: redis_lib.Redis) -> DigitClient:
    return DigitClient(settings=settings, redis=redis)


def _ws_bill(client: DigitClient) -> Bill:
    [bill] = client.fetch_bills(
        tenant_id="pb.amritsar", business_service="WS", consumer_code=WS_CONSUMER
    )
    return bill


def _pay(bill: Bill, amount: Decimal | None = None) -> PaymentCreate:
    return PaymentCreate(
        tenant_id=bill.tenant_id,
        payment_mode="CASH",
        paid_by="Ramesh Kumar",
        payer_name="Ramesh Kumar",
        mobile_number=RAMESH_MOBILE,
        transaction_number="POS-IT-1",
        lines=(
            PaymentLine(
                bill_id=bill.id,
                business_service=bill.business_service,
                amount=amount if amount is not None else bill.total_amount,
                total_due=bill.total_amount,
            ),
        ),
        additional_details={"posTxnId": "POS-IT-1"},
    )


def test_fetch_a_seed_bill(sandbox, settings, redis):
    bill = _ws_bill(_client(settings, redis))
    assert bill.consumer_code == WS_CONSUMER and bill.status == "ACTIVE"
    assert type(bill.total_amount) is Decimal and bill.total_amount > 0
    assert bill.expires_at is not None and bill.expires_at.tzinfo is not None
    assert _counters(sandbox)["login"] == 1


def test_bills_for_a_mobile_across_services_and_cities(sandbox, settings, redis):
    found = _client(settings, redis).mobile_lookup(tenant_id="pb", mobile_number=RAMESH_MOBILE)
    bills = found.bills
    assert {b.tenant_id for b in bills} == {"pb.amritsar", "pb.jalandhar"}
    assert found.failed_tenants == ("pb.nawanshahr",)  # no role there: DIGIT refuses the search
    assert {"WS", "SW", "PT"} <= {b.business_service for b in bills}
    assert all(b.status == "ACTIVE" for b in bills)


def test_payment_create_then_search_by_bill_id(sandbox, settings, redis):
    client = _client(settings, redis)
    bill = _ws_bill(client)

    created = client.create_payment(_pay(bill))

    [detail] = created.details
    assert detail.bill_id == bill.id and detail.receipt_number
    assert created.total_amount_paid == bill.total_amount
    found = client.search_payments(tenant_id="pb.amritsar", module="WS", bill_ids=[bill.id])
    assert [p.id for p in found] == [created.id]
    assert found[0].details[0].receipt_number == detail.receipt_number


def test_eight_processes_needing_a_token_at_once_cause_exactly_one_login(sandbox, settings):
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    env = {
        "DIGIT_BASE_URL": settings.digit_base_url,
        "DIGIT_USERNAME": settings.digit_username,
        "DIGIT_PASSWORD": settings.digit_password,
        "DIGIT_TENANT_ID": settings.digit_tenant_id,
        "REDIS_URL": settings.redis_url,
        "DATABASE_URL": settings.database_url,
        "DIGIT_READ_TIMEOUT": "5",
    }
    redis_lib.Redis.from_url(settings.redis_url).flushdb()
    procs = [ctx.Process(target=fetch_in_own_process, args=(env, start, results)) for _ in range(8)]
    for p in procs:
        p.start()
    try:
        time.sleep(1.5)  # let every interpreter start and build its client
        start.set()
        outcomes = [results.get(timeout=30) for _ in procs]
    finally:
        for p in procs:
            p.join(10)
    assert outcomes == [("ok", 1)] * 8
    assert _counters(sandbox)["login"] == 1


def test_revoked_token_causes_one_relogin_and_success(sandbox, settings, redis):
    client = _client(settings, redis)
    _ws_bill(client)
    requests.post(f"{sandbox}/_sandbox/revoke-tokens", timeout=5).raise_for_status()

    _ws_bill(client)

    assert _counters(sandbox)["login"] == 2


def _expire_tokens_by_digits_clock(sandbox: str) -> None:
    """DIGIT's clock moves past every token it issued; ours still counts them valid."""
    requests.post(
        f"{sandbox}/_sandbox/clock", json={"advance_seconds": 16 * 86400}, timeout=5
    ).raise_for_status()


def test_a_refused_token_another_thread_read_before_it_was_dropped_is_not_sent_again(
    sandbox: str, settings: Settings, redis: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A look-up's searches run at once on one client. DIGIT refuses the token of both; this
    # thread drops it while another (its own call about to be refused too) reads it from Redis
    # before the delete lands and remembers it. The retry of this thread's read must log in,
    # not take the refused token back from the memo ("DIGIT refused a freshly obtained token":
    # the registration ended AUTH_BLOCKED)
    client = _client(settings, redis)
    _ws_bill(client)
    _expire_tokens_by_digits_clock(sandbox)
    delete_if = TokenStore.delete_if

    def another_thread_reads_it_first(store: TokenStore, access_token: str) -> bool:
        monkeypatch.setattr(TokenStore, "delete_if", delete_if)
        client.ensure_token()  # the other thread's call takes the token that is being dropped
        return delete_if(store, access_token)

    monkeypatch.setattr(TokenStore, "delete_if", another_thread_reads_it_first)

    assert _ws_bill(client).consumer_code == WS_CONSUMER
    assert _counters(sandbox)["login"] == 2


def test_a_token_read_as_another_thread_drops_it_is_not_remembered(
    sandbox: str, settings: Settings, redis: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the other order: this thread's read of the token completes, then another thread drops
    # it as refused, then this thread would remember what it read
    manager = TokenManager(
        settings=settings,
        redis=redis,
        transport=Transport(settings=settings, session=build_session(settings)),
    )
    refused = manager.token()  # a login: nothing remembered yet
    _expire_tokens_by_digits_clock(sandbox)
    read = TokenStore.get

    def dropped_by_another_thread_after_the_read(store: TokenStore) -> StoredToken | None:
        monkeypatch.setattr(TokenStore, "get", read)
        token = read(store)
        assert manager.invalidate(refused)
        return token

    monkeypatch.setattr(TokenStore, "get", dropped_by_another_thread_after_the_read)

    assert manager.token() == refused  # read before the drop: this call gets it (and a 401)
    assert manager.token() != refused  # ... but it is not remembered: the next call logs in
    assert _counters(sandbox)["login"] == 2


def test_roles_reloaded_for_a_token_stored_without_them_are_what_the_client_goes_by_at_once(
    sandbox: str, settings: Settings, redis: redis_lib.Redis
) -> None:
    # a token stored by an older version has no roles: the payment service logs in once to
    # learn them (reload_roles), then asks may_create. That answer must come from the roles
    # just stored, not from the roles-less token the client remembered on the way
    client = _client(settings, redis)
    _ws_bill(client)
    store = TokenStore(redis)
    current = store.get()
    assert current is not None and current.roles
    store.save(dataclasses.replace(current, roles=()), now=time.time())
    assert client.roles() == () and not client.may_create("pb.amritsar")

    reloaded = client.reload_roles()

    assert reloaded and client.roles() == reloaded
    assert client.may_create("pb.amritsar")


@pytest.mark.parametrize(
    ("linger_seconds", "refused"), [(0, 400), (86400, 401)], ids=["gone", "expired-stored"]
)
def test_a_refresh_token_digit_expired_before_we_expected_is_replaced_by_a_login(
    sandbox: str,
    settings: Settings,
    redis: redis_lib.Redis,
    linger_seconds: int,
    refused: int,
) -> None:
    # our clocks differ: we still count the refresh token alive, DIGIT's expired it. Gone from
    # its store it is 400 invalid_grant, still stored 401 invalid_token (corrections 6); either
    # way the client logs in and the call goes through
    requests.post(
        f"{sandbox}/_sandbox/refresh-tokens", json={"linger_seconds": linger_seconds}, timeout=5
    ).raise_for_status()
    ahead = [0.0]
    client = DigitClient(settings=settings, redis=redis, clock=lambda: time.time() + ahead[0])
    _ws_bill(client)
    requests.post(
        f"{sandbox}/_sandbox/clock", json={"advance_seconds": 14 * 86400 + 10}, timeout=5
    ).raise_for_status()
    ahead[0] = 14 * 86400 - 100  # access token due, refresh token alive: by our clock
    seen = max((r["seq"] for r in _requests(sandbox)), default=0)

    assert _ws_bill(client).consumer_code == WS_CONSUMER

    token_calls = [
        (r["status"], parse_qs(r["body"])["grant_type"][0])
        for r in _requests(sandbox, since=seen)
        if r["path"] == "/user/oauth/token"
    ]
    assert token_calls == [(refused, "refresh_token"), (200, "password")]


def test_sandbox_down_is_unavailable(sandbox, settings, redis):
    client = _client(settings, redis)
    _ws_bill(client)  # logged in
    _faults(sandbox, down=True)
    with pytest.raises(DigitUnavailable):
        _ws_bill(client)
    assert client.ping() is False
    _faults(sandbox, down=False)
    assert client.ping() is True


def test_timeout_after_commit_is_unavailable_and_the_payment_is_found_by_search(
    sandbox, settings, redis
):
    short = settings.with_changes(digit_read_timeout=1.0)
    client = _client(short, redis)
    bill = _ws_bill(client)
    _faults(sandbox, timeout_after_commit=1, hang_seconds=3)

    with pytest.raises(DigitUnavailable):
        client.create_payment(_pay(bill))

    found = client.search_payments(tenant_id="pb.amritsar", module="WS", bill_ids=[bill.id])
    assert len(found) == 1  # committed, although the answer never came


def test_unknown_400_after_commit_is_outcome_unknown(sandbox, settings, redis):
    client = _client(settings, redis)
    bill = _ws_bill(client)
    _faults(sandbox, unknown_400_after_commit=1)

    with pytest.raises(DigitOutcomeUnknown) as err:
        client.create_payment(_pay(bill))

    assert err.value.status == 400 and err.value.codes


def test_bad_password_stops_after_two_logins(sandbox, settings, redis):
    client = _client(settings.with_changes(digit_password="wrong-password"), redis)
    with pytest.raises(DigitAuthError):
        _ws_bill(client)
    for _ in range(3):
        with pytest.raises(DigitAuthLocked):
            _ws_bill(client)
    assert _counters(sandbox)["login"] == 2
    assert client.auth_state().locked


def test_a_citizen_account_may_not_create_payments(sandbox, settings, redis):
    employee = _client(settings, redis)
    bill = _ws_bill(employee)
    redis.flushdb()  # the citizen gets its own token
    citizen = _client(
        settings.with_changes(
            digit_username="9876500000",
            digit_password="citizen-password",
            digit_user_type="CITIZEN",
            digit_tenant_id="pb",
        ),
        redis,
    )

    with pytest.raises(DigitForbidden) as err:
        citizen.create_payment(_pay(bill))

    assert err.value.status == 403


def test_payment_rules_and_tenants_from_the_sandbox_mdms(sandbox, settings, redis):
    client = _client(settings, redis)
    rules = client.payment_rules()
    assert client.last_source["BillingService.BusinessService"] == "mdms"
    assert rules["WS"].part_payment_allowed and rules["WS"].min_amount_payable == Decimal(100)
    assert {"pb.amritsar", "pb.jalandhar"} <= {t.code for t in client.tenants()}


def test_a_cancelled_payment_is_found_where_the_deployment_hides_cancelled_ones(
    settings: Settings, redis: redis_lib.Redis
) -> None:
    # `search.ignore.status=CANCELLED` (digest, corrections 11): a search naming neither status
    # nor receipt numbers would not see it; ours name every status
    with sandbox_server(extra_args=("--search-ignore-status", "CANCELLED")) as url:
        client = _client(settings.with_changes(digit_base_url=url), redis)
        [bill] = client.fetch_bills(
            tenant_id="pb.amritsar", business_service="PT", consumer_code="PT-107-000123"
        )
        start = datetime.now(UTC) - timedelta(days=1)
        created = client.create_payment(_pay(bill))
        [cancelled] = client.workflow(
            tenant_id="pb.amritsar",
            module="PT",
            action="CANCEL",
            items=[WorkflowItem(payment_id=created.id, reason="collected twice")],
        )
        assert cancelled.is_cancelled

        by_bill = client.search_payments(tenant_id="pb.amritsar", module="PT", bill_ids=[bill.id])
        in_range, cut = client.payments_between(
            tenant_id="pb.amritsar",
            module="PT",
            start=start,
            end=datetime.now(UTC) + timedelta(days=1),
        )

    assert [(p.id, p.is_cancelled) for p in by_bill] == [(created.id, True)]
    assert [(p.id, p.is_cancelled) for p in in_range] == [(created.id, True)] and not cut


@pytest.mark.parametrize(("gateway", "status"), [("zuul", 403), ("scg", 401)])
def test_a_role_denial_is_forbidden_on_either_gateway(
    settings: Settings, redis: redis_lib.Redis, gateway: str, status: int
) -> None:
    # no role of ours in Nawanshahr: Zuul says 403, SCG 401 like a missing token (corrections 3);
    # after one fresh login the 401 is read as the denial it is, not as a bad token
    with sandbox_server(extra_args=("--gateway", gateway)) as url:
        client = _client(settings.with_changes(digit_base_url=url), redis)
        with pytest.raises(DigitForbidden) as refused:
            client.fetch_bills(
                tenant_id="pb.nawanshahr",
                business_service="WS",
                consumer_code="WS/1801/2019-20/000301",
            )
        # the token was good: it is kept, and the next allowed call needs no login
        assert client.fetch_bills(
            tenant_id="pb.amritsar", business_service="WS", consumer_code=WS_CONSUMER
        )
        counters = _counters(url)

    assert refused.value.status == status
    assert refused.value.tenants == ("pb.nawanshahr",)
    assert counters["rbac_denied"] == (1 if gateway == "zuul" else 2)
    assert counters["login"] == (1 if gateway == "zuul" else 2)


def test_an_scg_role_denial_of_a_write_is_forbidden_and_keeps_the_token(
    settings: Settings, redis: redis_lib.Redis
) -> None:
    # SCG answers a denied create or cancellation with 401 without InvalidAccessTokenException
    # (corrections 3): DigitForbidden at once, not a refused token, and no login is spent on it
    with sandbox_server(extra_args=("--gateway", "scg")) as url:
        client = _client(settings.with_changes(digit_base_url=url), redis)
        bill = _ws_bill(client)
        elsewhere = dataclasses.replace(_pay(bill), tenant_id="pb.nawanshahr")
        with pytest.raises(DigitForbidden) as create_refused:
            client.create_payment(elsewhere)  # no role of ours in Nawanshahr
        with pytest.raises(DigitForbidden) as cancel_refused:
            client.workflow(  # nobody may cancel WS payments (the reference has no action)
                tenant_id="pb.amritsar",
                module="WS",
                action="CANCEL",
                items=[WorkflowItem(payment_id="any")],
            )
        assert _ws_bill(client) == bill  # the token was kept: no login for this call
        counters = _counters(url)

    assert create_refused.value.status == cancel_refused.value.status == 401
    assert create_refused.value.tenants == ("pb.nawanshahr",)
    assert cancel_refused.value.tenants == ("pb.amritsar",)
    assert counters["rbac_denied"] == 2 and counters["payment_create"] == 1
    assert counters["login"] == 1


def test_a_create_refused_for_a_token_another_process_refreshed_is_sent_again_once(
    sandbox: str, settings: Settings, redis: redis_lib.Redis
) -> None:
    # another process refreshes the shared token: DIGIT revokes ours at once (corrections 6)
    # while this process still remembers it. The gateway refuses the create, so nothing was
    # written; it goes again with the stored successor, without a login
    client = _client(settings, redis)
    bill = _ws_bill(client)
    _ws_bill(client)  # the token is now remembered by this process
    store = TokenStore(redis)
    current = store.get()
    assert current is not None and current.refresh_token is not None
    refreshed = requests.post(
        f"{sandbox}/user/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": current.refresh_token},
        auth=("egov-user-client", ""),
        timeout=5,
    )
    refreshed.raise_for_status()
    store.save(
        dataclasses.replace(current, access_token=refreshed.json()["access_token"]),
        now=time.time(),
    )

    created = client.create_payment(_pay(bill))

    counters = _counters(sandbox)
    assert counters["payment_create"] == 2
    assert counters["login"] == 2  # the sandbox counts token requests: ours and its refresh
    assert [p["id"] for p in _sandbox_payments(sandbox, bill.id)] == [created.id]


def _sandbox_payments(sandbox: str, bill_id: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{sandbox}/_sandbox/payments", timeout=5)
    answer.raise_for_status()
    found = answer.json()
    payments = found["Payments"] if isinstance(found, dict) else found
    return [p for p in payments if any(d["billId"] == bill_id for d in p["paymentDetails"])]
