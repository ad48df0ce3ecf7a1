"""Ops console sessions end when they should: at sign-out (a copy of the cookie too), when the
account's password changes, with Redis's data, and (sandbox mode) with the run's start."""

from __future__ import annotations

import os
import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug.security import generate_password_hash

from integrator.app import create_app
from integrator.ops import init_ops
from integrator.services import services_of
from integrator.settings import Settings
from integrator.store import keys
from tests.ops.conftest import PASSWORDS, signed_in
from tests.support.live_app import serve

ROOT = Path(__file__).resolve().parents[2]
COOKIE = "integrator_ops"


def _cookie_of(http: requests.Session) -> str:
    return next(c.value for c in http.cookies if c.name == COOKIE and c.value)


def _with_cookie(base: str, path: str, cookie: str) -> requests.Response:
    """A request carrying only a copy of the cookie (another browser, someone who copied it)."""
    return requests.get(
        f"{base}{path}", cookies={COOKIE: cookie}, allow_redirects=False, timeout=10
    )


def test_a_signed_in_session_keeps_working_across_pages(live: str) -> None:
    http, _csrf = signed_in(live, "alice")
    copy = _cookie_of(http)
    for path in ("/ops/", "/ops/payments", "/ops/audit", "/ops/cash/", "/ops/"):
        answer = http.get(f"{live}{path}", allow_redirects=False, timeout=10)
        assert answer.status_code == 200, (path, answer.status_code)
    assert _with_cookie(live, "/ops/", copy).status_code == 200  # the session is the cookie's


def test_a_copy_of_the_cookie_is_refused_after_sign_out(live: str) -> None:
    http, csrf = signed_in(live, "alice")
    copy = _cookie_of(http)
    other, _ = signed_in(live, "bob")

    http.post(f"{live}/ops/logout", data={"csrf_token": csrf}, timeout=10)

    for path in ("/ops/", "/ops/payments", "/ops/cash/"):
        refused = _with_cookie(live, path, copy)
        assert refused.status_code == 302, (path, refused.status_code)
        assert refused.headers["Location"].endswith("/ops/login")
    # someone else's session is not touched by alice signing out
    assert other.get(f"{live}/ops/", allow_redirects=False, timeout=10).status_code == 200


@pytest.fixture
def restarted(ops_settings: Settings, redis: Any, sandbox: str) -> Iterator[Any]:
    """Start the console again (same SECRET_KEY, same Redis) with other OPS_USERS."""
    apps: list[Flask] = []

    def start(ops_users: tuple[str, ...]) -> Any:
        app = create_app(ops_settings.with_changes(ops_users=ops_users))
        if "ops" not in app.blueprints:
            init_ops(app, services_of(app))
        apps.append(app)
        return serve(app)

    yield start
    for app in apps:
        services_of(app).redis.close()


def test_a_session_opened_before_a_password_change_is_refused(
    live: str, ops_users: tuple[str, ...], restarted: Any
) -> None:
    alice, _ = signed_in(live, "alice")
    bob, _ = signed_in(live, "bob")
    new_alice = "alice:operator:" + generate_password_hash(
        "a-new-password-9", method="pbkdf2:sha256:1000"
    )
    unchanged_bob = next(u for u in ops_users if u.startswith("bob:"))

    with restarted((new_alice, unchanged_bob)) as base:
        refused = _with_cookie(base, "/ops/", _cookie_of(alice))
        refused_cash = _with_cookie(base, "/ops/cash/", _cookie_of(alice))
        kept = _with_cookie(base, "/ops/", _cookie_of(bob))

    assert refused.status_code == 302 and refused.headers["Location"].endswith("/ops/login")
    assert refused_cash.status_code == 302
    assert kept.status_code == 200 and "bob (viewer)" in kept.text


def test_losing_redis_signs_everyone_out(live: str, services: Any) -> None:
    http, _csrf = signed_in(live, "alice")
    for key in services.redis.scan_iter(match=keys.ops_session("*")):
        services.redis.delete(key)

    answer = http.get(f"{live}/ops/", allow_redirects=False, timeout=10)

    assert answer.status_code == 302


def test_signing_in_again_ends_the_browser_s_earlier_session(live: str) -> None:
    http, _csrf = signed_in(live, "alice")
    before = _cookie_of(http)
    page = http.get(f"{live}/ops/login", timeout=10)
    from tests.ops.conftest import csrf_of

    http.post(
        f"{live}/ops/login",
        data={
            "username": "alice",
            "password": PASSWORDS["alice"],
            "csrf_token": csrf_of(page.text),
        },
        timeout=10,
    )

    assert _with_cookie(live, "/ops/", before).status_code == 302
    assert http.get(f"{live}/ops/", allow_redirects=False, timeout=10).status_code == 200


def _gunicorn_config(monkeypatch: pytest.MonkeyPatch, **env: str) -> str | None:
    """Run config/gunicorn.conf.py as gunicorn's master does; the SECRET_KEY it leaves for the
    workers it will fork."""
    for name in ("DIGIT_BASE_URL", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    return os.environ.get("SECRET_KEY")


def test_in_sandbox_mode_each_start_of_gunicorn_makes_its_own_session_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = _gunicorn_config(monkeypatch)
    second = _gunicorn_config(monkeypatch)

    assert first and second and len(first) >= 32
    assert first != second  # a new start: the previous start's cookies no longer verify


def test_a_configured_secret_key_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    configured = "a-configured-secret-key-0123"
    assert _gunicorn_config(monkeypatch, SECRET_KEY=configured) == configured
