"""`/healthz` (the process is alive) and `/readyz` (it can accept payments).

/readyz answers 503 when the ledger (PostgreSQL) cannot take a write, or Redis cannot (device
admission, the queue and the DIGIT token live there). Payments are accepted into the ledger and
registered with DIGIT later, so DIGIT being down is reported in the body, not as unreadiness.
The DIGIT ping is time-bound so a hanging DIGIT cannot make /readyz slow. No token or password is
ever part of the body.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from typing import Any, Protocol

import redis as redis_lib
from flask import Blueprint, Flask, Response, current_app, jsonify

from integrator.digit.models import AuthState
from integrator.digit.roles import CapabilityRow
from integrator.payments.use_cases import LedgerUnavailable
from integrator.services import current_services
from integrator.store.db import Database
from integrator.store.redis_conn import check_writable

log = logging.getLogger(__name__)

DIGIT_PING_BUDGET_SECONDS = 2.0  # longest /readyz waits for DIGIT's answer

bp = Blueprint("health", __name__)


class DigitProbe(Protocol):
    """What /readyz needs of the DIGIT client."""

    def ping(self) -> bool: ...

    def auth_state(self) -> AuthState: ...

    def capabilities(self) -> list[CapabilityRow]: ...


class _Pinger:
    """Runs DIGIT pings on a small pool so a hung DIGIT holds at most two threads."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, probe: DigitProbe) -> Future[bool]:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="readyz-ping")
            return self._pool.submit(probe.ping)


def _redis_status(client: redis_lib.Redis) -> str:
    try:
        check_writable(client)
    except redis_lib.RedisError as exc:
        log.warning("readyz: Redis cannot take a write: %s", exc)
        return f"error: {type(exc).__name__}"
    return "ok"


def _ledger_status(db: Database) -> str:
    """ "ok" when the ledger answers on a primary (a standby cannot accept a payment)."""
    try:
        primary = db.is_primary()
    except LedgerUnavailable as exc:
        log.warning("readyz: the ledger cannot be reached: %s", exc)
        return f"error: {type(exc).__name__}"
    return "ok" if primary else "error: read-only (a standby)"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _digit_status(pinger: _Pinger, probe: DigitProbe) -> dict[str, Any]:
    try:
        reachable = pinger.submit(probe).result(timeout=DIGIT_PING_BUDGET_SECONDS)
    except FutureTimeout:
        reachable = False
    except Exception:
        log.warning("readyz: DIGIT ping failed", exc_info=True)
        reachable = False
    auth: dict[str, Any] | None
    try:
        state = probe.auth_state()
        auth = {
            "has_token": state.has_token,
            "expires_at": _iso(state.expires_at),
            "locked": state.locked,
            "locked_reason": state.locked_reason,
            # "credentials" (stopped until `integrator digit unlock`) or "account" (DIGIT's
            # temporary lock: the next login is tried at locked_until)
            "lock_kind": state.lock_kind,
            "locked_until": _iso(state.locked_until),
        }
    except Exception:
        log.warning("readyz: DIGIT auth state unavailable", exc_info=True)
        auth = None
    return {"reachable": bool(reachable), "auth": auth, "cities": _cities(probe)}


def _cities(probe: DigitProbe) -> list[dict[str, Any]] | None:
    """Per city and collectable module, what DIGIT lets the account do (from its roles, as
    `integrator check` prints it); None when it cannot be worked out now."""
    try:
        rows = probe.capabilities()
    except Exception:
        log.warning("readyz: DIGIT capabilities unavailable", exc_info=True)
        return None
    return [
        {
            "tenantId": row.tenant_id,
            "module": row.module,
            "maySearch": row.may_search,
            "mayCreate": row.may_create,
            "mayCancel": row.may_cancel,
            "inMdms": row.in_mdms,
        }
        for row in rows
    ]


@bp.get("/healthz")
def healthz() -> Response:
    """Alive: always 200, touches nothing."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready: 200 when the ledger and Redis take writes (DIGIT's state is in the body), else 503."""
    services = current_services()
    ledger_state = _ledger_status(services.db)
    redis_state = _redis_status(services.redis)
    pinger = _pinger()
    try:
        digit = _digit_status(pinger, services.digit)
    except Exception:  # the client could not even be built
        log.warning("readyz: DIGIT client unavailable", exc_info=True)
        digit = {"reachable": False, "auth": None}
    ok = ledger_state == "ok" and redis_state == "ok"
    body = {
        "status": "ready" if ok else "unavailable",
        "ledger": ledger_state,
        "redis": redis_state,
        "digit": digit,
    }
    return jsonify(body), 200 if ok else 503


def _pinger() -> _Pinger:
    pinger = current_app.extensions.get("integrator.readyz_pinger")
    assert isinstance(pinger, _Pinger)
    return pinger


def init_app(app: Flask) -> None:
    """Register /healthz and /readyz (no auth: load balancers and orchestrators call them)."""
    app.extensions["integrator.readyz_pinger"] = _Pinger()
    app.register_blueprint(bp)
