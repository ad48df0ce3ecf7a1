"""What the integrator's DIGIT account may do, per city and module, from its login roles.

DIGIT's gateway allows a call when the caller holds, at one of the request's tenants or at that
tenant's state, a role whose code the deployment maps to the URI (docs/digit.md#roles). The
role-actions themselves live in DIGIT's MDMS and differ per deployment; the settings carry the
Punjab reference ones (docs/digit.md#roles):

- `payments/_create`: `DIGIT_COLLECT_ROLE_CODES` (EMPLOYEE, SUPERUSER, UC_EMP, TL_*);
- `payments/{module}/_search`: `DIGIT_SEARCH_ROLE_CODES` per module (WS needs WS_CEMP: a plain
  EMPLOYEE cannot search water payments);
- `payments/{module}/_workflow` (cancel): `DIGIT_CANCEL_ROLE_CODES` per module (PT: CR_PT; nobody
  for WS/SW in Punjab).

`capability_rows` is the one computation `integrator check`, `integrator digit status`, /readyz
and the ops console share. A module missing from a mapping is "unknown" (None), not "no".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from integrator.digit.models import Role
from integrator.settings import Settings


@dataclass(frozen=True, kw_only=True)
class CapabilityRow:
    """What the account may do in one city for one module (None: no rule configured)."""

    tenant_id: str
    module: str
    may_search: bool | None
    may_create: bool
    may_cancel: bool | None
    # DIGIT's MDMS lists the service for the city (collection refuses a create otherwise);
    # None: not known (no MDMS answer cached, or not asked)
    in_mdms: bool | None = None


def _state(tenant_id: str) -> str:
    return tenant_id.split(".", 1)[0]


def holds(roles: Iterable[Role], codes: Sequence[str], tenant_id: str) -> bool:
    """Does the account hold one of `codes` (a code may end in `*`) at `tenant_id` or its
    state?"""
    scope = {tenant_id, _state(tenant_id)}
    return any(
        role.tenant_id in scope and any(fnmatchcase(role.code, code) for code in codes)
        for role in roles
    )


def _per_module(
    roles: Sequence[Role], mapping: Mapping[str, Sequence[str]], module: str, tenant_id: str
) -> bool | None:
    codes = mapping.get(module)
    return None if codes is None else holds(roles, codes, tenant_id)


def may_create(roles: Sequence[Role], tenant_id: str, settings: Settings) -> bool:
    return holds(roles, settings.digit_collect_role_codes, tenant_id)


def may_search(
    roles: Sequence[Role], module: str, tenant_id: str, settings: Settings
) -> bool | None:
    return _per_module(roles, settings.digit_search_role_codes, module, tenant_id)


def may_cancel(
    roles: Sequence[Role], module: str, tenant_id: str, settings: Settings
) -> bool | None:
    return _per_module(roles, settings.digit_cancel_role_codes, module, tenant_id)


def capability_rows(
    roles: Sequence[Role], cities: Sequence[str], settings: Settings
) -> list[CapabilityRow]:
    """One row per city and collectable module (`COLLECTABLE_SERVICES`)."""
    return [
        CapabilityRow(
            tenant_id=city,
            module=module,
            may_search=may_search(roles, module, city, settings),
            may_create=may_create(roles, city, settings),
            may_cancel=may_cancel(roles, module, city, settings),
        )
        for city in cities
        for module in settings.collectable_services
    ]
