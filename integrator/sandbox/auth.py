"""egov-user's OAuth token endpoint (docs/digit.md#tokens) and the gateway's token check.

Login (`CustomAuthenticationProvider`): the user is found by username + type + tenant, where only
a CITIZEN's tenant is mapped to the state; an EMPLOYEE must send the tenant of its own record, any
other tenant is an uncounted "Invalid login credentials". Five wrong passwords within 30 minutes
lock the account and delete the user's access tokens (refresh tokens survive); while locked every
password login and every refresh answers "Account locked", and the first password login made the
cool-down (60 min, settable) after the lock unlocks lazily and resets the counter.

Tokens (Spring's `DefaultTokenServices` over a Redis store): one access token per
(username, client, scope, tenantId); a password login while it is valid returns it with the
remaining `expires_in`; once it expired a login issues a new access AND a new refresh token.
Access tokens live 7 days (`--token-ttl` overrides), refresh tokens 14 days from creation, never
extended. A refresh returns a new access token with the SAME refresh token and revokes the access
token that refresh token issued last. Refresh errors (Spring's `DefaultTokenServices`, digest 2.3
and corrections 6): an unknown refresh token, or one the token store no longer holds, is 400
`invalid_grant` "Invalid refresh token: <rt>"; a locked user is 400 "Account locked"; one that
expired but is still stored (for `refresh_token_linger_seconds` after its expiry, 0 by default:
Redis drops it at expiry) is 401 `invalid_token` "Invalid refresh token (expired): <rt>", and is
removed. Either way the login's `UserRequest` is the user as stored
at first issue (the stored authentication), not the live record: roles granted meanwhile show
only in a token issued after the old one expired. Everything runs on the sandbox clock.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, request

from integrator.sandbox.errors import SandboxError, invalid_access_token, missing_token
from integrator.sandbox.http import json_response, pick, request_info
from integrator.sandbox.world import AccessToken, RefreshToken, User, World

CLIENT_ID = "egov-user-client"
CLIENT_SECRET = ""
USER_TYPES = {"CITIZEN", "EMPLOYEE", "SYSTEM", "BUSINESS"}
MAX_FAILED_LOGINS = 5  # max.invalid.login.attempts
FAILED_LOGIN_WINDOW_MS = 30 * 60 * 1000  # max.invalid.login.attempts.period.minutes
ACCOUNT_LOCKED = "Account locked"
INVALID_CREDENTIALS = "Invalid login credentials"


def _login_error(message: str) -> SandboxError:
    return SandboxError.oauth("invalid_request", message)


def _record_tenant(tenant_id: str, user_type: str) -> str:
    """The tenant the user record is looked up at: only a CITIZEN is mapped to the state."""
    return tenant_id.split(".")[0] if user_type == "CITIZEN" else tenant_id


def _user_request(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "uuid": user.uuid,
        "userName": user.user_name,
        "name": user.name,
        "mobileNumber": user.mobile_number,
        "emailId": None,
        "locale": None,
        "type": user.type,
        "roles": [role.as_json() for role in user.roles],
        "active": True,
        "tenantId": user.tenant_id,
        "permanentCity": None,
    }


def _token_body(world: World, token: AccessToken) -> dict[str, Any]:
    return {
        "access_token": token.value,
        "token_type": "bearer",
        "refresh_token": token.refresh_token,
        "expires_in": max(0, (token.expires_at_ms - world.now_ms()) // 1000),
        "scope": token.scope,
        "ResponseInfo": {
            "api_id": "",
            "ver": "",
            "ts": "",
            "res_msg_id": "",
            "msg_id": "",
            "status": "Access Token generated successfully",
        },
        "UserRequest": token.user_request,
    }


def _store_access(world: World, refresh: RefreshToken) -> AccessToken:
    """A new access token for the refresh token's key (the key then points at it)."""
    token = AccessToken(
        value=str(uuid.uuid4()),
        refresh_token=refresh.value,
        user=refresh.user,
        key=refresh.key,
        scope=refresh.scope,
        tenant_id=refresh.tenant_id,
        expires_at_ms=world.now_ms() + world.config.token_ttl_seconds * 1000,
        refresh_expires_at_ms=refresh.expires_at_ms,
        user_request=refresh.user_request,
    )
    refresh.access_token = token.value
    world.tokens[token.value] = token
    world.token_by_key[token.key] = token.value
    return token


def _issue(world: World, user: User, tenant_id: str, scope: str) -> AccessToken:
    """The valid token of this key, or a new access token with a new refresh token."""
    now = world.now_ms()
    key = (user.user_name, CLIENT_ID, scope, tenant_id)
    existing = world.tokens.get(world.token_by_key.get(key, ""))
    if existing is not None and existing.expires_at_ms > now:
        return existing
    if existing is not None:  # its Redis keys are gone; the old refresh token lives on
        world.tokens.pop(existing.value, None)
    refresh = RefreshToken(
        value=str(uuid.uuid4()),
        user=user,
        key=key,
        scope=scope,
        tenant_id=tenant_id,
        expires_at_ms=now + world.config.refresh_token_ttl_seconds * 1000,
        access_token="",
        user_request=_user_request(user),
    )
    world.refresh_tokens[refresh.value] = refresh
    return _store_access(world, refresh)


def _revoke_access_tokens(world: World, user: User) -> None:
    """`removeTokensByUser`: the user's access tokens go, its refresh tokens stay."""
    for value in [v for v, token in world.tokens.items() if token.user is user]:
        token = world.tokens.pop(value)
        if world.token_by_key.get(token.key) == value:
            del world.token_by_key[token.key]


def _unlock_if_cooled_down(world: World, user: User) -> None:
    """`isAccountUnlockAble`: the first password login after the cool-down unlocks."""
    if not user.account_locked:
        return
    cool_down_ms = int(world.unlock_cool_down_minutes * 60 * 1000)
    if user.locked_at_ms is not None and world.now_ms() - user.locked_at_ms >= cool_down_ms:
        user.account_locked = False
        user.locked_at_ms = None
        user.failed_logins.clear()
        return
    raise _login_error(ACCOUNT_LOCKED)


def _failed_login(world: World, user: User) -> SandboxError:
    """`handleFailedLogin`: the 5th wrong password within 30 minutes locks the account."""
    now = world.now_ms()
    recent = [t for t in user.failed_logins if t > now - FAILED_LOGIN_WINDOW_MS]
    user.failed_logins = [*recent, now]
    if len(recent) + 1 >= MAX_FAILED_LOGINS:
        user.account_locked = True
        user.locked_at_ms = now
        _revoke_access_tokens(world, user)
        world.counters["account_locked"] += 1
        return _login_error(ACCOUNT_LOCKED)
    return _login_error(INVALID_CREDENTIALS)


def password_login(world: World, form: dict[str, str]) -> AccessToken:
    username = form.get("username", "")
    password = form.get("password", "")
    tenant_id = form.get("tenantId", "").strip()
    user_type = form.get("userType", "").strip().upper()
    scope = form.get("scope", "read") or "read"
    if not tenant_id:
        raise _login_error("TenantId is mandatory")
    if user_type not in USER_TYPES:
        raise _login_error("User Type is mandatory and has to be a valid type")
    with world.lock:
        user = world.find_user(username, user_type, _record_tenant(tenant_id, user_type))
        if user is None:  # unknown here, e.g. an EMPLOYEE at another tenant: not counted
            raise _login_error(INVALID_CREDENTIALS)
        _unlock_if_cooled_down(world, user)
        if password != user.password:
            raise _failed_login(world, user)
        return _issue(world, user, tenant_id, scope)


def refresh_login(world: World, refresh_token: str) -> AccessToken:
    """`DefaultTokenServices.refreshAccessToken`: read the refresh token (gone: invalid_grant),
    re-check the user (locked: no lazy unlock), then its expiry (expired: invalid_token)."""
    with world.lock:
        now = world.now_ms()
        refresh = world.refresh_tokens.get(refresh_token)
        linger_ms = int(world.refresh_token_linger_seconds * 1000)
        if refresh is not None and refresh.expires_at_ms + linger_ms <= now:
            del world.refresh_tokens[refresh_token]  # the store's TTL ran out: gone
            refresh = None
        if refresh is None:
            raise SandboxError.oauth("invalid_grant", f"Invalid refresh token: {refresh_token}")
        if refresh.user.account_locked:  # CustomPreAuthenticatedProvider: no lazy unlock
            raise _login_error(ACCOUNT_LOCKED)
        # removeAccessTokenUsingRefreshToken comes before the expiry check
        old = world.tokens.pop(refresh.access_token, None)
        if old is not None and world.token_by_key.get(old.key) == old.value:
            del world.token_by_key[old.key]
        if refresh.expires_at_ms <= now:  # expired, still stored: removed, InvalidTokenException
            del world.refresh_tokens[refresh_token]
            raise SandboxError.oauth(
                "invalid_token", f"Invalid refresh token (expired): {refresh_token}", 401
            )
        return _store_access(world, refresh)


def _client_ok() -> bool:
    auth = request.authorization
    return (
        auth is not None
        and auth.type == "basic"
        and auth.username == CLIENT_ID
        and (auth.password or "") == CLIENT_SECRET
    )


def user_for_body(world: World, body: dict[str, Any], *, required: bool = True) -> User | None:
    """The gateway's check: `RequestInfo.authToken` -> the user, or the 401 DIGIT sends."""
    token_value = pick(request_info(body), "authToken")
    if not token_value:
        if required:
            raise missing_token()
        return None
    with world.lock:
        token = world.tokens.get(str(token_value))
        if token is None or token.expires_at_ms <= world.now_ms():
            raise invalid_access_token()
        return token.user


def create_blueprint(world: World) -> Blueprint:
    bp = Blueprint("sandbox_auth", __name__)

    @bp.post("/user/oauth/token")
    def token() -> Any:
        if not _client_ok():
            raise SandboxError.oauth(
                "unauthorized", "Full authentication is required to access this resource", 401
            )
        form = {key: request.values.get(key, "") for key in request.values}
        grant = form.get("grant_type", "")
        if grant == "password":
            issued = password_login(world, form)
        elif grant == "refresh_token":
            issued = refresh_login(world, form.get("refresh_token", ""))
        else:
            raise SandboxError.oauth("unsupported_grant_type", f"Unsupported grant type: {grant}")
        with world.lock:
            return json_response(_token_body(world, issued))

    return bp
