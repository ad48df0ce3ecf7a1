"""egov-user's OAuth token endpoint (digest 2.1-2.4) and the token check the gateway does (2.5).

Tokens are opaque uuids with an expiry on the sandbox clock. The token-store key is
(username, client, scope, tenantId), so a repeat login returns the same token while it is valid.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, request

from integrator.sandbox.errors import SandboxError, invalid_access_token, missing_token
from integrator.sandbox.http import json_response, pick, request_info
from integrator.sandbox.world import AccessToken, User, World

CLIENT_ID = "egov-user-client"
CLIENT_SECRET = ""
USER_TYPES = {"CITIZEN", "EMPLOYEE", "SYSTEM", "BUSINESS"}
MAX_FAILED_LOGINS = 5
FAILED_LOGIN_WINDOW_MS = 30 * 60 * 1000
UNLOCK_COOL_DOWN_MS = 60 * 60 * 1000


def _login_error(message: str) -> SandboxError:
    return SandboxError.oauth("invalid_request", message)


def _tenant_allowed(user: User, tenant_id: str) -> bool:
    """A user may log in with its own tenant, its state, or a city of its state."""
    state = user.tenant_id.split(".")[0]
    return tenant_id == user.tenant_id or tenant_id == state or tenant_id.startswith(state + ".")


def _token_body(world: World, token: AccessToken) -> dict[str, Any]:
    user = token.user
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
        "UserRequest": {
            "id": user.id,
            "uuid": user.uuid,
            "userName": user.user_name,
            "name": user.name,
            "mobileNumber": user.mobile_number,
            "emailId": None,
            "locale": None,
            "type": user.type,
            "roles": [
                {"name": role.title(), "code": role, "tenantId": user.tenant_id}
                for role in user.roles
            ],
            "active": True,
            "tenantId": user.tenant_id,
            "permanentCity": None,
        },
    }


def _issue(world: World, user: User, tenant_id: str, scope: str) -> AccessToken:
    now = world.now_ms()
    key = (user.user_name, CLIENT_ID, scope, tenant_id)
    existing = world.tokens.get(world.token_by_key.get(key, ""))
    if existing is not None and existing.expires_at_ms > now:
        return existing
    refresh = existing.refresh_token if existing and existing.refresh_expires_at_ms > now else None
    ttl_ms = world.config.token_ttl_seconds * 1000
    token = AccessToken(
        value=str(uuid.uuid4()),
        refresh_token=refresh or str(uuid.uuid4()),
        user=user,
        key=key,
        scope=scope,
        tenant_id=tenant_id,
        expires_at_ms=now + ttl_ms,
        refresh_expires_at_ms=existing.refresh_expires_at_ms
        if refresh and existing
        else now + 2 * ttl_ms,
    )
    if existing is not None:
        world.tokens.pop(existing.value, None)
    world.tokens[token.value] = token
    world.token_by_key[key] = token.value
    world.refresh_tokens[token.refresh_token] = token
    return token


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
        now = world.now_ms()
        user = world.find_user(username, user_type)
        if user is None or not _tenant_allowed(user, tenant_id):
            raise _login_error("Invalid login credentials")
        if user.locked_until_ms is not None:
            if user.locked_until_ms > now:
                raise _login_error("Account locked")
            user.locked_until_ms = None
            user.failed_logins.clear()
        if password != user.password:
            user.failed_logins = [
                t for t in user.failed_logins if t > now - FAILED_LOGIN_WINDOW_MS
            ] + [now]
            if len(user.failed_logins) >= MAX_FAILED_LOGINS:
                user.locked_until_ms = now + UNLOCK_COOL_DOWN_MS
            raise _login_error("Invalid login credentials")
        user.failed_logins.clear()
        return _issue(world, user, tenant_id, scope)


def refresh_login(world: World, refresh_token: str) -> AccessToken:
    with world.lock:
        old = world.refresh_tokens.get(refresh_token)
        if old is None or old.refresh_expires_at_ms <= world.now_ms():
            raise SandboxError.oauth("invalid_grant", f"Invalid refresh token: {refresh_token}")
        # Spring's DefaultTokenServices drops the old access token and keeps the refresh token.
        world.tokens.pop(old.value, None)
        world.token_by_key.pop(old.key, None)
        ttl_ms = world.config.token_ttl_seconds * 1000
        token = AccessToken(
            value=str(uuid.uuid4()),
            refresh_token=old.refresh_token,
            user=old.user,
            key=old.key,
            scope=old.scope,
            tenant_id=old.tenant_id,
            expires_at_ms=world.now_ms() + ttl_ms,
            refresh_expires_at_ms=old.refresh_expires_at_ms,
        )
        world.tokens[token.value] = token
        world.token_by_key[token.key] = token.value
        world.refresh_tokens[token.refresh_token] = token
        return token


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
