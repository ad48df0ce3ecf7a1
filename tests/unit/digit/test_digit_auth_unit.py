"""The shared DIGIT token: login shape, single-flight, re-login on a refused token, refresh, and the
bad-credentials guard. DIGIT is faked with `responses`; the token lives in a real Redis."""

from __future__ import annotations

import base64
import logging
import threading
import time
from urllib.parse import parse_qs

import pytest
import redis as redis_lib
import responses as responses_lib

from integrator import jsonutil
from integrator.digit.auth import credentials_fingerprint, unlock
from integrator.digit.client import DigitClient
from integrator.digit.errors import (
    DigitAccountLocked,
    DigitAuthError,
    DigitAuthLocked,
    DigitForbidden,
    DigitUnavailable,
)
from integrator.digit.http import build_session
from integrator.store import keys
from integrator.store.tokens import StoredToken, TokenStore
from tests.unit.digit.digit_unit_helpers import (
    FETCH_URL,
    TOKEN_URL,
    add_json,
    bill_response,
    error_res,
    make_bill,
    token_answer,
)


def _form(call: responses_lib.Call) -> dict[str, str]:
    body = call.request.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _logins(rsps: responses_lib.RequestsMock, grant: str = "password") -> int:
    return sum(
        1 for c in rsps.calls if c.request.url == TOKEN_URL and _form(c).get("grant_type") == grant
    )


def _fetch(client: DigitClient) -> list[object]:
    return list(
        client.fetch_bills(
            tenant_id="pb.amritsar", business_service="WS", consumer_code="WS/107/2019-20/000022"
        )
    )


def test_login_is_a_basic_authenticated_form_post_with_password_grant(rsps, client):
    add_json(rsps, TOKEN_URL, token_answer())
    add_json(rsps, FETCH_URL, bill_response(make_bill()), status=201)

    _fetch(client)

    login = rsps.calls[0].request
    assert login.headers["Authorization"] == "Basic ZWdvdi11c2VyLWNsaWVudDo="
    assert login.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert _form(rsps.calls[0]) == {
        "grant_type": "password",
        "username": "INTEGRATOR_SYSTEM",
        "password": "s3cret-password",
        "scope": "read",
        "tenantId": "pb.amritsar",
        "userType": "EMPLOYEE",
    }
    body = jsonutil.loads(rsps.calls[1].request.body)
    assert body["RequestInfo"]["authToken"] == "tok-1"
    assert "Authorization" not in rsps.calls[1].request.headers


def test_client_secret_is_sent_in_the_basic_header(rsps, digit_settings, redis):
    settings = digit_settings.with_changes(digit_client_id="pos", digit_client_secret="shh")
    client = DigitClient(settings=settings, redis=redis, session=build_session(settings))
    add_json(rsps, TOKEN_URL, token_answer())
    add_json(rsps, FETCH_URL, bill_response(), status=201)

    _fetch(client)

    expected = base64.b64encode(b"pos:shh").decode()
    assert rsps.calls[0].request.headers["Authorization"] == f"Basic {expected}"


def test_the_token_is_shared_through_redis_and_reused(rsps, digit_settings, redis):
    add_json(rsps, TOKEN_URL, token_answer())
    add_json(rsps, FETCH_URL, bill_response(), status=201)
    first = DigitClient(settings=digit_settings, redis=redis)
    second = DigitClient(settings=digit_settings, redis=redis)

    _fetch(first)
    _fetch(second)
    _fetch(first)

    assert _logins(rsps) == 1
    assert TokenStore(redis).get() is not None


def test_many_threads_needing_a_token_at_once_cause_exactly_one_login(rsps, digit_settings, redis):
    def slow_login(request):  # type: ignore[no-untyped-def]
        time.sleep(0.3)
        return 200, {"Content-Type": "application/json"}, jsonutil.dumps(token_answer())

    rsps.add_callback("POST", TOKEN_URL, callback=slow_login)
    add_json(rsps, FETCH_URL, bill_response(), status=201)
    clients = [DigitClient(settings=digit_settings, redis=redis) for _ in range(8)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(clients))

    def work(c: DigitClient) -> None:
        barrier.wait()
        try:
            _fetch(c)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert errors == []
    assert _logins(rsps) == 1
    assert not redis.exists(keys.digit_token_renewal_lock())  # released


@pytest.mark.parametrize(
    ("status", "payload"),
    [
        (401, error_res("InvalidAccessTokenException")),
        (400, error_res("InvalidAccessTokenException")),  # egov-user's tracer, unwrapped
        (401, error_res("CustomException")),
    ],
    ids=["401-gateway", "400-invalid-access-token", "401-no-token"],
)
def test_a_refused_token_causes_one_relogin_and_one_retry(rsps, client, redis, status, payload):
    add_json(rsps, TOKEN_URL, token_answer("tok-1"))
    add_json(rsps, TOKEN_URL, token_answer("tok-2"))
    add_json(rsps, FETCH_URL, payload, status=status)
    add_json(rsps, FETCH_URL, bill_response(make_bill()), status=201)

    bills = _fetch(client)

    assert len(bills) == 1
    assert _logins(rsps) == 2
    sent = [
        jsonutil.loads(c.request.body)["RequestInfo"]["authToken"]
        for c in rsps.calls
        if c.request.url.startswith(FETCH_URL)
    ]
    assert sent == ["tok-1", "tok-2"]
    stored = TokenStore(redis).get()
    assert stored is not None and stored.access_token == "tok-2"


def test_a_token_refused_twice_is_an_auth_error_not_a_loop(rsps, client):
    add_json(rsps, TOKEN_URL, token_answer("tok-1"))
    add_json(rsps, TOKEN_URL, token_answer("tok-2"))
    add_json(rsps, FETCH_URL, error_res("InvalidAccessTokenException"), status=401)

    with pytest.raises(DigitAuthError):
        _fetch(client)

    assert len([c for c in rsps.calls if c.request.url.startswith(FETCH_URL)]) == 2
    assert _logins(rsps) == 2


@pytest.mark.parametrize(
    "denial",
    [
        error_res("CustomException"),
        {"message": "You are not authorized to access this resource"},
    ],
    ids=["error-res", "bare-message"],
)
def test_a_plain_401_for_a_fresh_token_is_the_scg_gateways_rbac_denial(rsps, client, redis, denial):
    # SCG answers a role denial with 401 (Zuul: 403); a fresh token refused without
    # InvalidAccessTokenException is about our roles, not the token (digest, corrections 3)
    add_json(rsps, TOKEN_URL, token_answer("tok-1"))
    add_json(rsps, TOKEN_URL, token_answer("tok-2"))
    add_json(rsps, FETCH_URL, denial, status=401)

    with pytest.raises(DigitForbidden) as refused:
        _fetch(client)

    assert refused.value.tenants == ("pb.amritsar",)
    assert len([c for c in rsps.calls if c.request.url.startswith(FETCH_URL)]) == 2
    assert _logins(rsps) == 2
    stored = TokenStore(redis).get()  # the fresh token was good: kept for the next call
    assert stored is not None and stored.access_token == "tok-2"


def test_a_confirmed_scg_denial_costs_no_login_on_the_next_reads(rsps, client, redis):
    # a city whose role is missing: the first read checks the plain 401 with a fresh token; the
    # next reads of the same endpoint and tenant take it for the same denial (no login storm)
    add_json(rsps, TOKEN_URL, token_answer("tok-1"))
    add_json(rsps, TOKEN_URL, token_answer("tok-2"))
    add_json(rsps, FETCH_URL, error_res("CustomException"), status=401)

    for _ in range(3):
        with pytest.raises(DigitForbidden):
            _fetch(client)

    assert _logins(rsps) == 2
    assert len([c for c in rsps.calls if c.request.url.startswith(FETCH_URL)]) == 4
    stored = TokenStore(redis).get()
    assert stored is not None and stored.access_token == "tok-2"


def test_a_bad_token_after_a_remembered_denial_is_still_renewed(rsps, client):
    # the memo only classifies a plain 401: InvalidAccessTokenException still means a new token
    add_json(rsps, TOKEN_URL, token_answer("tok-1"))
    add_json(rsps, TOKEN_URL, token_answer("tok-2"))
    add_json(rsps, TOKEN_URL, token_answer("tok-3"))
    add_json(rsps, FETCH_URL, error_res("CustomException"), status=401)
    add_json(rsps, FETCH_URL, error_res("CustomException"), status=401)
    add_json(rsps, FETCH_URL, error_res("InvalidAccessTokenException"), status=401)
    add_json(rsps, FETCH_URL, bill_response(make_bill()), status=201)

    with pytest.raises(DigitForbidden):
        _fetch(client)
    assert len(_fetch(client)) == 1

    assert _logins(rsps) == 3


def test_a_remembered_denial_is_per_tenant(rsps, client):
    add_json(rsps, TOKEN_URL, token_answer("tok-1"))
    add_json(rsps, TOKEN_URL, token_answer("tok-2"))
    add_json(rsps, TOKEN_URL, token_answer("tok-3"))
    add_json(rsps, FETCH_URL, error_res("CustomException"), status=401)

    with pytest.raises(DigitForbidden):
        _fetch(client)
    with pytest.raises(DigitForbidden) as other:
        client.fetch_bills(tenant_id="pb.jalandhar", business_service="WS", consumer_code="WS-9")

    assert other.value.tenants == ("pb.jalandhar",)
    assert _logins(rsps) == 3  # another city's plain 401 is checked with a fresh token too


def test_verifying_the_login_keeps_the_stored_token_as_it_was_when_digit_hands_it_back(
    rsps, client, redis
):
    # `integrator check` logs in whatever is stored; DIGIT hands the same valid token back, and
    # it must stay renewable by its refresh token (not marked final)
    add_json(rsps, TOKEN_URL, token_answer("tok-1"))
    add_json(rsps, FETCH_URL, bill_response(make_bill()), status=201)
    _fetch(client)
    before = TokenStore(redis).get()

    client.verify_login()

    after = TokenStore(redis).get()
    assert _logins(rsps) == 2
    assert after is not None and before is not None
    assert after.access_token == "tok-1" and not after.final
    assert after.renew_at == before.renew_at


def test_a_refused_verification_leaves_the_stored_token_alone(rsps, client, redis):
    add_json(rsps, TOKEN_URL, token_answer("tok-1"))
    add_json(rsps, FETCH_URL, bill_response(make_bill()), status=201)
    _fetch(client)
    rsps.replace(
        responses_lib.POST,
        TOKEN_URL,
        json={"error": "invalid_request", "error_description": "Invalid login credentials"},
        status=400,
    )

    with pytest.raises(DigitAuthError):
        client.verify_login()

    stored = TokenStore(redis).get()
    assert stored is not None and stored.access_token == "tok-1"


def test_compare_and_delete_does_not_drop_a_newer_token(redis):
    store = TokenStore(redis)
    now = time.time()
    store.save(
        StoredToken(
            access_token="newer", refresh_token=None, expires_at=now + 600, renew_at=now + 300
        ),
        now=now,
    )

    assert store.delete_if("stale") is False
    token = store.get()
    assert token is not None and token.access_token == "newer"
    assert store.delete_if("newer") is True
    assert store.get() is None


def test_renewal_lock_is_released_only_by_its_owner(redis):
    store = TokenStore(redis)
    owner = store.acquire_renewal_lock(ttl_ms=5000)
    assert owner is not None
    assert store.acquire_renewal_lock(ttl_ms=5000) is None
    assert store.release_renewal_lock("someone-else") is False
    assert store.renewal_in_progress()
    assert store.release_renewal_lock(owner) is True
    assert not store.renewal_in_progress()


def _store_due_token(redis: redis_lib.Redis, *, refresh: str | None = "ref-1") -> None:
    now = time.time()
    TokenStore(redis).save(
        StoredToken(
            access_token="old", refresh_token=refresh, expires_at=now + 60, renew_at=now - 1
        ),
        now=now,
    )


def test_a_token_due_for_renewal_is_refreshed_with_the_refresh_token(rsps, client, redis):
    _store_due_token(redis)
    add_json(rsps, TOKEN_URL, token_answer("tok-refreshed"))
    add_json(rsps, FETCH_URL, bill_response(), status=201)

    _fetch(client)

    assert _form(rsps.calls[0]) == {"grant_type": "refresh_token", "refresh_token": "ref-1"}
    assert rsps.calls[0].request.headers["Authorization"] == "Basic ZWdvdi11c2VyLWNsaWVudDo="
    assert _logins(rsps) == 0
    assert jsonutil.loads(rsps.calls[1].request.body)["RequestInfo"]["authToken"] == (
        "tok-refreshed"
    )


@pytest.mark.parametrize(
    ("status", "refusal"),
    [
        (400, {"error": "invalid_grant", "error_description": "Invalid refresh token: ref-1"}),
        (
            401,
            {
                "error": "invalid_token",
                "error_description": "Invalid refresh token (expired): ref-1",
            },
        ),
    ],
    ids=["gone-400-invalid-grant", "expired-401-invalid-token"],
)
def test_a_refused_refresh_falls_back_to_a_password_login(rsps, client, redis, status, refusal):
    # digest 2.3 / corrections 6: a refresh token the store no longer holds is 400
    # invalid_grant; one expired but still stored is 401 invalid_token
    _store_due_token(redis)
    add_json(rsps, TOKEN_URL, refusal, status=status)
    add_json(rsps, TOKEN_URL, token_answer("tok-new"))
    add_json(rsps, FETCH_URL, bill_response(), status=201)

    _fetch(client)

    assert _logins(rsps, "refresh_token") == 1
    assert _logins(rsps) == 1
    token = TokenStore(redis).get()
    assert token is not None and token.access_token == "tok-new"


def test_renewal_happens_leeway_seconds_before_expiry(rsps, digit_settings, redis):
    add_json(rsps, TOKEN_URL, token_answer(expires_in=3600))
    add_json(rsps, FETCH_URL, bill_response(), status=201)
    DigitClient(settings=digit_settings, redis=redis).fetch_bills(
        tenant_id="pb.amritsar", business_service="WS", consumer_code="x"
    )

    token = TokenStore(redis).get()
    assert token is not None
    assert token.expires_at - token.renew_at == pytest.approx(digit_settings.token_leeway_seconds)
    ttl = TokenStore(redis).ttl_seconds()
    assert ttl is not None and 3590 < ttl <= 3600


BAD = {"error": "invalid_request", "error_description": "Invalid login credentials"}


def test_bad_credentials_stop_after_two_logins_then_fail_fast(rsps, client, redis):
    add_json(rsps, TOKEN_URL, BAD, status=400)

    with pytest.raises(DigitAuthError) as first:
        _fetch(client)
    assert not isinstance(first.value, DigitAuthLocked)
    with pytest.raises(DigitAuthLocked):
        _fetch(client)
    for _ in range(3):
        with pytest.raises(DigitAuthLocked):
            _fetch(client)

    assert _logins(rsps) == 2
    state = client.auth_state()
    assert state.locked and state.failed_logins == 2 and not state.has_token
    assert "Invalid login credentials" in (state.locked_reason or "")
    assert "s3cret-password" not in repr(state)


def test_the_bad_login_budget_is_shared_by_all_processes(rsps, digit_settings, redis):
    add_json(rsps, TOKEN_URL, BAD, status=400)
    one = DigitClient(settings=digit_settings, redis=redis)
    two = DigitClient(settings=digit_settings, redis=redis)

    with pytest.raises(DigitAuthError):
        _fetch(one)
    with pytest.raises(DigitAuthLocked):
        _fetch(two)
    with pytest.raises(DigitAuthLocked):
        _fetch(one)

    assert _logins(rsps) == 2
    assert 0 < redis.ttl(keys.digit_bad_logins()) <= 1800


def test_account_locked_by_digit_is_not_our_credentials_lock(rsps, client):
    add_json(
        rsps,
        TOKEN_URL,
        {"error": "invalid_request", "error_description": "Account locked"},
        status=400,
    )

    with pytest.raises(DigitAccountLocked):
        _fetch(client)
    with pytest.raises(DigitAccountLocked) as again:  # no second login during the cool-down
        _fetch(client)
    assert _logins(rsps) == 1
    assert not isinstance(again.value, DigitAuthLocked)
    state = client.auth_state()
    assert state.locked and state.lock_kind == "account" and state.failed_logins == 0
    assert state.locked_until is not None and state.locked_until == again.value.retry_at_utc


def test_unlock_lets_logins_happen_again(rsps, client, redis):
    add_json(rsps, TOKEN_URL, BAD, status=400)
    for _ in range(3):
        with pytest.raises(DigitAuthError):
            _fetch(client)
    assert _logins(rsps) == 2

    unlock(redis)
    rsps.replace(
        "POST",
        TOKEN_URL,
        body=jsonutil.dumps(token_answer()),
        status=200,
        content_type="application/json",
    )
    add_json(rsps, FETCH_URL, bill_response(), status=201)

    _fetch(client)
    assert _logins(rsps) == 3
    assert not client.auth_state().locked


def test_changed_credentials_lift_the_suspension(rsps, client, digit_settings, redis):
    add_json(rsps, TOKEN_URL, BAD, status=400)
    for _ in range(3):
        with pytest.raises(DigitAuthError):
            _fetch(client)

    fixed = digit_settings.with_changes(digit_password="the-right-one")
    assert credentials_fingerprint(fixed) != credentials_fingerprint(digit_settings)
    fixed_client = DigitClient(settings=fixed, redis=redis)
    assert not fixed_client.auth_state().locked  # the lock is for the old credentials
    rsps.replace(
        "POST",
        TOKEN_URL,
        body=jsonutil.dumps(token_answer()),
        status=200,
        content_type="application/json",
    )
    add_json(rsps, FETCH_URL, bill_response(), status=201)

    _fetch(fixed_client)
    assert _form(rsps.calls[-2])["password"] == "the-right-one"
    assert redis.get(keys.digit_auth_lock()) is None


def test_other_login_errors_are_auth_errors_that_do_not_count(rsps, client):
    add_json(
        rsps,
        TOKEN_URL,
        {"error": "invalid_request", "error_description": "TenantId is mandatory"},
        status=400,
    )
    for _ in range(3):
        with pytest.raises(DigitAuthError) as err:
            _fetch(client)
        assert not isinstance(err.value, DigitAuthLocked)
    assert client.auth_state().failed_logins == 0


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_login_endpoint_down_is_unavailable_not_an_auth_error(rsps, client, status):
    add_json(rsps, TOKEN_URL, {"error": "x"}, status=status)
    with pytest.raises(DigitUnavailable):
        _fetch(client)
    assert client.auth_state().failed_logins == 0


def test_neither_token_nor_password_is_ever_logged(rsps, client, caplog):
    caplog.set_level(logging.DEBUG)
    add_json(rsps, TOKEN_URL, token_answer("tok-secret-value"))
    add_json(rsps, FETCH_URL, error_res("InvalidAccessTokenException"), status=401)
    add_json(rsps, FETCH_URL, bill_response(), status=201)
    _fetch(client)
    for record in caplog.records:
        text = record.getMessage()
        assert "tok-secret-value" not in text and "s3cret-password" not in text
    assert "tok-secret-value" not in repr(TokenStore(client._redis).get())
    assert "s3cret-password" not in repr(client._settings)


def test_auth_state_reports_the_token_without_exposing_it(rsps, client):
    add_json(rsps, TOKEN_URL, token_answer("tok-hidden"))
    add_json(rsps, FETCH_URL, bill_response(), status=201)
    assert client.auth_state().has_token is False
    _fetch(client)
    state = client.auth_state()
    assert state.has_token and not state.locked and state.expires_at is not None
    assert state.expires_at.tzinfo is not None
    assert "tok-hidden" not in repr(state)
