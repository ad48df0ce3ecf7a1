"""What a failed renewal of the shared token does: a token still valid is used until it expires
(digest 2.2), its renewal put off for every process; a login DIGIT refuses for a reason it does
not count is not repeated by every call. DIGIT is faked with `responses`, on a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

import pytest
import redis as redis_lib
import requests
import responses as responses_lib

from integrator.digit.auth import (
    FINAL_GUARD_SECONDS,
    LOGIN_REFUSED_RETRY_SECONDS,
    RENEWAL_RETRY_SECONDS,
    TokenManager,
)
from integrator.digit.errors import DigitAuthError, DigitAuthLocked, DigitUnavailable
from integrator.digit.http import Transport, build_session
from integrator.settings import Settings
from integrator.store.tokens import StoredToken, TokenStore
from tests.unit.digit.digit_unit_helpers import TOKEN_URL, add_json, token_answer

START = 1_790_000_000.0


@dataclass
class FakeClock:
    now: float = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_manager(
    digit_settings: Settings, redis: redis_lib.Redis, clock: FakeClock
) -> Callable[[], TokenManager]:
    """A TokenManager per "process": they share only Redis."""

    def make() -> TokenManager:
        transport = Transport(settings=digit_settings, session=build_session(digit_settings))
        return TokenManager(settings=digit_settings, redis=redis, transport=transport, clock=clock)

    return make


def _grants(rsps: responses_lib.RequestsMock) -> list[str]:
    return [
        parse_qs(str(c.request.body))["grant_type"][0]
        for c in rsps.calls
        if c.request.url == TOKEN_URL
    ]


def _store_due(redis: redis_lib.Redis, clock: FakeClock, *, left: float = 200.0) -> None:
    """The shared token, inside its renewal window: `left` seconds before it expires."""
    TokenStore(redis).save(
        StoredToken(
            access_token="current",
            refresh_token="ref-1",
            expires_at=clock.now + left,
            renew_at=clock.now - 100,
            refresh_expires_at=clock.now + 86_400,
        ),
        now=clock.now,
    )


TOKEN_ENDPOINT_DOWN = [
    {"json": {"error": "x"}, "status": 503},
    {"json": {"Errors": [{"code": "ResourceAccessException"}]}, "status": 502},
    {"body": requests.ConnectionError("refused")},
    {"body": requests.ReadTimeout("slow")},
]
DOWN_IDS = ["503", "502", "unreachable", "timeout"]


@pytest.mark.parametrize("down", TOKEN_ENDPOINT_DOWN, ids=DOWN_IDS)
def test_a_token_still_valid_is_used_when_its_renewal_gets_no_answer(
    rsps, redis, clock, make_manager, down
):
    _store_due(redis, clock)
    rsps.add("POST", TOKEN_URL, **down)
    first, second = make_manager(), make_manager()

    assert first.token() == "current"  # renewal failed: not the call
    clock.now += RENEWAL_RETRY_SECONDS - 1
    assert first.token() == "current"
    assert second.token() == "current"  # another process: the put-off renewal is shared
    assert len(_grants(rsps)) == 1

    clock.now += 2  # the put-off is over: one more try
    assert second.token() == "current"
    assert len(_grants(rsps)) == 2


def test_once_the_token_is_renewed_the_new_one_is_used(rsps, redis, clock, make_manager):
    _store_due(redis, clock)
    add_json(rsps, TOKEN_URL, {"error": "x"}, status=503)
    manager = make_manager()
    assert manager.token() == "current"

    rsps.replace("POST", TOKEN_URL, json=token_answer("renewed"))
    clock.now += RENEWAL_RETRY_SECONDS + 1
    assert manager.token() == "renewed"
    assert _grants(rsps) == ["refresh_token", "refresh_token"]


def test_an_expired_token_is_never_handed_out_when_its_renewal_fails(
    rsps, redis, clock, make_manager
):
    _store_due(redis, clock, left=FINAL_GUARD_SECONDS / 2)
    add_json(rsps, TOKEN_URL, {"error": "x"}, status=503)
    with pytest.raises(DigitUnavailable):
        make_manager().token()


def test_the_put_off_never_runs_past_the_tokens_expiry(rsps, redis, clock, make_manager):
    _store_due(redis, clock, left=RENEWAL_RETRY_SECONDS / 3)
    add_json(rsps, TOKEN_URL, {"error": "x"}, status=503)
    manager = make_manager()
    assert manager.token() == "current"

    clock.now += RENEWAL_RETRY_SECONDS / 3 - FINAL_GUARD_SECONDS
    with pytest.raises(DigitUnavailable):
        manager.token()
    stored = TokenStore(redis).get()
    assert stored is not None and stored.renew_at <= stored.expires_at - FINAL_GUARD_SECONDS


def test_no_token_and_no_answer_is_still_unavailable(rsps, clock, make_manager):
    add_json(rsps, TOKEN_URL, {"error": "x"}, status=503)
    with pytest.raises(DigitUnavailable):
        make_manager().token()


def test_a_token_dropped_meanwhile_is_not_written_back(rsps, redis, clock, make_manager):
    _store_due(redis, clock)

    def drop_then_fail(request):  # type: ignore[no-untyped-def]
        TokenStore(redis).delete_if("current")  # another process got it refused meanwhile
        return 503, {}, "{}"

    rsps.add_callback("POST", TOKEN_URL, callback=drop_then_fail)
    with pytest.raises(DigitUnavailable):
        make_manager().token()
    assert TokenStore(redis).get() is None


UNCOUNTED_REFUSALS = [
    (401, {"error": "unauthorized", "error_description": "Bad client credentials"}),
    (400, {"error": "invalid_request", "error_description": "Please activate your account"}),
    (400, {"error": "invalid_request", "error_description": "TenantId is mandatory"}),
]


@pytest.mark.parametrize(
    ("status", "refusal"), UNCOUNTED_REFUSALS, ids=["client", "inactive", "tenant"]
)
def test_a_login_refused_for_an_uncounted_reason_is_not_repeated_by_every_call(
    rsps, clock, make_manager, status, refusal
):
    add_json(rsps, TOKEN_URL, refusal, status=status)
    one, two = make_manager(), make_manager()

    for manager in (one, two, one, two):
        with pytest.raises(DigitAuthError) as refused:
            manager.token()
        assert not isinstance(refused.value, DigitAuthLocked)
        assert refusal["error_description"] in str(refused.value)
        clock.now += LOGIN_REFUSED_RETRY_SECONDS / 5
    assert _grants(rsps) == ["password"]

    clock.now += LOGIN_REFUSED_RETRY_SECONDS  # then one more login
    with pytest.raises(DigitAuthError):
        one.token()
    assert _grants(rsps) == ["password", "password"]
    assert one.auth_state().failed_logins == 0 and not one.auth_state().locked


def test_bad_credentials_are_still_counted_not_backed_off(rsps, clock, make_manager):
    bad = {"error": "invalid_request", "error_description": "Invalid login credentials"}
    add_json(rsps, TOKEN_URL, bad, status=400)
    manager = make_manager()
    with pytest.raises(DigitAuthError):
        manager.token()
    with pytest.raises(DigitAuthLocked):  # the second at once: our guard stops there
        manager.token()
    assert _grants(rsps) == ["password", "password"]


def test_a_login_refused_in_the_renewal_window_keeps_the_valid_token(
    rsps, redis, clock, make_manager
):
    _store_due(redis, clock)
    add_json(rsps, TOKEN_URL, {"error": "invalid_grant", "error_description": "x"}, status=400)
    add_json(rsps, TOKEN_URL, UNCOUNTED_REFUSALS[1][1], status=400)
    manager = make_manager()
    assert manager.token() == "current"
    assert _grants(rsps) == ["refresh_token", "password"]
