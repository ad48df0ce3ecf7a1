"""Builds the operator use cases from a process's `Services` (the console and the CLI share it)."""

from __future__ import annotations

from integrator.ops.desk import OperatorDesk
from integrator.payments.operations import PaymentFinder, PaymentOperations
from integrator.services import Services
from integrator.store.operator_actions import OperatorActionStore
from integrator.store.ops_sessions import OpsSessionStore
from integrator.store.payment_search import PaymentSearch


def build_operations(services: Services) -> PaymentOperations:
    """PaymentOperations over `services`; DIGIT, the registrar and RQ are built on first use."""
    settings = services.settings
    return PaymentOperations(
        payments=services.payments_store,
        finder=PaymentFinder(
            payments=services.payments_store,
            index=services.payments_store,
            tz=settings.digit_timezone,
        ),
        leases=services.leases,
        lease_ttl_seconds=settings.lease_ttl_seconds,
        digit=lambda: services.digit,
        registrar=lambda: services.registrar,
        scheduler=lambda: services.scheduler,
        clock=services.clock,
        observer=services.observer,
    )


def build_desk(services: Services, *, via: str) -> OperatorDesk:
    """The audited operator desk (`via`: console or cli)."""
    return OperatorDesk(
        operations=build_operations(services),
        payments=services.payments_store,
        audit=OperatorActionStore(services.db),
        clock=services.clock,
        via=via,
    )


def build_search(services: Services) -> PaymentSearch:
    return PaymentSearch(services.db, services.payments_store)


def build_sessions(services: Services, *, ttl_seconds: int) -> OpsSessionStore:
    """The console's signed-in sessions, kept in the process's Redis."""
    return OpsSessionStore(services.redis, ttl_seconds=ttl_seconds)
