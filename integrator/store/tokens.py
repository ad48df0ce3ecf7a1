"""The shared DIGIT token and the login guard, kept in Redis for every web and worker process.

Layout (keys from `integrator.store.keys`):

- `digit_token()`: a hash `{access_token, refresh_token, expires_at, renew_at,
  refresh_expires_at, final, roles}` (epoch seconds; roles as JSON `[[code, tenantId], ...]` from
  the login's `UserRequest.roles`), expiring with the access token. The token is a secret:
  nothing here logs it.
- `digit_token_renewal_lock()`: `SET NX PX` with a random owner id; released by compare-and-delete,
  so a process whose lock expired can never release someone else's.
- `digit_bad_logins()`: `INCR` counter of refused logins, expiring 30 minutes after the first.
- `digit_auth_lock()`: a hash `{fingerprint, reason, since, kind, retry_at}`; set when logins are
  suspended: kind `credentials` (our two bad logins: until an operator unlocks) or `account`
  (DIGIT said "Account locked": one login may be tried at `retry_at`).
- `digit_login_backoff()`: JSON `{until, reason}` after a login DIGIT refused for a reason it does
  not count: no login before `until` (expires by itself shortly after).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import redis as redis_lib
from redis.typing import EncodableT, FieldT

from integrator.store import keys

# Deletes KEYS[1] only if it still holds ARGV[1] (the renewal lock's owner id).
_RELEASE_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

# Deletes the token hash only if it still holds the access token that failed (ARGV[1]), so a
# process that saw a stale token never drops the fresh one another process just stored.
_DELETE_IF_TOKEN = """
if redis.call('HGET', KEYS[1], 'access_token') == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

# Moves the token's renew_at (ARGV[2]) only if the hash still holds ARGV[1]: a token another
# process dropped (refused by DIGIT) or replaced is never written back.
_POSTPONE_IF_TOKEN = """
if redis.call('HGET', KEYS[1], 'access_token') == ARGV[1] then
    redis.call('HSET', KEYS[1], 'renew_at', ARGV[2])
    return 1
end
return 0
"""

# INCR with the window's expiry set on the first refusal only (a fixed 30-minute window).
_COUNT_IN_WINDOW = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return n
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


#: A DIGIT role held by the account: (role code, tenantId), as the login's UserRequest lists it.
RoleGrant = tuple[str, str]


@dataclass(frozen=True, kw_only=True)
class StoredToken:
    """The shared token. Times are epoch seconds.

    `refresh_expires_at` is when the refresh token dies (DIGIT never extends it; None: unknown);
    `final` says DIGIT handed this same token back to a password login, so nothing can renew it
    before it expires (docs/digit.md#tokens); `roles` are the account's roles from the login.
    """

    access_token: str
    refresh_token: str | None
    expires_at: float
    renew_at: float
    refresh_expires_at: float | None = None
    final: bool = False
    roles: tuple[RoleGrant, ...] = ()

    def __repr__(self) -> str:  # never print the secret
        return f"StoredToken(expires_at={self.expires_at}, renew_at={self.renew_at})"

    def usable(self, now: float) -> bool:
        """Not yet expired (it may already be due for renewal)."""
        return now < self.expires_at

    def fresh(self, now: float) -> bool:
        """Not yet due for renewal."""
        return now < self.renew_at


LockKind = Literal["credentials", "account"]


@dataclass(frozen=True, kw_only=True)
class LoginLock:
    """Why logins are suspended, and for which credentials (a fingerprint, never the password).

    `credentials`: our own guard after bad logins, lifted by an operator or new settings.
    `account`: DIGIT locked the account; one login may be tried from `retry_at` on.
    """

    fingerprint: str
    reason: str
    since: float
    kind: LockKind = "credentials"
    retry_at: float = 0.0


@dataclass(frozen=True, kw_only=True)
class LoginBackoff:
    """DIGIT refused our last login for a reason it does not count: no login before `until`
    (epoch seconds), for these credentials (`fingerprint`)."""

    fingerprint: str
    reason: str
    until: float


class TokenStore:
    """Redis operations on the shared token, its renewal lock and the bad-login guard."""

    def __init__(self, redis: redis_lib.Redis) -> None:
        self._redis = redis
        self._release_if_owner = redis.register_script(_RELEASE_IF_OWNER)
        self._delete_if_token = redis.register_script(_DELETE_IF_TOKEN)
        self._postpone_if_token = redis.register_script(_POSTPONE_IF_TOKEN)
        self._count_in_window = redis.register_script(_COUNT_IN_WINDOW)

    # --- the token ---
    def get(self) -> StoredToken | None:
        raw = self._redis.hgetall(keys.digit_token())
        if not raw:
            return None
        data = {_text(k): _text(v) for k, v in raw.items()}
        try:
            refresh_expires = data.get("refresh_expires_at") or ""
            return StoredToken(
                access_token=data["access_token"],
                refresh_token=data.get("refresh_token") or None,
                expires_at=float(data["expires_at"]),
                renew_at=float(data["renew_at"]),
                refresh_expires_at=float(refresh_expires) if refresh_expires else None,
                final=data.get("final") == "1",
                roles=tuple(
                    (str(code), str(tenant))
                    for code, tenant in json.loads(data.get("roles") or "[]")
                ),
            )
        except (KeyError, ValueError, TypeError):
            return None  # a half-written or foreign value: treat as no token

    def save(self, token: StoredToken, *, now: float) -> None:
        """Replace the shared token; the key expires with the access token."""
        ttl_ms = max(1, int((token.expires_at - now) * 1000))
        mapping: dict[FieldT, EncodableT] = {
            "access_token": token.access_token,
            "refresh_token": token.refresh_token or "",
            "expires_at": repr(token.expires_at),
            "renew_at": repr(token.renew_at),
            "refresh_expires_at": (
                repr(token.refresh_expires_at) if token.refresh_expires_at is not None else ""
            ),
            "final": "1" if token.final else "0",
            "roles": json.dumps([list(role) for role in token.roles]),
        }
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(keys.digit_token())
        pipe.hset(keys.digit_token(), mapping=mapping)
        pipe.pexpire(keys.digit_token(), ttl_ms)
        pipe.execute()

    def delete_if(self, access_token: str) -> bool:
        """Drop the shared token only if it is still `access_token` (compare-and-delete)."""
        return bool(self._delete_if_token(keys=[keys.digit_token()], args=[access_token]))

    def postpone_renewal(self, access_token: str, *, renew_at: float) -> bool:
        """Set the shared token's `renew_at`, only if it is still `access_token`: every process
        then leaves it alone until then."""
        return bool(
            self._postpone_if_token(keys=[keys.digit_token()], args=[access_token, repr(renew_at)])
        )

    def ttl_seconds(self) -> float | None:
        ms = int(self._redis.pttl(keys.digit_token()))
        return None if ms < 0 else ms / 1000

    # --- single-flight renewal lock ---
    def acquire_renewal_lock(self, *, ttl_ms: int) -> str | None:
        """The owner id if this caller now holds the lock, else None."""
        owner = secrets.token_hex(16)
        if self._redis.set(keys.digit_token_renewal_lock(), owner, nx=True, px=ttl_ms):
            return owner
        return None

    def release_renewal_lock(self, owner: str) -> bool:
        return bool(self._release_if_owner(keys=[keys.digit_token_renewal_lock()], args=[owner]))

    def renewal_in_progress(self) -> bool:
        return bool(self._redis.exists(keys.digit_token_renewal_lock()))

    # --- bad-login guard ---
    def record_bad_login(self, *, window_seconds: int) -> int:
        """Count one refused login; returns the count in the current window."""
        return int(self._count_in_window(keys=[keys.digit_bad_logins()], args=[window_seconds]))

    def bad_logins(self) -> int:
        value = self._redis.get(keys.digit_bad_logins())
        return 0 if value is None else int(_text(value))

    def set_login_lock(self, lock: LoginLock) -> None:
        mapping: dict[FieldT, EncodableT] = {
            "fingerprint": lock.fingerprint,
            "reason": lock.reason,
            "since": repr(lock.since),
            "kind": lock.kind,
            "retry_at": repr(lock.retry_at),
        }
        self._redis.hset(keys.digit_auth_lock(), mapping=mapping)

    def login_lock(self) -> LoginLock | None:
        raw = self._redis.hgetall(keys.digit_auth_lock())
        if not raw:
            return None
        data = {_text(k): _text(v) for k, v in raw.items()}
        return LoginLock(
            fingerprint=data.get("fingerprint", ""),
            reason=data.get("reason", ""),
            since=float(data.get("since") or 0),
            kind="account" if data.get("kind") == "account" else "credentials",
            retry_at=float(data.get("retry_at") or 0),
        )

    def set_login_backoff(self, backoff: LoginBackoff, *, ttl_seconds: float) -> None:
        """No login before `backoff.until`; the key expires `ttl_seconds` from now."""
        text = json.dumps(
            {"until": backoff.until, "reason": backoff.reason, "fingerprint": backoff.fingerprint}
        )
        self._redis.set(keys.digit_login_backoff(), text, px=max(1, int(ttl_seconds * 1000)))

    def login_backoff(self) -> LoginBackoff | None:
        raw = self._redis.get(keys.digit_login_backoff())
        if raw is None:
            return None
        try:
            data = json.loads(_text(raw))
            return LoginBackoff(
                fingerprint=str(data.get("fingerprint") or ""),
                reason=str(data.get("reason") or ""),
                until=float(data["until"]),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def clear_login_backoff(self) -> None:
        self._redis.delete(keys.digit_login_backoff())

    def clear_login_lock(self) -> None:
        """Lift the suspension and forget the refused logins (operator unlock, new settings)."""
        self._redis.delete(
            keys.digit_auth_lock(), keys.digit_bad_logins(), keys.digit_login_backoff()
        )

    # --- cached MDMS masters (JSON text; the caller parses with Decimal) ---
    def get_cached(self, key: str) -> str | None:
        value = self._redis.get(key)
        return None if value is None else _text(value)

    def set_cached(self, key: str, text: str, *, ttl_seconds: int) -> None:
        self._redis.set(key, text, ex=max(1, ttl_seconds))
