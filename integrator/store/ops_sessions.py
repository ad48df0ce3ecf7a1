"""Signed-in ops console sessions, kept server-side in Redis (keys.ops_session).

The browser's signed cookie carries only a random session id; the record says whose session it is
and which credential it was opened with (a fingerprint of the account's configured password
hash). So a session ends when its record goes: at sign-out, at the end of its lifetime, or when
Redis loses its data (then everyone signs in again). The console refuses a record whose
credential no longer matches the account's (its password was changed in OPS_USERS).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import redis as redis_lib

from integrator import jsonutil
from integrator.store import keys
from integrator.store.codec import as_text


@dataclass(frozen=True, kw_only=True)
class SessionRecord:
    user: str
    credential: str  # the account's credential fingerprint when the session was opened


def _key(session_id: str) -> str:
    # the id is a secret (it is the cookie's authority): Redis holds only its hash
    return keys.ops_session(hashlib.sha256(session_id.encode()).hexdigest())


class OpsSessionStore:
    def __init__(self, redis: redis_lib.Redis, *, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    def open(self, *, user: str, credential: str) -> str:
        """A new session of `user` for `ttl_seconds`; its id (for the signed cookie)."""
        session_id = secrets.token_urlsafe(32)
        record = jsonutil.dumps({"user": user, "credential": credential})
        self._redis.set(_key(session_id), record, ex=self._ttl)
        return session_id

    def find(self, session_id: str) -> SessionRecord | None:
        """The live session's record, its lifetime started again (as the cookie's is on every
        answer); None when there is none (ended, expired, or Redis lost it)."""
        raw = self._redis.getex(_key(session_id), ex=self._ttl)
        if raw is None:
            return None
        data = jsonutil.loads(as_text(raw))
        if not isinstance(data, dict):
            return None
        user, credential = data.get("user"), data.get("credential")
        if not isinstance(user, str) or not isinstance(credential, str):
            return None
        return SessionRecord(user=user, credential=credential)

    def end(self, session_id: str) -> None:
        self._redis.delete(_key(session_id))
