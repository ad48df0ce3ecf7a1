"""Ops accounts from OPS_USERS: `name:role:hash` entries, comma-separated.

`hash` is a werkzeug password hash (`integrator ops hash-password` makes one); passwords are
never in settings. Roles: `viewer` reads; `operator` also retries and resolves payments;
`cashier` reads and records collectors' cash hand-overs and day closes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from werkzeug.security import check_password_hash, generate_password_hash

from integrator.settings import SettingsError

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    CASHIER = "cashier"  # reads, and records collectors' cash hand-overs and day closes


@dataclass(frozen=True, kw_only=True)
class OpsAccount:
    name: str
    role: Role
    password_hash: str

    @property
    def credential(self) -> str:
        """A fingerprint of the configured password hash: a session opened under another one
        (the password was changed in OPS_USERS since) is refused."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()

    @property
    def may_act(self) -> bool:
        return self.role is Role.OPERATOR

    @property
    def may_take_cash(self) -> bool:
        # separation of duties: who retries and resolves payments does not count the cash
        return self.role is Role.CASHIER


def parse_accounts(entries: Iterable[str]) -> dict[str, OpsAccount]:
    """The accounts of OPS_USERS; a malformed entry stops start-up naming OPS_USERS."""
    accounts: dict[str, OpsAccount] = {}
    for position, entry in enumerate(entries, start=1):
        name, _, rest = entry.partition(":")
        role_text, _, password_hash = rest.partition(":")
        if not _NAME.match(name):
            raise SettingsError(f"OPS_USERS entry {position}: a name of letters, digits, . _ -")
        try:
            role = Role(role_text.lower())
        except ValueError:
            raise SettingsError(
                f"OPS_USERS entry {position} ({name}): role must be viewer, operator or cashier"
            ) from None
        if password_hash.count("$") != 2:
            raise SettingsError(
                f"OPS_USERS entry {position} ({name}): not a password hash; "
                "make one with `integrator ops hash-password`"
            )
        if name in accounts:
            raise SettingsError(f"OPS_USERS names {name} twice")
        accounts[name] = OpsAccount(name=name, role=role, password_hash=password_hash)
    return accounts


def hash_password(password: str) -> str:
    return generate_password_hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash("not-a-password-of-anyone")


def authenticate(accounts: Mapping[str, OpsAccount], name: str, password: str) -> OpsAccount | None:
    """The account if `password` is its password. An unknown name costs the same hash check."""
    account = accounts.get(name)
    if account is None:
        check_password_hash(_dummy_hash(), password)
        return None
    return account if check_password_hash(account.password_hash, password) else None
