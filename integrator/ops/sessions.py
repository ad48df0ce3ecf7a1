"""Who the request's console session belongs to (both console blueprints ask here).

The signed cookie (Flask's session, SECRET_KEY) holds a random session id; the record behind it is
in Redis (store.ops_sessions). A request is signed in only while that record lives and was opened
under the account's current credential: sign-out deletes it, so a copy of the cookie is refused
afterwards; a password changed in OPS_USERS refuses every session opened before; losing Redis
signs everyone out.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from flask import session

from integrator.ops.accounts import OpsAccount
from integrator.store.ops_sessions import OpsSessionStore

#: The cookie's field holding the session id.
SESSION_ID = "sid"


class ConsoleSessions:
    def __init__(self, store: OpsSessionStore, accounts: Mapping[str, OpsAccount]) -> None:
        self._store = store
        self._accounts = accounts

    def account(self) -> OpsAccount | None:
        """The signed-in account of this request, or None (then the cookie's id is dropped)."""
        session_id = session.get(SESSION_ID)
        if not isinstance(session_id, str):
            return None
        record = self._store.find(session_id)
        account = self._accounts.get(record.user) if record is not None else None
        if (
            record is None
            or account is None
            or not hmac.compare_digest(record.credential, account.credential)
        ):
            session.pop(SESSION_ID, None)
            return None
        return account

    def sign_in(self, account: OpsAccount) -> None:
        """A new session for `account` (any earlier one of this browser ended): no fixation."""
        self.sign_out()
        session.permanent = True
        session[SESSION_ID] = self._store.open(user=account.name, credential=account.credential)

    def sign_out(self) -> None:
        session_id = session.get(SESSION_ID)
        if isinstance(session_id, str):
            self._store.end(session_id)
        session.clear()
