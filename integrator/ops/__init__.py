"""The ops console under /ops: server-rendered pages for people who look after payments.

    init_ops(app, services)     what `create_app` calls: checks the ops settings, configures the
                                session cookie, registers the blueprint

Who may do what is decided here and in `views.py` (`before_request`): every page needs a signed-in
ops account (OPS_USERS); every POST needs the session's CSRF token; retry and resolve need the
`operator` role. The session cookie is Flask's signed cookie (SECRET_KEY), HttpOnly, SameSite=Lax,
Secure when OPS_COOKIE_SECURE is set, scoped to /ops; it holds a random session id whose record is
in Redis (`sessions.py`): sign-out deletes it, a password changed in OPS_USERS refuses it, and it
lasts SESSION_HOURS from the last request. Free text is shown through the `redact` template
filter (`logs.redact_value`): mobile numbers masked and secrets removed, as the CLI prints them.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

import redis as redis_lib
from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from integrator import logs
from integrator.services import Services
from integrator.settings import Settings, SettingsError
from integrator.store import keys
from integrator.store.codec import as_text

log = logging.getLogger("integrator.ops")

URL_PREFIX = "/ops"
SESSION_COOKIE = "integrator_ops"
SESSION_HOURS = 8


def sandbox_secret_key_name() -> str:
    """Redis key of the random session key shared by a sandbox run's web workers."""
    return keys.sandbox_secret_key()


def secret_key_for(settings: Settings, redis: redis_lib.Redis) -> str:
    """SECRET_KEY; required unless in sandbox mode. There, gunicorn's master makes a random one
    at each start (config/gunicorn.conf.py) that its workers inherit; an app started otherwise
    (one process, the tests) falls back to a random key kept in Redis and shared by its
    processes."""
    if settings.secret_key:
        if len(settings.secret_key) < 16:
            raise SettingsError("SECRET_KEY must be at least 16 characters")
        return settings.secret_key
    if not settings.sandbox_mode:
        raise SettingsError(
            "SECRET_KEY is required when DIGIT_BASE_URL is set (it signs ops console sessions)"
        )
    redis.set(sandbox_secret_key_name(), secrets.token_urlsafe(32), nx=True)
    return as_text(redis.get(sandbox_secret_key_name()))


class OpsOnlySessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, opened only under the cookie's path (the ops console).

    Browsers send the cookie nowhere else, and nothing outside the console reads a session; the
    PoS API and /metrics get Flask's null session instead of a signed-cookie session built and
    checked on every request (measurable CPU at hundreds of requests per second).
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith(self.get_cookie_path(app)):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_ops(app: Flask, services: Services) -> None:
    """Register the ops console on `app`. Refuses to start on a missing SECRET_KEY (outside
    sandbox mode) or a malformed OPS_USERS, naming the variable."""
    from integrator.ops.accounts import parse_accounts
    from integrator.ops.sessions import ConsoleSessions
    from integrator.ops.views import OpsContext, create_blueprint
    from integrator.ops.wiring import build_desk, build_operations, build_sessions

    settings = services.settings
    secret_key = secret_key_for(settings, services.redis)
    accounts = parse_accounts(settings.ops_users)
    logs.register_secret(secret_key)
    app.secret_key = secret_key
    # Free text on the pages (DIGIT's errors, history reasons and details, notes, refusals) may
    # hold a payer's mobile number or a credential: `|redact` shows it as the CLI prints it.
    app.add_template_filter(logs.redact_value, "redact")
    app.session_interface = OpsOnlySessions()
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_PATH=URL_PREFIX,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.ops_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )
    # one audited desk for both blueprints: every refused console action lands in one audit
    desk = build_desk(services, via="console")
    sessions = ConsoleSessions(build_sessions(services, ttl_seconds=SESSION_HOURS * 3600), accounts)
    context = OpsContext(
        services=services,
        accounts=accounts,
        sessions=sessions,
        operations=build_operations(services),
        desk=desk,
    )
    app.register_blueprint(create_blueprint(context), url_prefix=URL_PREFIX)
    from integrator.ops.cash_views import create_cash_blueprint

    app.register_blueprint(
        create_cash_blueprint(services, sessions, desk=desk), url_prefix=URL_PREFIX + "/cash"
    )
    if not accounts:
        log.warning("no ops accounts: set OPS_USERS to sign in to the ops console")
