"""Devices: the PoS terminals allowed to collect, and the tenants each may act for.

A device's scopes are DIGIT tenant ids. A state scope (`pb`, no dot) covers the state itself and
every city in it (`pb.amritsar`, `pb.jalandhar`); a city scope (`pb.amritsar`) covers only itself.
Pure domain: no Redis here (the store is `integrator.store.devices`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

# DIGIT tenant ids: a state code, optionally followed by one `.city` part (e.g. pb, pb.amritsar).
_TENANT_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")


class InvalidTenantScope(ValueError):
    """A tenant scope is not a DIGIT tenant id (`pb` or `pb.amritsar`)."""


def normalise_scopes(tenants: Iterable[str]) -> tuple[str, ...]:
    """Validated, lower-cased, de-duplicated and sorted tenant scopes; at least one."""
    scopes = sorted({t.strip().lower() for t in tenants})
    if not scopes:
        raise InvalidTenantScope("a device needs at least one tenant scope")
    for scope in scopes:
        if not _TENANT_RE.match(scope):
            raise InvalidTenantScope(f"not a DIGIT tenant id: {scope!r}")
    return tuple(scopes)


#: A device's name: letters, digits and . _ - (no spaces, no punctuation), starting with a letter
#: or digit, at most 100 characters (counter-7, pos-amritsar-1, chaos-offline-3, bench-001-a1b2c3).
#: It is typed on command lines and shown in reports and the console, so it stays one plain word.
DEVICE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def device_name_problem(name: str) -> str | None:
    """Why `name` (already stripped) cannot name a new device, or None when it can."""
    if DEVICE_NAME_RE.match(name):
        return None
    return (
        "a device name is 1-100 letters, digits, '.', '_' or '-', starting with a letter or"
        " digit (e.g. counter-7)"
    )


def unknown_scopes(scopes: Iterable[str], known_tenants: Iterable[str]) -> list[str]:
    """The `scopes` that name no tenant in `known_tenants` (DIGIT's MDMS tenant.tenants codes):
    a city scope must be one of them, a state scope the state of one of them."""
    known = {t.strip().lower() for t in known_tenants}
    states = {t.split(".", 1)[0] for t in known}
    return [s for s in scopes if s not in known and not ("." not in s and s in states)]


def scope_covers(scope: str, tenant_id: str) -> bool:
    """True when `scope` (e.g. `pb` or `pb.amritsar`) covers `tenant_id`.

    A state scope covers its cities by the `state.` prefix, so `pb` covers `pb.amritsar` but never
    `pbx.amritsar`; a city scope covers only the identical tenant. Comparison is case-insensitive.
    """
    scope = scope.strip().lower()
    tenant = tenant_id.strip().lower()
    if not scope or not tenant:
        return False
    if scope == tenant:
        return True
    return "." not in scope and tenant.startswith(scope + ".")


@dataclass(frozen=True, kw_only=True)
class Device:
    """A registered device. Only the hash of its API key is ever kept (see store.devices)."""

    id: str
    name: str
    tenants: tuple[str, ...]
    key_hash: str
    revoked: bool = False
    created_at: datetime
    revoked_at: datetime | None = None
    key_rotated_at: datetime | None = None

    def may_act_for(self, tenant_id: str) -> bool:
        """True when this (unrevoked) device's scopes cover `tenant_id`."""
        return not self.revoked and any(scope_covers(s, tenant_id) for s in self.tenants)
