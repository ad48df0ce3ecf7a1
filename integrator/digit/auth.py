"""The one DIGIT token shared by every process, and the guard that keeps DIGIT from locking us out.

- `TokenManager.token()` returns the shared token from Redis, renewing it `token_leeway_seconds`
  before expiry. Renewal is single-flight: one process takes a Redis lock (`SET NX PX`), re-checks,
  refreshes (`grant_type=refresh_token`) or logs in (`grant_type=password`), stores the token, and
  releases the lock by compare-and-delete. Everyone else waits and re-checks.
- `TokenManager.invalidate(token)` drops the shared token only if it is still the one that failed.
- Bad credentials: DIGIT locks an account after 5 bad logins in 30 minutes, so after
  `MAX_BAD_LOGINS` refusals in `BAD_LOGIN_WINDOW_SECONDS` (across all processes) logins stop and
  every call fails fast with `DigitAuthLocked`, until the credentials change (the lock carries a
  fingerprint of them) or an operator runs `unlock(redis)`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis as redis_lib
from authlib.integrations.requests_client.oauth2_session import OAuth2ClientAuth

from integrator.digit.errors import DigitAuthError, DigitAuthLocked, DigitUnavailable
from integrator.digit.http import Transport
from integrator.digit.models import AuthState
from integrator.observability import events
from integrator.settings import Settings
from integrator.store.tokens import LoginLock, StoredToken, TokenStore

log = logging.getLogger("integrator.digit.auth")

TOKEN_ENDPOINT = "user/oauth/token"
MAX_BAD_LOGINS = 2  # DIGIT locks after 5 in 30 minutes (digest 2.4); we stop well before
BAD_LOGIN_WINDOW_SECONDS = 30 * 60
# error_description values that mean "these credentials are wrong" (digest 2.4)
BAD_CREDENTIAL_MESSAGES = frozenset({"Invalid login credentials", "Account locked"})
_WAIT_STEP_SECONDS = 0.05


def credentials_fingerprint(settings: Settings) -> str:
    """A hash of what identifies the login; stored with a lock so new settings lift it."""
    material = "\x00".join(
        (
            settings.digit_username,
            settings.digit_password,
            settings.digit_base_url,
            settings.digit_tenant_id,
        )
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def unlock(redis: redis_lib.Redis) -> None:
    """Operator action (`integrator digit unlock`): lift a login suspension, forget bad logins."""
    TokenStore(redis).clear_login_lock()
    log.warning("DIGIT login suspension cleared by an operator")


class _RefreshFailed(Exception):
    """The refresh token was refused; fall back to a password login."""


#: How long a process reuses the shared token it last read from Redis before reading it again.
TOKEN_MEMO_SECONDS = 5.0


class TokenManager:
    """Gets, shares, renews and invalidates the DIGIT token (see the module docstring)."""

    def __init__(
        self,
        *,
        settings: Settings,
        redis: redis_lib.Redis,
        transport: Transport,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._store = TokenStore(redis)
        self._transport = transport
        self._clock = clock
        self._fingerprint = credentials_fingerprint(settings)
        self._client_auth = OAuth2ClientAuth(
            settings.digit_client_id,
            settings.digit_client_secret,
            auth_method="client_secret_basic",
        )
        # The shared token, remembered in this process for a little while: one Redis read per
        # TOKEN_MEMO_SECONDS instead of one per DIGIT call. A refused token clears it at once.
        self._memo: tuple[StoredToken, float] | None = None
        # A login may take a connect + read timeout; the lock must outlive it.
        self._lock_ttl_ms = int(
            (settings.digit_connect_timeout + settings.digit_read_timeout) * 1000 + 2000
        )

    # --- public ---
    def token(self) -> str:
        """A usable shared token, renewing it (single-flight) when due."""
        now = self._clock()
        memo = self._memo
        if memo is not None and time.monotonic() < memo[1] and memo[0].fresh(now):
            return memo[0].access_token
        current = self._store.get()
        if current is not None and current.fresh(now):
            self._memo = (current, time.monotonic() + TOKEN_MEMO_SECONDS)
            return current.access_token
        self._memo = None
        self._raise_if_locked()
        deadline = time.monotonic() + self._lock_ttl_ms / 1000 + 1
        while True:
            owner = self._store.acquire_renewal_lock(ttl_ms=self._lock_ttl_ms)
            if owner is not None:
                try:
                    return self._renew_holding_lock()
                finally:
                    self._store.release_renewal_lock(owner)
            # Another process is renewing. A token that is due but not expired is still good.
            current = self._store.get()
            if current is not None and current.usable(self._clock()):
                return current.access_token
            if time.monotonic() > deadline:
                raise DigitUnavailable(
                    "timed out waiting for another process's DIGIT login", endpoint=TOKEN_ENDPOINT
                )
            time.sleep(_WAIT_STEP_SECONDS)
            self._raise_if_locked()

    def invalidate(self, failed_token: str) -> None:
        """DIGIT refused `failed_token`: drop it unless another process already replaced it."""
        self._memo = None
        if self._store.delete_if(failed_token):
            log.info("dropped the shared DIGIT token after DIGIT refused it")

    def auth_state(self) -> AuthState:
        """Why we can or cannot authenticate (never the token or password)."""
        now = self._clock()
        current = self._store.get()
        lock = self._store.login_lock()
        locked = lock is not None and lock.fingerprint == self._fingerprint
        return AuthState(
            has_token=current is not None and current.usable(now),
            expires_at=(datetime.fromtimestamp(int(current.expires_at), UTC) if current else None),
            locked=locked,
            locked_reason=lock.reason if lock is not None and locked else None,
            failed_logins=self._store.bad_logins(),
        )

    # --- internals ---
    def _raise_if_locked(self) -> None:
        lock = self._store.login_lock()
        if lock is None:
            return
        if lock.fingerprint != self._fingerprint:
            # The credentials (or DIGIT, or tenant) changed since the lock: try again.
            log.warning("DIGIT credentials changed since logins were suspended: lifting it")
            self._store.clear_login_lock()
            return
        raise DigitAuthLocked(
            f"DIGIT logins are suspended: {lock.reason}. Fix DIGIT_USERNAME/DIGIT_PASSWORD "
            "or run `integrator digit unlock`",
            endpoint=TOKEN_ENDPOINT,
        )

    def _renew_holding_lock(self) -> str:
        now = self._clock()
        current = self._store.get()  # re-check: someone may have renewed before we got the lock
        if current is not None and current.fresh(now):
            return current.access_token
        self._raise_if_locked()
        new: StoredToken | None = None
        if current is not None and current.refresh_token:
            try:
                new = self._refresh(current.refresh_token)
                events.current().token_renewed("refresh")
            except _RefreshFailed:
                log.info("DIGIT refused the refresh token; logging in again")
        if new is None:
            new = self._login()
            events.current().token_renewed("login")
        self._store.save(new, now=self._clock())
        return new.access_token

    def _refresh(self, refresh_token: str) -> StoredToken:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        answer = self._transport.send(TOKEN_ENDPOINT, form=form, auth=self._client_auth)
        if answer.status != 200 or not isinstance(answer.body, dict):
            if answer.status == 429 or answer.status >= 500:
                raise DigitUnavailable(
                    f"DIGIT token endpoint answered {answer.status}",
                    endpoint=TOKEN_ENDPOINT,
                    status=answer.status,
                )
            raise _RefreshFailed()
        return self._parse_token(answer.body)

    def _login(self) -> StoredToken:
        s = self._settings
        form = {
            "grant_type": "password",
            "username": s.digit_username,
            "password": s.digit_password,
            "scope": "read",
            "tenantId": s.digit_tenant_id,
            "userType": s.digit_user_type,
        }
        answer = self._transport.send(TOKEN_ENDPOINT, form=form, auth=self._client_auth)
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.status == 200 and body.get("access_token"):
            return self._parse_token(body)
        if answer.status == 429 or answer.status >= 500:
            raise DigitUnavailable(
                f"DIGIT login answered {answer.status}",
                endpoint=TOKEN_ENDPOINT,
                status=answer.status,
            )
        description = str(body.get("error_description") or "")
        error = str(body.get("error") or "")
        if answer.status == 400 and description in BAD_CREDENTIAL_MESSAGES:
            self._record_bad_login(description)
        raise DigitAuthError(
            f"DIGIT login failed: {error or answer.status} {description}".strip(),
            endpoint=TOKEN_ENDPOINT,
            status=answer.status,
        )

    def _record_bad_login(self, description: str) -> None:
        count = self._store.record_bad_login(window_seconds=BAD_LOGIN_WINDOW_SECONDS)
        log.error(
            "DIGIT refused the integrator's credentials (%s), %d in this window", description, count
        )
        if count >= MAX_BAD_LOGINS or description == "Account locked":
            reason = f"{count} refused login(s), last: {description}"
            self._store.set_login_lock(
                LoginLock(fingerprint=self._fingerprint, reason=reason, since=self._clock())
            )
            raise DigitAuthLocked(
                f"DIGIT logins are suspended: {reason}", endpoint=TOKEN_ENDPOINT, status=400
            )

    def _parse_token(self, body: dict[str, object]) -> StoredToken:
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise DigitAuthError(
                "DIGIT's token answer has no access_token", endpoint=TOKEN_ENDPOINT
            )
        try:
            expires_in = int(str(body.get("expires_in")))
        except ValueError:
            raise DigitAuthError(
                "DIGIT's token answer has no valid expires_in", endpoint=TOKEN_ENDPOINT
            ) from None
        refresh = body.get("refresh_token")
        now = self._clock()
        # Renew `leeway` before expiry, but never sooner than halfway (a short-lived token must
        # not make every call log in again).
        lead = min(self._settings.token_leeway_seconds, expires_in / 2)
        return StoredToken(
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            expires_at=now + expires_in,
            renew_at=now + expires_in - lead,
        )
