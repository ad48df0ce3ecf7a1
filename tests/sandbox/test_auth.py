"""The sandbox's egov-user token endpoint and the gateway's token checks (digest 2, Corr. 4-6)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from integrator.sandbox.auth import password_login
from integrator.sandbox.world import Role, SandboxConfig, World
from tests.sandbox.conftest import Digit, body_of, codes
from tests.support.processes import sandbox_server

DAY = 86400
INVALID = {"error": "invalid_request", "error_description": "Invalid login credentials"}
LOCKED = {"error": "invalid_request", "error_description": "Account locked"}


def refresh(base: str, refresh_token: str) -> requests.Response:
    return requests.post(
        f"{base}/user/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=("egov-user-client", ""),
        timeout=5,
    )


def lockout_state(client: Digit) -> Any:
    return client.get("lockout")


def test_login_returns_a_bearer_token_with_the_user_and_roles(sandbox: str) -> None:
    response = Digit(sandbox).login(user_type="employee")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert 0 < body["expires_in"] <= 600
    assert body["UserRequest"]["type"] == "EMPLOYEE"
    assert body["UserRequest"]["tenantId"] == "pb.amritsar"
    roles = {(r["code"], r["tenantId"]) for r in body["UserRequest"]["roles"]}
    assert body["UserRequest"]["roles"][0]["code"] == "EMPLOYEE"
    assert {("EMPLOYEE", "pb.amritsar"), ("WS_CEMP", "pb.jalandhar")} <= roles
    assert not {r for r in roles if r[1] == "pb.nawanshahr"}
    assert body["ResponseInfo"]["status"] == "Access Token generated successfully"


@pytest.mark.parametrize("tenant", ["pb", "pb.jalandhar", "pb.nawanshahr"])
def test_employee_logs_in_only_at_its_own_tenant_and_misses_are_not_counted(
    sandbox: str, tenant: str
) -> None:
    client = Digit(sandbox)
    for _ in range(6):  # more than the lockout threshold: none of them counts
        response = client.login(tenant=tenant)
        assert (response.status_code, response.json()) == (400, INVALID)
    assert lockout_state(client)["locked"] == []
    assert client.login().status_code == 200


def test_citizen_tenant_is_mapped_to_the_state(sandbox: str) -> None:
    for tenant in ("pb", "pb.amritsar"):
        response = Digit(sandbox).login("9876500000", "citizen-password", tenant, "CITIZEN")
        assert response.status_code == 200
        assert response.json()["UserRequest"]["tenantId"] == "pb"


def test_same_inputs_return_the_same_token_with_a_shrinking_expiry(sandbox: str) -> None:
    first, second = Digit(sandbox).login().json(), Digit(sandbox).login().json()
    assert first["access_token"] == second["access_token"]
    assert second["expires_in"] <= first["expires_in"]


def test_wrong_client_is_401(sandbox: str) -> None:
    response = requests.post(
        f"{sandbox}/user/oauth/token",
        data={"grant_type": "password"},
        auth=("someone", "x"),
        timeout=5,
    )
    assert response.status_code == 401


def test_the_fifth_bad_login_locks_revokes_access_tokens_and_refresh_says_locked(
    sandbox: str,
) -> None:
    before = Digit(sandbox)
    first = before.login().json()
    assert before.fetch().status_code == 201
    client = Digit(sandbox)
    for _ in range(4):
        assert (client.login(password="wrong").json()) == INVALID
    fifth = client.login(password="wrong")
    assert (fifth.status_code, fifth.json()) == (400, LOCKED)
    assert client.get("counters")["account_locked"] == 1
    # while locked: the right password too, not counted; the old access token is gone
    assert client.login().json() == LOCKED
    assert codes(before.fetch()) == ["InvalidAccessTokenException"]
    # the refresh token survives the lock but cannot be used while the flag is set
    assert (refresh(sandbox, first["refresh_token"]).json()) == LOCKED
    [locked] = lockout_state(client)["locked"]
    assert locked["userName"] == "INTEGRATOR_SYSTEM"


def test_the_lock_lifts_lazily_at_the_first_password_login_after_the_cool_down(
    sandbox: str,
) -> None:
    client = Digit(sandbox)
    first = client.login().json()
    for _ in range(5):
        client.login(password="wrong")
    client.admin("clock", {"advance_seconds": 59 * 60})
    assert client.login().json() == LOCKED
    client.admin("clock", {"advance_seconds": 60})
    assert refresh(sandbox, first["refresh_token"]).json() == LOCKED  # no lazy unlock on refresh
    unlocked = client.login()
    assert unlocked.status_code == 200
    assert lockout_state(client)["locked"] == []
    # the counter was reset: four more wrong passwords do not lock again
    for _ in range(4):
        assert client.login(password="wrong").json() == INVALID
    assert refresh(sandbox, first["refresh_token"]).status_code == 200


def test_failed_logins_older_than_30_minutes_do_not_count(sandbox: str) -> None:
    client = Digit(sandbox)
    for _ in range(4):
        client.login(password="wrong")
    client.admin("clock", {"advance_seconds": 31 * 60})
    assert client.login(password="wrong").json() == INVALID
    assert client.login().status_code == 200


def test_cool_down_is_settable_through_the_admin_api(sandbox: str) -> None:
    client = Digit(sandbox)
    assert client.admin("lockout", {"cool_down_minutes": 1})["cool_down_minutes"] == 1
    for _ in range(5):
        client.login(password="wrong")
    assert client.login().json() == LOCKED
    client.admin("clock", {"advance_seconds": 60})
    assert client.login().status_code == 200
    for _ in range(5):
        client.login(password="wrong")
    assert client.admin("lockout", {"unlock": "INTEGRATOR_SYSTEM"})["locked"] == []
    assert client.login().status_code == 200


def test_cool_down_is_settable_on_the_command_line() -> None:
    with sandbox_server(extra_args=("--unlock-cool-down", "0")) as url:
        client = Digit(url)
        for _ in range(5):
            client.login(password="wrong")
        assert client.get("lockout")["cool_down_minutes"] == 0
        assert client.login().status_code == 200


def test_refresh_keeps_the_refresh_token_and_issues_a_valid_access_token(sandbox: str) -> None:
    login = Digit(sandbox).login().json()
    response = requests.post(
        f"{sandbox}/user/oauth/token",
        params={"grant_type": "refresh_token", "refresh_token": login["refresh_token"]},
        auth=("egov-user-client", ""),
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json()["refresh_token"] == login["refresh_token"]
    client = Digit(sandbox)
    client.token = response.json()["access_token"]
    assert client.fetch().status_code == 201
    unknown = requests.post(
        f"{sandbox}/user/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "nope"},
        auth=("egov-user-client", ""),
        timeout=5,
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_grant"


def test_refresh_revokes_the_old_access_token(sandbox: str) -> None:
    client = Digit(sandbox)
    login = client.login().json()
    fresh = refresh(sandbox, login["refresh_token"]).json()
    assert fresh["access_token"] != login["access_token"]
    assert codes(client.fetch()) == ["InvalidAccessTokenException"]  # the old one
    client.token = fresh["access_token"]
    assert client.fetch().status_code == 201
    # the key now holds the refreshed token: a password login returns it
    assert Digit(sandbox).login().json()["access_token"] == fresh["access_token"]


def test_refresh_token_expires_14_days_after_creation_however_often_it_is_used(
    sandbox: str,
) -> None:
    client = Digit(sandbox)
    rt = client.login().json()["refresh_token"]
    for _ in range(13):
        client.admin("clock", {"advance_seconds": DAY})
        answer = refresh(sandbox, rt)
        assert answer.status_code == 200 and answer.json()["refresh_token"] == rt
    client.admin("clock", {"advance_seconds": DAY})
    expired = refresh(sandbox, rt)
    assert (expired.status_code, expired.json()) == (
        400,
        {"error": "invalid_grant", "error_description": f"Invalid refresh token: {rt}"},
    )


def test_an_expired_refresh_token_still_stored_is_401_invalid_token_then_gone(sandbox: str) -> None:
    # DefaultTokenServices: a stored but expired refresh token is InvalidTokenException (401)
    # and removed; one the store no longer holds is InvalidGrantException (400)
    client = Digit(sandbox)
    assert client.admin("refresh-tokens", {"linger_seconds": DAY}) == {"linger_seconds": DAY}
    rt = client.login().json()["refresh_token"]
    client.admin("clock", {"advance_seconds": 14 * DAY + 1})

    expired = refresh(sandbox, rt)
    assert (expired.status_code, expired.json()) == (
        401,
        {"error": "invalid_token", "error_description": f"Invalid refresh token (expired): {rt}"},
    )
    gone = refresh(sandbox, rt)
    assert (gone.status_code, gone.json()["error"]) == (400, "invalid_grant")


def test_an_expired_refresh_token_is_gone_once_the_linger_has_passed(sandbox: str) -> None:
    client = Digit(sandbox)
    client.admin("refresh-tokens", {"linger_seconds": 60})
    rt = client.login().json()["refresh_token"]
    client.admin("clock", {"advance_seconds": 14 * DAY + 61})
    gone = refresh(sandbox, rt)
    assert (gone.status_code, gone.json()) == (
        400,
        {"error": "invalid_grant", "error_description": f"Invalid refresh token: {rt}"},
    )


def test_an_expired_refresh_token_of_a_locked_user_says_account_locked(sandbox: str) -> None:
    client = Digit(sandbox)
    client.admin("refresh-tokens", {"linger_seconds": DAY})
    rt = client.login().json()["refresh_token"]
    client.admin("clock", {"advance_seconds": 14 * DAY + 1})
    for _ in range(5):
        client.login(password="wrong")
    assert refresh(sandbox, rt).json() == LOCKED  # the user is checked before the expiry


def test_refresh_token_linger_is_settable_on_the_command_line() -> None:
    with sandbox_server(extra_args=("--refresh-token-linger", "30")) as url:
        client = Digit(url)
        assert client.get("refresh-tokens") == {"linger_seconds": 30}
        client.admin("refresh-tokens", {"linger_seconds": 5})
        client.admin("reset", {})
        assert client.get("refresh-tokens") == {"linger_seconds": 30}


def test_login_after_access_expiry_issues_new_tokens_and_the_old_refresh_still_works(
    sandbox: str,
) -> None:
    client = Digit(sandbox)
    first = client.login().json()
    client.admin("clock", {"advance_seconds": 601})  # the test sandbox runs --token-ttl 600
    second = client.login().json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["expires_in"] == 600
    again = refresh(sandbox, first["refresh_token"])
    assert again.status_code == 200
    assert again.json()["refresh_token"] == first["refresh_token"]


def test_missing_token_is_401_custom_exception(digit: Digit) -> None:
    response = digit.post(
        "/billing-service/bill/v2/_fetchbill",
        {"RequestInfo": {}},
        tenantId="pb.amritsar",
        businessService="WS",
        consumerCode="x",
    )
    assert response.status_code == 401
    assert codes(response) == ["CustomException"]


def test_revoked_token_is_401_invalid_access_token(digit: Digit) -> None:
    digit.admin("revoke-tokens")
    response = digit.fetch()
    assert response.status_code == 401
    assert body_of(response) == {
        "ResponseInfo": None,
        "Errors": [
            {
                "code": "InvalidAccessTokenException",
                "message": "An unhandled exception occurred on the server",
                "description": "Invalid Access Token Exception",
                "params": None,
            }
        ],
    }


def test_token_expires_on_the_sandbox_clock(digit: Digit) -> None:
    digit.admin("clock", {"advance_seconds": 601})
    assert codes(digit.fetch()) == ["InvalidAccessTokenException"]
    assert digit.login().status_code == 200
    assert digit.fetch().status_code == 201


def test_token_ttl_option_expires_tokens_in_real_time() -> None:
    import time

    with sandbox_server(extra_args=("--token-ttl", "1", "--backupdate-lag", "0.1")) as url:
        client = Digit(url)
        assert client.login().status_code == 200
        assert client.fetch().status_code == 201
        time.sleep(1.1)
        assert client.fetch().status_code == 401


def test_citizen_may_not_create_payments(digit: Digit, sandbox: str) -> None:
    bill = digit.bill()
    citizen = Digit(sandbox)
    assert citizen.login("9876500000", "citizen-password", "pb", "CITIZEN").status_code == 200
    response = citizen.pay([(bill, bill["totalAmount"])])
    assert response.status_code == 403
    assert body_of(response)["Errors"][0]["message"] == "Not authorized to access this resource"


def test_a_login_returning_the_same_token_answers_the_user_as_first_issued() -> None:
    """Corrections 6: UserRequest is as stored at first issue, also after the user's roles
    changed; a token issued once the old one expired shows the user as it is then."""
    world = World(SandboxConfig(token_ttl_seconds=60))
    form = {
        "username": "INTEGRATOR_SYSTEM",
        "password": "sandbox-password",
        "tenantId": "pb.amritsar",
        "userType": "EMPLOYEE",
    }
    first = password_login(world, form)
    before = sorted((r["code"], r["tenantId"]) for r in first.user_request["roles"])
    [user] = [u for u in world.users.values() if u.user_name == "INTEGRATOR_SYSTEM"]
    user.roles = (*user.roles, Role("TL_CEMP", "pb.amritsar"))  # granted meanwhile

    again = password_login(world, form)

    assert again.value == first.value
    assert sorted((r["code"], r["tenantId"]) for r in again.user_request["roles"]) == before
    world.advance_clock(61)  # the access token expired: a new pair shows the grant
    later = password_login(world, form)
    assert later.value != first.value
    assert ("TL_CEMP", "pb.amritsar") in {
        (r["code"], r["tenantId"]) for r in later.user_request["roles"]
    }
