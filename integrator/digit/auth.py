"""The one DIGIT token shared by every process, and the guards that keep DIGIT from locking us out.

How DIGIT behaves (docs/digit.md#tokens): an access token lives 7 days, its refresh token 14
days from issue and is never extended; a refresh returns a new access token with the *same*
refresh token; a password login while the access token is valid returns *that* token (and its
refresh token) again; only once it has expired does a login issue a new pair.

- `TokenManager.token()` returns the shared token from Redis, renewing it `token_leeway_seconds`
  before expiry. Renewal is single-flight across processes: one process takes a Redis lock (`SET
  NX PX`), re-checks, refreshes (`grant_type=refresh_token`) while the refresh token lives, else
  makes one password login, stores the token, and releases the lock by compare-and-delete.
  Everyone else waits and re-checks.
- When the refresh token is dead and a login hands back the token we already hold, nothing can
  renew it before it expires: it is kept `final` until `FINAL_GUARD_SECONDS` before its expiry,
  then the renewing process waits for DIGIT to drop it and logs in (a pause of a few seconds
  about every three weeks; no call ever carries an expired token).
- The login's `UserRequest.roles` are stored with the token: `roles()` and `auth_state()` show
  them, `integrator.digit.roles` says per city what the account may do.
- A renewal that fails while the current token is still valid (DIGIT's token endpoint answered
  5xx or not at all, or refused a login) does not fail the call: the token is valid until
  `expires_in` (docs/digit.md#tokens), so it is handed out, and its renewal is put off
  `RENEWAL_RETRY_SECONDS` for every process (the stored `renew_at`).
- A login DIGIT refuses for a reason it does not count (a bad client, "Please activate your
  account", ...) is not repeated by every call: no login is tried for `LOGIN_REFUSED_RETRY_SECONDS`
  after it, across all processes; calls fail fast meanwhile.
- `TokenManager.invalidate(token)` drops the shared token only if it is still the one that failed.
- Bad credentials: DIGIT locks an account after 5 bad logins in 30 minutes, so after
  `MAX_BAD_LOGINS` refusals in `BAD_LOGIN_WINDOW_SECONDS` (across all processes) logins stop and
  every call fails fast with `DigitAuthLocked`, until the credentials change (the lock carries a
  fingerprint of them) or an operator runs `unlock(redis)`.
- "Account locked" (DIGIT's own lock, perhaps caused by someone else; docs/digit.md#lockout):
  while the lock stands DIGIT answers every password login so without counting it, and the first
  password login 60 minutes or more after the lock lifts it; a refresh never does. So a refresh
  answering "Account locked" is followed at once by one password login (the lock may be old
  enough to lift), and while logins answer "Account locked" every call fails fast with
  `DigitAccountLocked` and one login is tried every `ACCOUNT_LOCKED_RETRY_SECONDS` (such a login
  cannot extend DIGIT's lock). When one succeeds, logins resume by themselves.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import redis as redis_lib
from authlib.integrations.requests_client.oauth2_session import OAuth2ClientAuth

from integrator.digit.errors import (
    DigitAccountLocked,
    DigitAuthError,
    DigitAuthLocked,
    DigitError,
    DigitUnavailable,
)
from integrator.digit.http import Transport
from integrator.digit.models import AuthState, Role
from integrator.digit.observer import NO_DIGIT_OBSERVER, DigitObserver
from integrator.settings import Settings
from integrator.store.tokens import LoginBackoff, LoginLock, RoleGrant, StoredToken, TokenStore

log = logging.getLogger("integrator.digit.auth")

TOKEN_ENDPOINT = "user/oauth/token"
MAX_BAD_LOGINS = 2  # DIGIT locks after 5 in 30 minutes (docs/digit.md#lockout); we stop well before
BAD_LOGIN_WINDOW_SECONDS = 30 * 60
# error_description values of egov-user's login (docs/digit.md#lockout): wrong password, or (for an
# EMPLOYEE, not counted by DIGIT) a tenant that is not the user record's; and DIGIT's own lock.
BAD_CREDENTIALS_MESSAGE = "Invalid login credentials"
ACCOUNT_LOCKED_MESSAGE = "Account locked"
#: While DIGIT answers "Account locked", one password login is tried this often. DIGIT counts no
#: login while locked and dates its lock from the locking attempt, so these tries cannot extend
#: it; the first one 60 minutes after the lock lifts it (docs/digit.md#lockout).
ACCOUNT_LOCKED_RETRY_SECONDS = 5 * 60
#: After a failed renewal of a token that is still valid, every process keeps using it and the
#: renewal is tried again this much later (the token has `token_leeway_seconds` left at first).
RENEWAL_RETRY_SECONDS = 30
#: After a login DIGIT refused for a reason it does not count (not "Invalid login credentials",
#: not "Account locked"), no login is tried for this long: the same request would be refused.
LOGIN_REFUSED_RETRY_SECONDS = 60
#: How long a refresh token lives from issue (egov-user refresh.token.validity.in.minutes=20160).
REFRESH_TOKEN_SECONDS = 14 * 24 * 3600
#: A token that cannot be renewed (`final`) is no longer handed out this close to its expiry:
#: our clock and DIGIT's differ by the login's latency.
FINAL_GUARD_SECONDS = 2.0
#: ... and is replaced by a login this long after its expiry, when DIGIT has surely dropped it
#: (`expires_in` is whole seconds).
FINAL_SLACK_SECONDS = 1.0
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
        sleep: Callable[[float], None] = time.sleep,
        observer: DigitObserver = NO_DIGIT_OBSERVER,
    ) -> None:
        self._settings = settings
        self._observer = observer
        self._store = TokenStore(redis)
        self._transport = transport
        self._clock = clock
        self._sleep = sleep
        self._fingerprint = credentials_fingerprint(settings)
        self._client_auth = OAuth2ClientAuth(
            settings.digit_client_id,
            settings.digit_client_secret,
            auth_method="client_secret_basic",
        )
        # The shared token, remembered in this process for a little while: one Redis read per
        # TOKEN_MEMO_SECONDS instead of one per DIGIT call. A refused token clears it at once.
        # Threads share it (a look-up's searches run at once): a token read from Redis is
        # remembered only if the memo was not forgotten since the read began (`_remember`), or
        # a thread that read it just before another dropped it as refused would put it back,
        # and the dropping thread's retry would send the refused token again.
        self._memo: tuple[StoredToken, float] | None = None
        self._memo_epoch = 0  # counts `_forget` calls
        self._memo_lock = threading.Lock()
        # A renewal may take a refresh and a login (a call deadline each) and, for a final
        # token, the wait for its expiry: the lock must outlive all of it.
        self._lock_ttl_ms = int(
            (
                2 * settings.digit_call_deadline_seconds
                + FINAL_GUARD_SECONDS
                + FINAL_SLACK_SECONDS
                + 2
            )
            * 1000
        )

    # --- public ---
    def token(self) -> str:
        """A usable shared token, renewing it (single-flight) when due."""
        now = self._clock()
        memo = self._memo
        if memo is not None and time.monotonic() < memo[1] and memo[0].fresh(now):
            return memo[0].access_token
        epoch = self._memo_epoch
        current = self._store.get()
        if current is not None and current.fresh(now):
            self._remember(current, epoch)
            return current.access_token
        self._forget()
        self._raise_if_locked()
        deadline = time.monotonic() + self._lock_ttl_ms / 1000 + 1
        while True:
            owner = self._store.acquire_renewal_lock(ttl_ms=self._lock_ttl_ms)
            if owner is not None:
                try:
                    return self._renew_holding_lock()
                except (DigitUnavailable, DigitAuthError) as exc:
                    # DigitAccountLocked: DIGIT revoked the user's tokens when it locked;
                    # DigitAuthLocked: our guard stops every call (unchanged)
                    if isinstance(exc, DigitAccountLocked | DigitAuthLocked):
                        raise
                    kept = self._keep_valid_token(exc)
                    if kept is None:
                        raise
                    return kept
                finally:
                    self._store.release_renewal_lock(owner)
            # Another process is renewing. A token that is due but not expired is still good.
            current = self._store.get()
            if current is not None and current.usable(self._clock() + FINAL_GUARD_SECONDS):
                return current.access_token
            if time.monotonic() > deadline:
                raise DigitUnavailable(
                    "timed out waiting for another process's DIGIT login", endpoint=TOKEN_ENDPOINT
                )
            time.sleep(_WAIT_STEP_SECONDS)
            self._raise_if_locked()

    def reload_roles(self) -> tuple[Role, ...]:
        """Log in once to read the account's roles, when the stored token has none (stored by an
        older version). While the token is valid DIGIT hands the same one back, with the
        UserRequest of its first issue (docs/digit.md#tokens): nothing is revoked."""
        self.token()
        owner = self._store.acquire_renewal_lock(ttl_ms=self._lock_ttl_ms)
        if owner is None:
            return self.roles()  # someone is renewing: their login brings the roles
        try:
            current = self._store.get()
            if current is not None and current.roles:
                return _roles(current.roles)
            self._raise_if_locked()
            self._raise_if_login_backed_off()
            return self._login_keeping(current, self._login(None))
        finally:
            self._store.release_renewal_lock(owner)

    def verify_login(self) -> tuple[Role, ...]:
        """One password login with these settings, whatever token is stored (`integrator
        check`): a stored token proves nothing about the credentials now configured (another
        process, other settings, or the password changed since). While the stored token is the
        same user's and valid, DIGIT hands that token back (nothing is revoked) and it is kept
        as it was; a new token is stored like any login's. A refusal raises as in `token()` and
        leaves the stored token alone."""
        self._raise_if_locked()
        self._raise_if_login_backed_off()
        deadline = time.monotonic() + self._lock_ttl_ms / 1000 + 1
        owner = self._store.acquire_renewal_lock(ttl_ms=self._lock_ttl_ms)
        while owner is None:
            if time.monotonic() > deadline:
                raise DigitUnavailable(
                    "timed out waiting for another process's DIGIT login", endpoint=TOKEN_ENDPOINT
                )
            time.sleep(_WAIT_STEP_SECONDS)
            owner = self._store.acquire_renewal_lock(ttl_ms=self._lock_ttl_ms)
        try:
            current = self._store.get()
            return self._login_keeping(current, self._login(current))
        finally:
            self._store.release_renewal_lock(owner)

    def _login_keeping(self, current: StoredToken | None, new: StoredToken) -> tuple[Role, ...]:
        """Store what a login (made holding the renewal lock) brought: DIGIT handing back the
        token we hold keeps it as it was, with the roles of the answer; the account's roles.
        The memo is forgotten once it is stored: it may hold `current` without those roles
        (roles() would answer from it for TOKEN_MEMO_SECONDS) or a token this login replaced,
        and a read begun before the save must not remember either (`_remember`)."""
        self._observer.token_renewed("login")
        if current is not None and new.access_token == current.access_token:
            new = replace(current, roles=new.roles)
        self._store.save(new, now=self._clock())
        self._forget()
        return _roles(new.roles)

    def invalidate(self, failed_token: str) -> bool:
        """DIGIT refused `failed_token`: drop it unless another process already replaced it.
        True when it was dropped; False when the store holds another token (or none)."""
        dropped = self._store.delete_if(failed_token)
        # After the delete: a thread that read the token before it and remembers it now, or
        # did already, is undone here (`_remember`)
        self._forget()
        if dropped:
            log.info("dropped the shared DIGIT token after DIGIT refused it")
        return dropped

    def replacement_for(self, failed_token: str) -> str | None:
        """The token another process stored in place of `failed_token` (its refresh or login
        revoked ours), if it is usable now; never renews, never logs in."""
        epoch = self._memo_epoch
        current = self._store.get()
        if (
            current is None
            or current.access_token == failed_token
            or not current.usable(self._clock() + FINAL_GUARD_SECONDS)
        ):
            return None
        self._remember(current, epoch)
        return current.access_token

    def roles(self) -> tuple[Role, ...]:
        """The account's roles from the stored login answer (empty before the first login).

        From the token this process remembers (TOKEN_MEMO_SECONDS) when it has one: the bills
        answer asks this per city on every request, and the roles change only with the token."""
        memo = self._memo
        if memo is not None and time.monotonic() < memo[1]:
            return _roles(memo[0].roles)
        current = self._store.get()
        return _roles(current.roles) if current is not None else ()

    def auth_state(self) -> AuthState:
        """Why we can or cannot authenticate (never the token or password)."""
        now = self._clock()
        current = self._store.get()
        lock = self._store.login_lock()
        locked = lock is not None and lock.fingerprint == self._fingerprint
        account = locked and lock is not None and lock.kind == "account"
        return AuthState(
            has_token=current is not None and current.usable(now),
            expires_at=_utc(current.expires_at) if current else None,
            locked=locked,
            locked_reason=lock.reason if lock is not None and locked else None,
            failed_logins=self._store.bad_logins(),
            lock_kind=lock.kind if lock is not None and locked else None,
            locked_until=_utc(lock.retry_at) if account and lock is not None else None,
            refresh_expires_at=(
                _utc(current.refresh_expires_at)
                if current is not None and current.refresh_expires_at is not None
                else None
            ),
            roles=_roles(current.roles) if current is not None else (),
        )

    # --- internals ---
    def _remember(self, token: StoredToken, epoch: int) -> None:
        """Remember `token`, read from Redis when the memo's epoch was `epoch`, for
        TOKEN_MEMO_SECONDS; not if the memo was forgotten since (another thread dropped a
        refused token meanwhile: this may be that token)."""
        with self._memo_lock:
            if self._memo_epoch == epoch:
                self._memo = (token, time.monotonic() + TOKEN_MEMO_SECONDS)

    def _forget(self) -> None:
        """Forget the remembered token, and make every read begun before now unfit to be
        remembered."""
        with self._memo_lock:
            self._memo_epoch += 1
            self._memo = None

    def _keep_valid_token(self, failure: DigitError) -> str | None:
        """After a failed renewal: the current token if it is still valid, its renewal put off
        RENEWAL_RETRY_SECONDS for every process; None when there is no valid token to keep."""
        now = self._clock()
        epoch = self._memo_epoch
        current = self._store.get()
        if current is None or not current.usable(now + FINAL_GUARD_SECONDS):
            return None
        renew_at = min(now + RENEWAL_RETRY_SECONDS, current.expires_at - FINAL_GUARD_SECONDS)
        if not self._store.postpone_renewal(current.access_token, renew_at=renew_at):
            return None  # dropped or replaced meanwhile: nothing of ours to keep
        self._remember(replace(current, renew_at=renew_at), epoch)
        log.warning(
            "DIGIT token renewal failed (%s); the current token stays valid until %s, renewal "
            "is tried again in %d s",
            type(failure).__name__,
            _utc(current.expires_at).isoformat(),
            RENEWAL_RETRY_SECONDS,
        )
        return current.access_token

    def _raise_if_login_backed_off(self) -> None:
        """Raise while an earlier login refused for an uncounted reason holds logins back."""
        backoff = self._store.login_backoff()
        if backoff is None or backoff.fingerprint != self._fingerprint:
            return
        if self._clock() < backoff.until:
            raise DigitAuthError(
                f"DIGIT login failed: {backoff.reason}; the next login is tried at "
                f"{_utc(backoff.until).isoformat()}",
                endpoint=TOKEN_ENDPOINT,
            )

    def _raise_if_locked(self) -> LoginLock | None:
        """Raise while logins are suspended; an account lock whose `retry_at` has come is
        returned instead: the caller (holding the renewal lock) may try one login."""
        lock = self._store.login_lock()
        if lock is None:
            return None
        if lock.fingerprint != self._fingerprint:
            # The credentials (or DIGIT, or tenant) changed since the lock: try again.
            log.warning("DIGIT credentials changed since logins were suspended: lifting it")
            self._store.clear_login_lock()
            return None
        if lock.kind == "account":
            if self._clock() >= lock.retry_at:
                return lock
            raise DigitAccountLocked(
                f"DIGIT has locked the account ({lock.reason}); one login will be tried at "
                f"{_utc(lock.retry_at).isoformat()}",
                retry_at=lock.retry_at,
                endpoint=TOKEN_ENDPOINT,
            )
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
        account_lock = self._raise_if_locked()
        if current is not None and current.final:
            if current.usable(now + FINAL_GUARD_SECONDS):
                return current.access_token  # nothing can renew it yet
            # Only once DIGIT has dropped it does a login give a new token.
            self._sleep(max(0.0, current.expires_at + FINAL_SLACK_SECONDS - self._clock()))
            current = None
        new: StoredToken | None = None
        refreshable = (
            account_lock is None  # a refresh answers "Account locked" until a login lifts it
            and current is not None
            and current.refresh_token is not None
            and (current.refresh_expires_at is None or now < current.refresh_expires_at)
        )
        if refreshable and current is not None and current.refresh_token is not None:
            try:
                new = self._refresh(current.refresh_token, current)
                self._observer.token_renewed("refresh")
            except _RefreshFailed:
                log.info("DIGIT refused the refresh token; logging in again")
        if new is None:
            self._raise_if_login_backed_off()
            new = self._login(current)
            self._observer.token_renewed("login")
            if account_lock is not None:
                self._store.clear_login_lock()
                log.warning("DIGIT accepted our login again after the account lock; resuming")
        self._store.save(new, now=self._clock())
        return new.access_token

    def _refresh(self, refresh_token: str, current: StoredToken) -> StoredToken:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        answer = self._transport.send(TOKEN_ENDPOINT, form=form, auth=self._client_auth)
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.status == 200 and body.get("access_token"):
            return self._parse_token(body, previous=current)
        if answer.status == 429 or answer.status >= 500:
            raise DigitUnavailable(
                f"DIGIT token endpoint answered {answer.status}",
                endpoint=TOKEN_ENDPOINT,
                status=answer.status,
            )
        if str(body.get("error_description") or "") == ACCOUNT_LOCKED_MESSAGE:
            # A refresh answers so while DIGIT's lock flag is set, however old the lock: only a
            # password login lifts it (after 60 minutes), and one made while locked is not
            # counted. The password login that follows says whether the lock still stands.
            log.warning("DIGIT refused the refresh: Account locked; trying one password login")
        raise _RefreshFailed()

    def _login(self, current: StoredToken | None) -> StoredToken:
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
            token = self._parse_token(body, previous=current)
            if current is not None and token.access_token == current.access_token:
                # DIGIT handed back the token we hold (its refresh token is dead): nothing can
                # renew it before it expires (module docstring).
                token = replace(token, final=True, renew_at=token.expires_at - FINAL_GUARD_SECONDS)
            return token
        if answer.status == 429 or answer.status >= 500:
            raise DigitUnavailable(
                f"DIGIT login answered {answer.status}",
                endpoint=TOKEN_ENDPOINT,
                status=answer.status,
            )
        description = str(body.get("error_description") or "")
        error = str(body.get("error") or "")
        if answer.status == 400 and description == ACCOUNT_LOCKED_MESSAGE:
            self._lock_account()
        reason = f"{error or answer.status} {description}".strip()
        if answer.status == 400 and description == BAD_CREDENTIALS_MESSAGE:
            self._record_bad_login(description)
        else:
            # DIGIT does not count this refusal (a bad client, an inactive account, a
            # malformed answer): the same login would be refused again; hold logins back
            self._back_off_logins(reason)
        raise DigitAuthError(
            f"DIGIT login failed: {reason}", endpoint=TOKEN_ENDPOINT, status=answer.status
        )

    def _back_off_logins(self, reason: str) -> None:
        until = self._clock() + LOGIN_REFUSED_RETRY_SECONDS
        self._store.set_login_backoff(
            LoginBackoff(fingerprint=self._fingerprint, reason=reason, until=until),
            ttl_seconds=LOGIN_REFUSED_RETRY_SECONDS + 5,
        )
        log.error(
            "DIGIT refused the integrator's login (%s); the next login is tried at %s",
            reason,
            _utc(until).isoformat(),
        )

    def _lock_account(self) -> None:
        """A password login said "Account locked": stop, and try one login again
        ACCOUNT_LOCKED_RETRY_SECONDS from now (module docstring)."""
        now = self._clock()
        retry_at = now + ACCOUNT_LOCKED_RETRY_SECONDS
        earlier = self._store.login_lock()
        still = (
            earlier is not None
            and earlier.kind == "account"
            and earlier.fingerprint == self._fingerprint
        )
        self._store.set_login_lock(
            LoginLock(
                fingerprint=self._fingerprint,
                reason="DIGIT answered Account locked",
                since=earlier.since if still and earlier is not None else now,
                kind="account",
                retry_at=retry_at,
            )
        )
        self._forget()
        log.log(
            logging.WARNING if still else logging.ERROR,
            "DIGIT has locked the integrator's account; one login will be tried at %s",
            _utc(retry_at).isoformat(),
        )
        raise DigitAccountLocked(
            "DIGIT has locked the account", retry_at=retry_at, endpoint=TOKEN_ENDPOINT, status=400
        )

    def _record_bad_login(self, description: str) -> None:
        count = self._store.record_bad_login(window_seconds=BAD_LOGIN_WINDOW_SECONDS)
        log.error(
            "DIGIT refused the integrator's credentials (%s), %d in this window", description, count
        )
        if count >= MAX_BAD_LOGINS:
            reason = f"{count} refused login(s), last: {description}"
            self._store.set_login_lock(
                LoginLock(fingerprint=self._fingerprint, reason=reason, since=self._clock())
            )
            raise DigitAuthLocked(
                f"DIGIT logins are suspended: {reason}", endpoint=TOKEN_ENDPOINT, status=400
            )

    def _parse_token(self, body: Mapping[str, Any], *, previous: StoredToken | None) -> StoredToken:
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
        raw_refresh = body.get("refresh_token")
        refresh = raw_refresh if isinstance(raw_refresh, str) and raw_refresh else None
        now = self._clock()
        # The refresh token's life runs from its issue and is never extended: a refresh token we
        # already hold keeps its recorded end; a new one gets 14 days from now.
        if previous is not None and refresh is not None and refresh == previous.refresh_token:
            refresh_expires_at = previous.refresh_expires_at
        else:
            refresh_expires_at = now + REFRESH_TOKEN_SECONDS if refresh is not None else None
        roles = _role_grants(body.get("UserRequest"))
        if not roles and previous is not None:
            roles = previous.roles  # an answer without UserRequest keeps what we knew
        # Renew `leeway` before expiry, but never sooner than halfway (a short-lived token must
        # not make every call log in again).
        lead = min(self._settings.token_leeway_seconds, expires_in / 2)
        return StoredToken(
            access_token=access,
            refresh_token=refresh,
            expires_at=now + expires_in,
            renew_at=now + expires_in - lead,
            refresh_expires_at=refresh_expires_at,
            roles=roles,
        )


def _role_grants(user: Any) -> tuple[RoleGrant, ...]:
    """`UserRequest.roles[]` of a login answer as (code, tenantId) pairs."""
    if not isinstance(user, Mapping) or not isinstance(user.get("roles"), list):
        return ()
    grants: list[RoleGrant] = []
    for role in user["roles"]:
        if isinstance(role, Mapping) and role.get("code") and role.get("tenantId"):
            grants.append((str(role["code"]), str(role["tenantId"])))
    return tuple(dict.fromkeys(grants))


def _roles(grants: tuple[RoleGrant, ...]) -> tuple[Role, ...]:
    return tuple(Role(code=code, tenant_id=tenant) for code, tenant in grants)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(int(epoch), UTC)
