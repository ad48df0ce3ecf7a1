"""The sandbox's egov-user token endpoint and the gateway's token checks (digest 2)."""

from __future__ import annotations

import requests

from tests.sandbox.conftest import Digit, body_of, codes
from tests.support.processes import sandbox_server


def test_login_returns_a_bearer_token_with_the_user_and_roles(sandbox: str) -> None:
    response = Digit(sandbox).login(tenant="pb", user_type="employee")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert 0 < body["expires_in"] <= 600
    assert body["UserRequest"]["type"] == "EMPLOYEE"
    assert body["UserRequest"]["roles"][0]["code"] == "EMPLOYEE"
    assert body["ResponseInfo"]["status"] == "Access Token generated successfully"


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


def test_five_bad_logins_lock_the_account_even_for_the_right_password(sandbox: str) -> None:
    client = Digit(sandbox)
    for _ in range(5):
        response = client.login(password="wrong")
        assert response.status_code == 400
        assert response.json() == {
            "error": "invalid_request",
            "error_description": "Invalid login credentials",
        }
    locked = client.login()
    assert locked.status_code == 400
    assert locked.json()["error_description"] == "Account locked"


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
