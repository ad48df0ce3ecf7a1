"""What the account may do per city and module, from its login roles (digest corrections 3,
§2.6, §13), and the plain verdict of `check_account` behind `integrator check`."""

from __future__ import annotations

import pytest

from integrator import jsonutil
from integrator.digit.account import check_account, format_rows
from integrator.digit.client import DigitClient
from integrator.digit.http import build_session
from integrator.digit.models import Role
from integrator.digit.roles import capability_rows, holds
from integrator.settings import Settings, SettingsError
from integrator.store import keys
from tests.unit.digit.digit_unit_helpers import MDMS_URL, TOKEN_URL, add_json, token_answer


def _role(code: str, tenant: str) -> Role:
    return Role(code=code, tenant_id=tenant)


@pytest.mark.parametrize(
    ("role", "codes", "tenant", "held"),
    [
        (_role("EMPLOYEE", "pb.amritsar"), ("EMPLOYEE",), "pb.amritsar", True),
        (_role("EMPLOYEE", "pb"), ("EMPLOYEE",), "pb.amritsar", True),  # a state role counts
        (_role("EMPLOYEE", "pb.jalandhar"), ("EMPLOYEE",), "pb.amritsar", False),
        (_role("EMPLOYEE", "hr"), ("EMPLOYEE",), "pb.amritsar", False),
        (_role("TL_CEMP", "pb.amritsar"), ("TL_*",), "pb.amritsar", True),
        (_role("CITIZEN", "pb"), ("EMPLOYEE", "UC_EMP"), "pb.amritsar", False),
    ],
)
def test_a_role_counts_at_its_city_or_its_state(role, codes, tenant, held):
    assert holds([role], codes, tenant) is held


def test_punjab_rows_per_city_and_module(digit_settings):
    roles = [
        _role("EMPLOYEE", "pb.amritsar"),
        _role("WS_CEMP", "pb"),
        _role("CR_PT", "pb.amritsar"),
    ]

    rows = {
        (r.tenant_id, r.module): r
        for r in capability_rows(roles, ["pb.amritsar", "pb.jalandhar"], digit_settings)
    }

    amritsar_ws, amritsar_pt = rows["pb.amritsar", "WS"], rows["pb.amritsar", "PT"]
    assert (amritsar_ws.may_search, amritsar_ws.may_create, amritsar_ws.may_cancel) == (
        True,
        True,
        None,  # Punjab has no WS _workflow action at all
    )
    assert (amritsar_pt.may_search, amritsar_pt.may_cancel) == (True, True)
    assert rows["pb.amritsar", "SW"].may_search is False  # SW_CEMP is missing
    jalandhar_ws = rows["pb.jalandhar", "WS"]
    assert jalandhar_ws.may_search is True and jalandhar_ws.may_create is False
    assert rows["pb.jalandhar", "PT"].may_search is False  # EMPLOYEE only at amritsar
    assert rows["pb.amritsar", "TL"].may_search is None  # no rule configured: unknown
    assert len(rows) == 2 * len(digit_settings.collectable_services)


def test_the_table_says_yes_no_or_unknown(digit_settings):
    rows = capability_rows([_role("EMPLOYEE", "pb")], ["pb.amritsar"], digit_settings)
    lines = format_rows(rows)
    assert lines[0].split()[:2] == ["city", "module"]
    ws = next(line for line in lines if " WS " in line)
    assert ws.split() == ["pb.amritsar", "WS", "?", "NO", "yes", "?"]  # MDMS not asked: ?


@pytest.mark.parametrize(
    "raw",
    ["WS", "WS:", ":CR_PT", "WS:WS_CEMP;PT"],
    ids=["no-colon", "no-roles", "no-module", "2nd"],
)
def test_a_malformed_role_map_stops_start_up_with_its_name(raw):
    env = {
        "DIGIT_BASE_URL": "https://digit.test",
        "DATABASE_URL": "postgresql://unused@127.0.0.1:9/unused",
        "DIGIT_USERNAME": "u",
        "DIGIT_PASSWORD": "p",
        "DIGIT_TENANT_ID": "pb.amritsar",
        "DIGIT_SEARCH_ROLE_CODES": raw,
    }
    with pytest.raises(SettingsError, match="DIGIT_SEARCH_ROLE_CODES"):
        Settings.from_env(env)


# --- check_account ---


def _with_roles(*roles: tuple[str, str]) -> dict:
    answer = token_answer()
    answer["UserRequest"]["roles"] = [{"code": c, "tenantId": t, "name": c} for c, t in roles]
    return answer


TENANTS = {
    "MdmsRes": {
        "tenant": {"tenants": [{"code": "pb"}, {"code": "pb.amritsar"}, {"code": "pb.jalandhar"}]}
    }
}


def test_check_account_logs_in_once_and_tabulates_the_roles(rsps, client):
    add_json(rsps, TOKEN_URL, _with_roles(("EMPLOYEE", "pb.amritsar"), ("WS_CEMP", "pb")))
    add_json(rsps, MDMS_URL, TENANTS)

    result = check_account(client)

    assert result.ok and "pb.amritsar" in result.message
    assert {r.tenant_id for r in result.rows} == {"pb.amritsar", "pb.jalandhar"}
    logins = [c for c in rsps.calls if c.request.url == TOKEN_URL]
    assert len(logins) == 1
    assert "s3cret-password" not in repr(result)


def test_check_account_reads_the_roles_when_the_stored_token_has_none(rsps, client):
    add_json(rsps, TOKEN_URL, token_answer())  # an answer without roles
    add_json(rsps, MDMS_URL, TENANTS)
    client.ensure_token()
    rsps.replace(
        "POST",
        TOKEN_URL,
        body=jsonutil.dumps(_with_roles(("EMPLOYEE", "pb"))),
        content_type="application/json",
    )
    result = check_account(client)
    assert result.roles == (Role(code="EMPLOYEE", tenant_id="pb"),)
    assert all(r.may_create for r in result.rows)


BAD = {"error": "invalid_request", "error_description": "Invalid login credentials"}


def test_a_refused_login_at_a_known_tenant_is_bad_credentials(rsps, client):
    add_json(rsps, TOKEN_URL, BAD, status=400)
    add_json(rsps, MDMS_URL, TENANTS, status=503)  # MDMS needs a token: the shipped copy

    result = check_account(client)

    assert result.verdict == "bad_credentials" and not result.ok
    assert "password" in result.message and "pb.amritsar" in result.message


def test_a_refused_login_is_checked_against_the_tenants_without_a_second_login(rsps, client):
    # MDMS needs a token: asking it after "Invalid login credentials" would be the second bad
    # login, which suspends logins (MAX_BAD_LOGINS) while the check reports bad credentials
    add_json(rsps, TOKEN_URL, BAD, status=400)
    add_json(rsps, MDMS_URL, TENANTS)

    result = check_account(client)

    assert result.verdict == "bad_credentials"
    assert [c.request.url for c in rsps.calls] == [TOKEN_URL]
    state = client.auth_state()
    assert state.failed_logins == 1 and not state.locked


def test_a_refused_login_is_checked_against_the_cached_tenants(rsps, client, redis):
    redis.set(
        keys.digit_mdms("tenant.tenants", "pb"),
        jsonutil.dumps({"source": "mdms", "records": [{"code": "pb"}, {"code": "pb.ludhiana"}]}),
    )
    add_json(rsps, TOKEN_URL, BAD, status=400)

    assert check_account(client).verdict == "unknown_tenant"  # pb.amritsar is not cached
    assert [c.request.url for c in rsps.calls] == [TOKEN_URL]


def test_a_refused_login_at_an_unknown_tenant_is_a_wrong_tenant(rsps, digit_settings, redis):
    settings = digit_settings.with_changes(digit_tenant_id="pb.atlantis")
    client = DigitClient(settings=settings, redis=redis, session=build_session(settings))
    add_json(rsps, TOKEN_URL, BAD, status=400)

    result = check_account(client)

    assert result.verdict == "unknown_tenant"
    assert "DIGIT_TENANT_ID=pb.atlantis" in result.message


def test_a_locked_account_says_until_when(rsps, client):
    add_json(
        rsps,
        TOKEN_URL,
        {"error": "invalid_request", "error_description": "Account locked"},
        status=400,
    )
    result = check_account(client)
    assert result.verdict == "account_locked"
    assert result.locked_until is not None and result.locked_until.isoformat() in result.message


def test_no_answer_is_unreachable(rsps, client):
    add_json(rsps, TOKEN_URL, {}, status=502)
    assert check_account(client).verdict == "unreachable"


def test_capabilities_use_the_stored_roles(rsps, client):
    add_json(rsps, MDMS_URL, TENANTS, status=503)  # the shipped tenants copy
    assert all(not r.may_create for r in client.capabilities())  # no roles known yet
    add_json(rsps, TOKEN_URL, _with_roles(("EMPLOYEE", "pb")))
    client.ensure_token()
    rows = client.capabilities()
    assert rows and all(r.may_create for r in rows)


def test_the_client_answers_per_city_and_module(rsps, client):
    add_json(rsps, TOKEN_URL, _with_roles(("EMPLOYEE", "pb.amritsar"), ("WS_CEMP", "pb")))
    client.ensure_token()
    assert client.may_create("pb.amritsar") and not client.may_create("pb.jalandhar")
    assert client.may_search("WS", "pb.jalandhar") is True
    assert client.may_search("SW", "pb.amritsar") is False
    assert client.may_cancel("PT", "pb.amritsar") is False
    assert client.may_cancel("WS", "pb.amritsar") is None
