"""Does our DIGIT account work, and what may it do where? One answer for `integrator check`,
`integrator digit status`, /readyz and the ops console.

`check_account(client)` obtains the shared token (logging in at most once, through the same
single-flight path as every call; with `verify_login`, `integrator check`'s, it logs in once
whatever token is stored), then says plainly which of these holds:

- `ok`: logged in; `rows` says per city and collectable module whether the account may search
  payments, create payments and cancel them (`integrator.digit.roles`, from the login's roles);
- `unknown_tenant`: DIGIT refused the login and DIGIT_TENANT_ID is not one of DIGIT's tenants;
- `bad_credentials`: DIGIT refused the login: a wrong password, or (for an EMPLOYEE) a user record
  at another tenant than DIGIT_TENANT_ID: DIGIT answers both with "Invalid login credentials";
- `account_locked`: DIGIT locked the account; `locked_until` is when one login will be tried;
- `suspended`: our own guard stopped logins after bad credentials (`integrator digit unlock`);
- `unreachable`: DIGIT did not answer;
- `refused`: any other login refusal (its text in `message`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from integrator.digit.errors import (
    DigitAccountLocked,
    DigitAuthError,
    DigitAuthLocked,
    DigitError,
    DigitNoAnswer,
)
from integrator.digit.models import Role
from integrator.digit.roles import CapabilityRow, capability_rows

if TYPE_CHECKING:
    from integrator.digit.client import DigitClient

Verdict = Literal[
    "ok",
    "unknown_tenant",
    "bad_credentials",
    "account_locked",
    "suspended",
    "unreachable",
    "refused",
]

#: egov-user's answer to a wrong password and to an EMPLOYEE at a tenant not its own.
_BAD_CREDENTIALS = "Invalid login credentials"


@dataclass(frozen=True, kw_only=True)
class AccountCheck:
    """The verdict on our DIGIT account (never a token or password)."""

    verdict: Verdict
    message: str
    roles: tuple[Role, ...] = ()
    rows: list[CapabilityRow] = field(default_factory=list)
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


def check_account(client: DigitClient, *, verify_login: bool = False) -> AccountCheck:
    """See the module docstring. `verify_login`: log in with the configured credentials even
    when a token is stored (`integrator check`: a stored token may be another process's, got
    with other settings)."""
    settings = client.settings
    tenant = settings.digit_tenant_id
    try:
        if verify_login:
            client.verify_login()
        else:
            client.ensure_token()
    except DigitAccountLocked as exc:
        return AccountCheck(
            verdict="account_locked",
            message=(
                f"DIGIT has locked the account {settings.digit_username}; one login will be "
                f"tried at {exc.retry_at_utc.isoformat()}, and every few minutes after that "
                "until DIGIT lifts its lock (an hour after it was set)"
            ),
            locked_until=exc.retry_at_utc,
        )
    except DigitAuthLocked as exc:
        return AccountCheck(verdict="suspended", message=str(exc))
    except DigitAuthError as exc:
        if _BAD_CREDENTIALS not in str(exc):
            return AccountCheck(verdict="refused", message=f"DIGIT refused the login: {exc}")
        if tenant not in _known_tenants(client):
            return AccountCheck(
                verdict="unknown_tenant",
                message=(
                    f"wrong tenant: DIGIT_TENANT_ID={tenant} is not one of DIGIT's tenants "
                    "(MDMS tenant.tenants)"
                ),
            )
        return AccountCheck(
            verdict="bad_credentials",
            message=(
                f"DIGIT refused the login of {settings.digit_username} at {tenant}: the password "
                f"is wrong, or the user record is not at {tenant} (an EMPLOYEE logs in at the "
                "tenant of its user record; DIGIT answers both the same way)"
            ),
        )
    except DigitNoAnswer as exc:
        return AccountCheck(verdict="unreachable", message=f"DIGIT did not answer: {exc}")
    roles = client.roles()
    if not roles:
        try:
            roles = client.reload_roles()
        except DigitError:
            roles = ()
    rows = client.with_mdms(capability_rows(roles, _cities(client), settings), ask=True)
    return AccountCheck(
        verdict="ok",
        message=(
            f"logged in to DIGIT as {settings.digit_username} at {tenant}; "
            f"{len(roles)} role(s) at {', '.join(sorted({r.tenant_id for r in roles})) or '-'}"
        ),
        roles=roles,
        rows=rows,
    )


def _known_tenants(client: DigitClient) -> set[str]:
    """The tenants we know of without logging in: after "Invalid login credentials" another
    login (MDMS needs a token) would spend the second bad login and suspend logins."""
    try:
        return {t.code for t in client.known_tenants()}
    except (OSError, ValueError, KeyError, TypeError):
        return {client.settings.digit_tenant_id}  # cannot tell: do not claim a wrong tenant


def _cities(client: DigitClient) -> list[str]:
    """Cities of our state from MDMS (or its shipped copy); at least our own tenant."""
    try:
        cities = client.cities()
    except (DigitError, OSError, ValueError):
        cities = []
    own = client.settings.digit_tenant_id
    return cities or ([own] if "." in own else [])


def format_rows(rows: list[CapabilityRow]) -> list[str]:
    """`rows` as a plain text table (yes / no / ? for "no rule configured")."""

    def mark(value: bool | None) -> str:
        return "?" if value is None else ("yes" if value else "NO")

    header = ("city", "module", "in MDMS", "search payments", "create payments", "cancel payments")
    lines = [header] + [
        (
            r.tenant_id,
            r.module,
            mark(r.in_mdms),
            mark(r.may_search),
            mark(r.may_create),
            mark(r.may_cancel),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
