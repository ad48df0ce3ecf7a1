"""The shared token over weeks, on a fake clock, against a fake egov-user that behaves as the
digest's corrections 5 and 6 say: 7-day access tokens, 14-day refresh tokens never extended, a
refresh returns a new access token with the same refresh token and revokes the old one, a
password login returns the current token while it is valid, "Account locked" lifted by the first
login an hour later. Also: roles from the login answer are kept with the token."""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
import redis as redis_lib
import responses as responses_lib

from integrator import jsonutil
from integrator.digit.auth import ACCOUNT_LOCKED_RETRY_SECONDS, TokenManager
from integrator.digit.errors import DigitAccountLocked, DigitAuthError
from integrator.digit.http import Transport, build_session
from integrator.digit.models import Role
from integrator.settings import Settings
from tests.unit.digit.digit_unit_helpers import TOKEN_URL

DAY = 86_400
ACCESS_SECONDS = 7 * DAY
REFRESH_SECONDS = 14 * DAY
START = 1_790_000_000.0  # 2026-09-21, a fixed point: the test never reads the real clock

ROLES = [
    {"name": "Employee", "code": "EMPLOYEE", "tenantId": "pb.amritsar"},
    {"name": "WS counter", "code": "WS_CEMP", "tenantId": "pb"},
]


@dataclass
class FakeClock:
    now: float = START

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


@dataclass
class FakeEgovUser:
    """One user + client + scope + tenant key of egov-user's token store."""

    clock: FakeClock
    access: str | None = None
    access_expires: float = 0.0
    refresh: str | None = None
    refresh_expires: float = 0.0
    locked: bool = False
    locked_since: float = 0.0
    wrong_password: bool = False  # our password no longer matches the user's
    logins: list[float] = field(default_factory=list)
    refreshes: list[float] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def accepts(self, token: str) -> bool:
        return token == self.access and self.clock.now < self.access_expires

    def _issue(self, *, new_refresh: bool) -> None:
        self.access = f"access-{next(self._ids)}"
        self.access_expires = self.clock.now + ACCESS_SECONDS
        if new_refresh:
            self.refresh = f"refresh-{next(self._ids)}"
            self.refresh_expires = self.clock.now + REFRESH_SECONDS

    def _answer(self) -> tuple[int, dict[str, str], str]:
        body = {
            "access_token": self.access,
            "token_type": "bearer",
            "refresh_token": self.refresh,
            "expires_in": int(self.access_expires - self.clock.now),
            "scope": "read",
            "UserRequest": {"userName": "INTEGRATOR_SYSTEM", "roles": ROLES},
        }
        return 200, {"Content-Type": "application/json"}, jsonutil.dumps(body)

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        form = {k: v[0] for k, v in parse_qs(str(request.body)).items()}
        if form["grant_type"] == "password":
            self.logins.append(self.clock.now)
            if self.locked and self.clock.now - self.locked_since >= 3600:
                self.locked = False  # the lazy unlock (corrections 5)
            if self.locked:
                return _oauth_error("invalid_request", "Account locked")
            if self.wrong_password:
                return _oauth_error("invalid_request", "Invalid login credentials")
            if self.access is None or self.clock.now >= self.access_expires:
                self._issue(new_refresh=True)  # expired: its keys are gone, a new pair
            return self._answer()  # else the same token, expires_in shrunk
        self.refreshes.append(self.clock.now)
        if self.locked:
            return _oauth_error("invalid_request", "Account locked")
        if form["refresh_token"] != self.refresh or self.clock.now >= self.refresh_expires:
            return _oauth_error("invalid_grant", f"Invalid refresh token: {form['refresh_token']}")
        self._issue(new_refresh=False)  # same refresh token, never extended; old access revoked
        return self._answer()


def _oauth_error(error: str, description: str) -> tuple[int, dict[str, str], str]:
    body = {"error": error, "error_description": description}
    return 400, {"Content-Type": "application/json"}, jsonutil.dumps(body)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def egov_user(rsps: responses_lib.RequestsMock, clock: FakeClock) -> FakeEgovUser:
    fake = FakeEgovUser(clock=clock)
    rsps.add_callback("POST", TOKEN_URL, callback=fake)
    return fake


@pytest.fixture
def manager(
    digit_settings: Settings, redis: redis_lib.Redis, clock: FakeClock, egov_user: FakeEgovUser
) -> TokenManager:
    transport = Transport(settings=digit_settings, session=build_session(digit_settings))
    return TokenManager(
        settings=digit_settings, redis=redis, transport=transport, clock=clock, sleep=clock.sleep
    )


def test_five_weeks_of_calls_never_carry_a_dead_token_and_cost_a_bounded_number_of_logins(
    manager, clock, egov_user, digit_settings
):
    """A call every minute for 35 days: each token handed out is one DIGIT accepts at that
    moment. Per 21-day cycle: one login, a refresh 7 days later and another at 14 days, then,
    the refresh token being dead, one password login that hands back the current token (which
    can then only run out) and one login once it has: never more than 2 logins in a day."""
    assert digit_settings.token_leeway_seconds == 300
    end = START + 35 * DAY
    calls = 0
    while clock.now < end:
        token = manager.token()
        assert egov_user.accepts(token), f"dead token handed out at day {(clock.now - START) / DAY}"
        calls += 1
        clock.now += 60

    logins_per_day = Counter(int((t - START) // DAY) for t in egov_user.logins)
    assert max(logins_per_day.values()) <= 2  # the bound
    assert len(egov_user.logins) == 3  # day 0, and twice on day 21 (the futile one, then the new)
    assert sorted(logins_per_day) == [0, 20]  # 21 days less the leeways: still calendar day 20
    assert len(egov_user.refreshes) == 4  # days 7 and 14 of each cycle
    assert calls == 35 * 24 * 60


def test_a_refresh_token_known_dead_is_not_sent_a_password_login_is_made(manager, clock, egov_user):
    manager.token()
    clock.now += 15 * DAY  # the access token died on day 7, the refresh token on day 14
    token = manager.token()
    assert egov_user.accepts(token)
    assert egov_user.refreshes == [] and len(egov_user.logins) == 2


def test_a_refused_refresh_falls_back_to_one_password_login(manager, clock, egov_user):
    manager.token()
    egov_user.refresh = "forgotten-by-digit"  # e.g. DIGIT's Redis was flushed
    clock.now += ACCESS_SECONDS - 100
    egov_user.access = None  # ... and the access token with it
    token = manager.token()
    assert egov_user.accepts(token)
    assert len(egov_user.refreshes) == 1 and len(egov_user.logins) == 2


def test_roles_of_the_login_answer_are_kept_with_the_token(manager, egov_user):
    manager.token()
    roles = manager.roles()
    assert roles == (
        Role(code="EMPLOYEE", tenant_id="pb.amritsar"),
        Role(code="WS_CEMP", tenant_id="pb"),
    )
    state = manager.auth_state()
    assert state.roles == roles and state.tenants == ("pb", "pb.amritsar")
    assert state.refresh_expires_at is not None


def test_account_locked_fails_fast_and_tries_one_login_every_few_minutes_until_digit_lifts_it(
    manager, clock, egov_user
):
    egov_user.locked, egov_user.locked_since = True, clock.now
    with pytest.raises(DigitAccountLocked) as locked:
        manager.token()
    assert locked.value.retry_at == clock.now + ACCOUNT_LOCKED_RETRY_SECONDS
    assert manager.auth_state().lock_kind == "account"

    for _ in range(5):  # between two tries: no login at all
        clock.now += ACCOUNT_LOCKED_RETRY_SECONDS / 6
        with pytest.raises(DigitAccountLocked):
            manager.token()
    assert len(egov_user.logins) == 1

    # a login while locked is not counted and cannot extend DIGIT's lock: one every few
    # minutes, each refused, until the first one an hour after the lock lifts it
    token = None
    while token is None:
        next_try = manager.auth_state().locked_until
        assert next_try is not None
        clock.now = next_try.timestamp() + 1
        with contextlib.suppress(DigitAccountLocked):
            token = manager.token()

    assert egov_user.accepts(token) and not manager.auth_state().locked
    assert clock.now - egov_user.locked_since < 3600 + ACCOUNT_LOCKED_RETRY_SECONDS + 2
    assert len(egov_user.logins) == 1 + 3600 // ACCOUNT_LOCKED_RETRY_SECONDS


def test_each_locked_answer_schedules_the_next_try_a_few_minutes_later_never_an_hour(
    manager, clock, egov_user
):
    egov_user.locked, egov_user.locked_since = True, clock.now + 10_000  # locked far longer
    with pytest.raises(DigitAccountLocked) as first:
        manager.token()
    since = manager.auth_state().locked_until
    clock.now = first.value.retry_at
    with pytest.raises(DigitAccountLocked) as again:
        manager.token()
    assert len(egov_user.logins) == 2
    assert again.value.retry_at == clock.now + ACCOUNT_LOCKED_RETRY_SECONDS
    assert since is not None and manager.auth_state().locked_until != since
    with pytest.raises(DigitAccountLocked):
        manager.token()
    assert len(egov_user.logins) == 2


def test_a_lock_lifted_for_a_wrong_password_still_stops_logins_after_two_refusals(
    manager, clock, egov_user
):
    # the tries every few minutes are free only while DIGIT answers "Account locked": once it
    # lifts the lock, a wrong password counts again, and our own guard stops at two
    egov_user.locked, egov_user.locked_since = True, clock.now
    egov_user.wrong_password = True
    refusals = []
    for _ in range(200):  # more than three hours of calls, one a minute
        try:
            manager.token()
        except DigitAuthError as exc:
            refusals.append(type(exc).__name__)
        clock.now += 60

    assert len(egov_user.logins) == 1 + 3600 // ACCOUNT_LOCKED_RETRY_SECONDS + 1
    assert refusals[-1] == "DigitAuthLocked" and manager.auth_state().lock_kind == "credentials"


def test_a_refresh_answering_account_locked_is_followed_at_once_by_one_login(
    manager, clock, egov_user
):
    manager.token()
    clock.now += ACCESS_SECONDS - 200  # due for renewal
    egov_user.locked, egov_user.locked_since = True, clock.now - 30  # locked just now
    egov_user.access = None  # locking revoked the user's access tokens
    with pytest.raises(DigitAccountLocked) as locked:
        manager.token()
    assert len(egov_user.refreshes) == 1 and len(egov_user.logins) == 2
    assert locked.value.retry_at == clock.now + ACCOUNT_LOCKED_RETRY_SECONDS
    assert manager.auth_state().lock_kind == "account"


def test_a_refresh_refused_for_an_old_lock_is_lifted_by_the_login_that_follows(
    manager, clock, egov_user
):
    # DIGIT's flag stays set until a password login lifts it: a refresh answers "Account
    # locked" even hours after the lock (no lazy unlock on refresh, corrections 5)
    manager.token()
    clock.now += ACCESS_SECONDS - 200
    egov_user.locked, egov_user.locked_since = True, clock.now - 5 * 3600
    egov_user.access = None  # locking revoked the user's access tokens
    token = manager.token()
    assert egov_user.accepts(token)
    assert len(egov_user.refreshes) == 1 and len(egov_user.logins) == 2
    assert not manager.auth_state().locked
