"""Bills by mobile number, the way DIGIT can actually answer it (docs/digit.md#bills).

Billing is asked only with city tenants (an EMPLOYEE sending a state tenant is refused on most
DIGIT versions), so a lookup for a state (`pb`) searches each of its cities (MDMS
`tenant.tenants`, cached). In each city, for the collectable services:

1. `bill/v2/_search?mobileNumber=` finds consumers whose stored bills carry the mobile; each such
   consumer's *current* bill then comes from `_fetchbill?consumerCode=` (the found bill may be
   paid or expired);
2. `_fetchbill?mobileNumber=` per service finds ACTIVE bills by payer mobile and generates bills
   for consumers never billed before, which `_search` cannot see (DIGIT's gap 2c: a consumer
   whose demand has no payer, or another mobile, is found by consumer number only).

A state's cities where the account holds no role at all (DIGIT checks roles per city: digest,
corrections 3) are not asked: each call would be refused (403), and a bill there could not be
paid through us anyway. They are listed as not searched, as a refused city would be.

Everything runs on a pool of at most `MOBILE_FETCH_CONCURRENCY` calls in flight, under one
overall deadline (`BILLS_DEADLINE_SECONDS`), which every call also carries: a city whose calls
failed or did not finish in time is listed in `MobileLookup.failed_tenants` and the others'
bills are returned (a partial answer, not an exception). Only a failure to authenticate at all
(`DigitAuthError`) is raised: then no city can be searched.

Bills are merged by bill id, then one per consumer (DIGIT has one current bill per consumer
code; when two calls raced a regeneration, the newest bill wins).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from integrator.digit.errors import DigitAuthError, DigitError
from integrator.digit.models import Bill, MobileLookup
from integrator.digit.roles import holds
from integrator.masking import mask_mobile

if TYPE_CHECKING:
    from integrator.digit.client import DigitClient

log = logging.getLogger("integrator.digit")

Consumer = tuple[str, str, str]  # (city tenant, businessService, consumerCode)


class _Lookup:
    """One lookup's shared state: the pool, what each city still owes, what was found."""

    def __init__(self, pool: ThreadPoolExecutor, deadline: float) -> None:
        self.pool = pool
        self.deadline = deadline
        self.lock = threading.Lock()
        self.pending: dict[Future[None], str] = {}  # future -> city
        self.failed: dict[str, str] = {}  # city -> why
        self.bills: list[Bill] = []
        self.auth_error: DigitAuthError | None = None

    def submit(self, city: str, work: Callable[[], None]) -> None:
        def run() -> None:
            if time.monotonic() >= self.deadline:
                raise TimeoutError("the lookup's deadline passed before this call started")
            work()

        future = self.pool.submit(run)
        with self.lock:
            self.pending[future] = city

    def add(self, bills: list[Bill]) -> None:
        with self.lock:
            self.bills.extend(bills)


def lookup_by_mobile(
    client: DigitClient,
    *,
    tenant_id: str,
    mobile_number: str,
    business_service: str | None,
    max_in_flight: int,
    deadline: float,
) -> MobileLookup:
    """See the module docstring. `deadline` is a time.monotonic() value."""
    from integrator.digit.client import is_city, state_of

    services = [
        s
        for s in client.settings.collectable_services
        if business_service is None or s == business_service
    ]
    if not services:
        return MobileLookup(bills=())
    every_city = [tenant_id] if is_city(tenant_id) else client.cities(state_of(tenant_id))
    roleless = [] if is_city(tenant_id) else _without_roles(client, every_city)
    cities = [c for c in every_city if c not in roleless]
    pool = ThreadPoolExecutor(max_workers=max(1, max_in_flight), thread_name_prefix="digit-mobile")
    run = _Lookup(pool, deadline)
    run.failed.update((c, "the account holds no role there") for c in roleless)
    try:
        for city in cities:
            run.submit(city, _searcher(client, run, city, mobile_number, services))
            for service in services:
                run.submit(city, _fetcher(client, run, city, service, mobile_number))
        _drain(run)
    finally:
        # Calls still running end by the deadline they carry; queued ones are dropped.
        pool.shutdown(wait=False, cancel_futures=True)
    if run.auth_error is not None:
        raise run.auth_error
    bills = _merged(run.bills)
    failed = tuple(sorted(run.failed))
    log.log(
        logging.WARNING if failed else logging.INFO,
        "digit bills for mobile %s in %s: %d bill(s), %d of %d cities not searched%s",
        mask_mobile(mobile_number),
        tenant_id,
        len(bills),
        len(failed),
        len(every_city),
        f" ({'; '.join(f'{c}: {w}' for c, w in sorted(run.failed.items())[:5])})" if failed else "",
    )
    return MobileLookup(bills=tuple(bills), failed_tenants=failed)


def _without_roles(client: DigitClient, cities: list[str]) -> list[str]:
    """The cities where the account holds no role at all; none while its roles are unknown (no
    token could be had: then every city is asked, and each call says what it can)."""
    try:
        client.ensure_token()  # the roles come with the token
    except DigitError:
        return []
    known = client.roles()
    return [c for c in cities if known and not holds(known, ("*",), c)]


def _searcher(
    client: DigitClient, run: _Lookup, city: str, mobile: str, services: list[str]
) -> Callable[[], None]:
    def search() -> None:
        found = client.search_bills(tenant_id=city, mobile_number=mobile, deadline=run.deadline)
        consumers = sorted(
            {
                (b.tenant_id, b.business_service, b.consumer_code)
                for b in found
                if b.business_service in services
            }
        )
        for consumer in consumers:
            run.submit(city, _consumer_fetcher(client, run, consumer))

    return search


def _consumer_fetcher(client: DigitClient, run: _Lookup, consumer: Consumer) -> Callable[[], None]:
    def fetch() -> None:
        tenant, service, code = consumer
        run.add(
            client.fetch_bills(
                tenant_id=tenant,
                business_service=service,
                consumer_code=code,
                deadline=run.deadline,
            )
        )

    return fetch


def _fetcher(
    client: DigitClient, run: _Lookup, city: str, service: str, mobile: str
) -> Callable[[], None]:
    def fetch() -> None:
        run.add(
            client.fetch_bills_by_mobile(
                tenant_id=city,
                business_service=service,
                mobile_number=mobile,
                deadline=run.deadline,
            )
        )

    return fetch


def _drain(run: _Lookup) -> None:
    """Wait for every call (those submitted meanwhile included) or the deadline; record each
    city whose calls failed or were still pending."""
    while True:
        with run.lock:
            pending = dict(run.pending)
        if not pending:
            return
        left = run.deadline - time.monotonic()
        done, _ = wait(pending, timeout=max(0.0, left), return_when=FIRST_COMPLETED)
        if not done:
            for city in set(pending.values()):
                run.failed.setdefault(city, "not answered by the deadline")
            return
        for future in done:
            city = pending[future]
            with run.lock:
                del run.pending[future]
            error = future.exception()
            if isinstance(error, DigitAuthError):
                run.auth_error = run.auth_error or error
                run.failed.setdefault(city, type(error).__name__)
            elif isinstance(error, DigitError | TimeoutError):
                run.failed.setdefault(city, type(error).__name__)
            elif error is not None:
                raise error


def _merged(bills: list[Bill]) -> list[Bill]:
    """One bill per id, then one per consumer (the newest), in a stable order."""
    by_consumer: dict[Consumer, Bill] = {}
    for bill in {b.id: b for b in bills}.values():
        key = (bill.tenant_id, bill.business_service, bill.consumer_code)
        kept = by_consumer.get(key)
        if kept is None or _newer(bill, kept):
            by_consumer[key] = bill
    return [by_consumer[k] for k in sorted(by_consumer)]


def _newer(bill: Bill, than: Bill) -> bool:
    if bill.bill_date is None or than.bill_date is None:
        return False
    return bill.bill_date > than.bill_date
