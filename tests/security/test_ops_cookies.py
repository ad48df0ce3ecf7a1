"""The ops console's session cookie: HttpOnly, SameSite, Secure behind TLS, never readable by JS.

Adapts to the app: wires `integrator.ops.init_ops` itself while create_app does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.security import generate_password_hash

from integrator.app import create_app
from integrator.services import services_of
from integrator.settings import Settings

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(params=[False, True], ids=["plain-http", "behind-tls"])
def ops_app(
    request: pytest.FixtureRequest, e2e_settings: Settings, redis: Any, sandbox: str
) -> Iterator[tuple[Flask, bool]]:
    if not hasattr(e2e_settings, "ops_users"):
        pytest.skip("no ops settings yet")
    secure = bool(request.param)
    settings = e2e_settings.with_changes(
        ops_users=(f"alice:operator:{generate_password_hash(PASSWORD)}",),
        secret_key="an-ops-session-signing-key-for-tests",
        ops_cookie_secure=secure,
    )
    app = create_app(settings)
    if "/ops/login" not in {rule.rule for rule in app.url_map.iter_rules()}:
        try:  # not wired into create_app yet: wire it as create_app will
            from integrator.ops import init_ops
        except ImportError:
            services_of(app).redis.close()
            pytest.skip("there is no ops console")
        init_ops(app, services_of(app))
    yield app, secure
    services_of(app).redis.close()


def _session_cookies(response: Any) -> list[str]:
    return [
        v
        for v in response.headers.getlist("Set-Cookie")
        if "session" in v.lower() or v.lower().startswith("integrator_ops")
    ]


def test_the_ops_session_cookie_is_httponly_samesite_and_secure_behind_tls(
    ops_app: tuple[Flask, bool],
) -> None:
    app, secure = ops_app
    client = app.test_client()
    https = "https://localhost"  # so the test client sends a Secure cookie back
    first = client.get("/ops/login", base_url=https)
    for cookie in _session_cookies(first):  # the anonymous session (CSRF token) too
        assert "httponly" in cookie.lower(), cookie
    with client.session_transaction("/ops/login", base_url=https) as session:
        csrf = session.get("csrf_token", "")
    signed_in = client.post(
        "/ops/login",
        base_url=https,
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf},
    )
    assert signed_in.status_code in (302, 303), signed_in.status_code
    cookies = _session_cookies(signed_in)
    assert cookies, signed_in.headers
    for cookie in cookies:
        flags = [part.strip().lower() for part in cookie.split(";")]
        assert "httponly" in flags, cookie
        assert any(f.startswith("samesite=") and f != "samesite=none" for f in flags), cookie
        assert ("secure" in flags) is secure, cookie
        assert PASSWORD not in cookie
