"""`DigitClient`: one method per DIGIT operation, typed in and out.

Every business call carries the shared token in `RequestInfo.authToken` (built in one place,
`integrator.digit.http.request_info`). A 401 or `InvalidAccessTokenException` on a read drops the
token (if it is still the one that failed), gets a fresh one (single-flight) and retries the call
once. A write is never re-sent after a login: `InvalidAccessTokenException` drops the token and
raises `DigitTokenRefused`, unless another process already stored a newer token (its refresh
revoked ours, digest corrections 6): then the write goes once more with it, within the one call's
deadline (the gateway refused the first send: nothing was written). A plain 401 (the SCG
gateway's role denial) is `DigitForbidden` with the token kept; a read checks it once with a
fresh token, then takes the same 401 for the same endpoint and tenants as the denial for a while.

Tenants: billing is only ever asked with a city tenant (an EMPLOYEE with a state tenant gets
EG_BS_INVALID_TENANTID on most DIGIT versions, docs/digit.md#bills); a bills-by-mobile lookup for
a state searches each of its cities (`integrator.digit.mobile`). Payment rules are read from MDMS
with the payment's city tenant, the state's being the fallback (docs/digit.md#mdms).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

import redis as redis_lib
import requests

from integrator import jsonutil
from integrator.digit import parse, roles
from integrator.digit.auth import TokenManager
from integrator.digit.errors import (
    INVALID_TOKEN_CODE,
    DigitAuthError,
    DigitError,
    DigitForbidden,
    DigitOutcomeUnknown,
    DigitRejected,
    DigitTokenRefused,
    DigitUnavailable,
)
from integrator.digit.http import (
    Answer,
    TokenRejected,
    Transport,
    check,
    error_details,
    rbac_tenants,
    request_info,
)
from integrator.digit.http import session_for as _session_for
from integrator.digit.models import (
    WORKFLOW_ACTIONS,
    AuthState,
    Bill,
    DigitPayment,
    MobileLookup,
    PaymentCreate,
    PaymentRule,
    Role,
    Tenant,
    WorkflowItem,
)
from integrator.digit.observer import NO_DIGIT_OBSERVER, DigitObserver
from integrator.digit.roles import CapabilityRow, capability_rows
from integrator.settings import Settings
from integrator.store import keys
from integrator.store.tokens import TokenStore

log = logging.getLogger("integrator.digit")

T = TypeVar("T")

FETCH_BILL = "billing-service/bill/v2/_fetchbill"
SEARCH_BILL = "billing-service/bill/v2/_search"
CREATE_PAYMENT = "collection-services/payments/_create"
SEARCH_PAYMENT = "collection-services/payments/{module}/_search"
PAYMENT_WORKFLOW = "collection-services/payments/{module}/_workflow"
#: collection-services answers at most 100 payments per search (docs/digit.md#search).
PAYMENT_PAGE_SIZE = 100
#: A search that still fills whole pages after this many is cut (a DIGIT ignoring `offset`
#: would otherwise loop for ever); 5,000 payments is far beyond any one bill or receipt.
MAX_PAYMENT_PAGES = 50

#: A walk of a date range is cut after this many pages (100,000 payments of one module in one
#: city); the caller then reports its walk incomplete.
RANGE_MAX_PAGES = 1000

#: The fallback copies of MDMS masters, shipped inside the package (found wherever it is installed).
DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent / "fallback"
PAYMENT_RULES_FILE = "payment-rules.json"
TENANTS_FILE = "tenants.json"
#: How long a process keeps parsed master data before reading the shared cache again.
MEMO_SECONDS = 60
#: A fallback answer is cached this briefly, so an MDMS outage does not cost a timeout per call.
FALLBACK_CACHE_SECONDS = 60

Source = Literal["mdms", "cache", "fallback"]


#: MDMS v1's answer for a tenant without any MDMS data (digest corrections 7).
INVALID_MDMS_TENANT = "Invalid_tenantId.MdmsCriteria.tenantId"


@dataclass(frozen=True, kw_only=True)
class CityMasterData:
    """What DIGIT's MDMS answered for a city's BillingService.BusinessService, which is what
    collection reads for a payment there: `invalid_tenant` (no MDMS data at all: every create
    fails), else `rules`, the services it knows (any other is INVALID_BILL_BUSINESSSERVICE)."""

    invalid_tenant: bool
    rules: Mapping[str, PaymentRule]


def _lists(answer: CityMasterData | None, module: str) -> bool | None:
    """Whether a city's MDMS answer lists `module` (None: no answer to go by)."""
    if answer is None:
        return None
    return not answer.invalid_tenant and module in answer.rules


#: Every paymentStatus, asked for explicitly: a deployment with `search.ignore.status=CANCELLED`
#: hides cancelled payments from any search that names neither `status` nor `receiptNumbers`
#: (digest, corrections 11), and a cancelled payment of ours must still be seen as such.
EVERY_PAYMENT_STATUS = "NEW,DEPOSITED,CANCELLED,DISHONOURED,RECONCILED"


#: How long a read's confirmed SCG role denial stands for its endpoint and tenants in this
#: process; roles granted meanwhile are seen at once (the call succeeds), only the check of a
#: repeated plain 401 by a login is skipped.
SCG_DENIAL_MEMO_SECONDS = 300.0
SCG_DENIAL_MEMO_SIZE = 1024


def _raise_if_scg_denial(endpoint: str, answer: Answer, tenants: tuple[str, ...]) -> None:
    """A plain 401 is not about the token: DIGIT's SCG gateway answers an RBAC denial with 401
    "You are not authorized to access this resource", where Zuul answers 403 (digest,
    corrections 3), while an expired, revoked or unknown token always says
    InvalidAccessTokenException (digest 2.6). Raises `DigitForbidden` for such a 401."""
    if is_plain_401(answer):
        raise DigitForbidden(
            "DIGIT refused our account this endpoint (a 401 for a fresh token: the SCG gateway's"
            " RBAC denial)",
            tenants=tenants,
            endpoint=endpoint,
            status=answer.status,
            errors=error_details(answer.body),
        ) from None


def is_plain_401(answer: Answer) -> bool:
    """A 401 that does not name InvalidAccessTokenException: SCG's role denial."""
    return answer.status == 401 and INVALID_TOKEN_CODE not in {
        d.code for d in error_details(answer.body)
    }


def _joined(values: Sequence[str]) -> str:
    return ",".join(v for v in values if v)


def _epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("a DIGIT date range needs timezone-aware datetimes")
    return int(moment.timestamp() * 1000)


def _within(payment: DigitPayment, start: datetime, end: datetime) -> bool:
    when = payment.transaction_date
    return when is not None and start <= when < end


def state_of(tenant_id: str) -> str:
    """`pb` for `pb.amritsar` (and for `pb`)."""
    return tenant_id.split(".", 1)[0]


def is_city(tenant_id: str) -> bool:
    return "." in tenant_id


def _city(tenant_id: str) -> str:
    """`tenant_id`, refused unless it is a city: billing never gets a state tenant."""
    if not is_city(tenant_id):
        raise ValueError(f"billing is asked with a city tenant, not {tenant_id!r}")
    return tenant_id


def _module(module: str) -> str:
    if not module or "/" in module or module.startswith("."):
        raise ValueError(f"not a DIGIT module name: {module!r}")
    return module


class DigitClient:
    """DIGIT's billing, collection and MDMS operations used by the integrator."""

    def __init__(
        self,
        *,
        settings: Settings,
        redis: redis_lib.Redis,
        session: requests.Session | None = None,
        config_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        observer: DigitObserver = NO_DIGIT_OBSERVER,
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._transport = Transport(
            settings=settings, session=session or _session_for(settings), observer=observer
        )
        self._auth = TokenManager(
            settings=settings,
            redis=redis,
            transport=self._transport,
            clock=clock,
            observer=observer,
        )
        self._store = TokenStore(redis)
        self._config_dir = config_dir or DEFAULT_CONFIG_DIR
        self._tz = settings.digit_timezone
        #: Where the last `payment_rules()` / `tenants()` answer came from (for /readyz, logs).
        self.last_source: dict[str, Source] = {}
        # Parsed master data, kept in this process for MEMO_SECONDS (Redis holds the shared
        # copy for MDMS_CACHE_SECONDS): no Redis read and no parsing on every bills request.
        self._memo: dict[str, tuple[float, Any]] = {}
        self._memo_lock = threading.Lock()
        # Reads the SCG gateway denied with a plain 401 although a fresh token was sent: the
        # next plain 401 for the same endpoint and tenants is taken as the same denial, with no
        # login to check it (a city whose role is missing would otherwise cost a login per read).
        self._scg_denials: dict[tuple[str, tuple[str, ...]], float] = {}

    # --- authentication ---
    def auth_state(self) -> AuthState:
        return self._auth.auth_state()

    def roles(self) -> tuple[Role, ...]:
        """The account's DIGIT roles, as the last login answer listed them."""
        return self._auth.roles()

    def may_create(self, tenant_id: str) -> bool:
        """May the account create payments in this city? Its roles must grant
        `payments/_create` there (`DIGIT_COLLECT_ROLE_CODES`), and collection must be able to
        read the city's master data: MDMS answering Invalid_tenantId for it means every create
        there fails (collection reads MDMS with the payment's city, digest corrections 7)."""
        if not roles.may_create(self.roles(), tenant_id, self._settings):
            return False
        answer = self._city_answer(tenant_id) if is_city(tenant_id) else None
        return answer is None or not answer.invalid_tenant

    def may_search(self, module: str, tenant_id: str) -> bool | None:
        """May it search this module's payments there, for payments it can make (None: no rule
        configured)? False also where DIGIT's own MDMS answer for the city lacks the business
        service: collection refuses every create for it (INVALID_BILL_BUSINESSSERVICE, digest
        5.2), so there is nothing of ours to search and it is not collectable (corrections 8:
        under mdms-v2 a city's rows replace the state's). A shipped fallback never decides."""
        allowed = roles.may_search(self.roles(), module, tenant_id, self._settings)
        if allowed is False:
            return False
        answer = self._city_answer(tenant_id) if is_city(tenant_id) else None
        if answer is not None and (answer.invalid_tenant or module not in answer.rules):
            return False
        return allowed

    def may_cancel(self, module: str, tenant_id: str) -> bool | None:
        """May it cancel this module's payments there (None: no rule configured)?"""
        return roles.may_cancel(self.roles(), module, tenant_id, self._settings)

    def capabilities(self) -> list[CapabilityRow]:
        """Per city of our state and collectable module, what the stored roles allow and
        whether DIGIT's MDMS lists the service for the city (for /readyz and the ops console:
        no login of its own beyond the cached MDMS city list, MDMS answers only as cached;
        every "may" is false before the first login)."""
        rows = capability_rows(self.roles(), self.cities(), self._settings)
        return self.with_mdms(rows, ask=False)

    def with_mdms(self, rows: Sequence[CapabilityRow], *, ask: bool) -> list[CapabilityRow]:
        """`rows` with `in_mdms` from DIGIT's MDMS answer per city: from Redis, else asked
        when `ask` (`integrator check`), else left unknown."""
        answers = {
            city: self._read_city_answer(city, ask=ask) if is_city(city) else None
            for city in {row.tenant_id for row in rows}
        }
        return [replace(row, in_mdms=_lists(answers[row.tenant_id], row.module)) for row in rows]

    def reload_roles(self) -> tuple[Role, ...]:
        """Log in once to learn the roles when the stored token has none."""
        return self._auth.reload_roles()

    @property
    def settings(self) -> Settings:
        return self._settings

    def ping(self) -> bool:
        """Is DIGIT's gateway answering? No token, no login: an unauthenticated bill search,
        which the gateway answers itself (401) without reaching billing-service."""
        timeout = (
            self._settings.digit_connect_timeout,
            min(self._settings.digit_read_timeout, 3.0),
        )
        try:
            answer = self._transport.send(
                SEARCH_BILL,
                params={"tenantId": self._settings.digit_tenant_id},
                json_body={"RequestInfo": request_info(None, action="_search")},
                timeout=timeout,
                deadline=time.monotonic() + sum(timeout),
            )
        except DigitError:
            return False
        return answer.status < 500 and answer.status != 429

    def verify_login(self) -> None:
        """Log in once with the configured credentials, whatever token is stored (`integrator
        check`). Raises DigitAuthError / DigitUnavailable like `ensure_token`."""
        self._auth.verify_login()

    def ensure_token(self) -> None:
        """Obtain the shared token now (a login may take a while): callers that must not be
        slowed down mid-operation, like a registration attempt about to create, call this first.
        Raises DigitAuthError / DigitUnavailable like any call."""
        self._auth.token()

    # --- the one authenticated call path ---
    def _call(
        self,
        endpoint: str,
        *,
        params: Mapping[str, str] | None = None,
        payload: Mapping[str, Any] | None = None,
        action: str = "_search",
        write: bool = False,
        deadline: float | None = None,
    ) -> Mapping[str, Any]:
        """POST with RequestInfo, done by `deadline` (time.monotonic()) if given; on a refused
        token, re-login once and retry once (a read), or send once more with the token another
        process already stored in its place (a write, within the one call's deadline)."""
        tenants = rbac_tenants(payload, params)
        # the token first: a renewal (a login) must not eat the write's own time, or a write
        # never sent would look like one that may have been
        token = self._auth.token()
        if write and deadline is None:
            # a write sent twice still fits in one call's time: the caller's lease outlives that
            deadline = time.monotonic() + self._settings.digit_call_deadline_seconds
        for attempt in (1, 2):
            if attempt == 2 and not write:
                token = self._auth.token()
            body = {"RequestInfo": request_info(token, action=action), **(payload or {})}
            answer: Answer = self._transport.send(
                endpoint, params=params, json_body=body, deadline=deadline
            )
            try:
                result: Mapping[str, Any] = check(
                    endpoint, answer, write=write, tenants=tenants or (self._login_tenant(),)
                )
                return result
            except TokenRejected:
                # A refused token means the gateway stopped the call before the service, so
                # nothing was written. A read is sent again at once; a write only when another
                # process already stored a newer token: a fresh login could outlast the
                # caller's lease, so otherwise the caller's next attempt (which looks in DIGIT
                # first) sends it with the new token.
                checked = tenants or (self._login_tenant(),)
                if write or attempt == 2 or self._denied_lately(endpoint, checked):
                    # SCG's role denial is a plain 401; a bad token always names
                    # InvalidAccessTokenException. A read checks with one fresh token first (it
                    # costs a login that hands back the same token), then remembers the denial
                    # for SCG_DENIAL_MEMO_SECONDS; a write, never sent twice with a new login,
                    # takes the 401 for what the digest says it is. Either way the token stays:
                    # it was not what DIGIT refused.
                    if attempt == 2:
                        self._remember_denial(endpoint, checked, answer)
                    _raise_if_scg_denial(endpoint, answer, checked)
                dropped = self._auth.invalidate(token)
                newer = None if dropped or attempt == 2 else self._auth.replacement_for(token)
                if write and newer is not None:  # (a read's next token() finds it too)
                    # Another process's refresh revoked our token at once (digest, corrections
                    # 6) and stored its successor: the gateway refused the first send, so
                    # nothing was written; the same write goes once more, with no login.
                    log.info("digit %s: token replaced by another process; sending again", endpoint)
                    token = newer
                    continue
                if write:
                    raise DigitTokenRefused(
                        "DIGIT refused our token for a write; it was not processed",
                        endpoint=endpoint,
                        status=answer.status,
                    ) from None
                if attempt == 2:
                    raise DigitAuthError(
                        "DIGIT refused a freshly obtained token",
                        endpoint=endpoint,
                        status=answer.status,
                    ) from None
                log.info("digit %s: token refused; renewing it and retrying once", endpoint)
        raise AssertionError("unreachable")

    def _denied_lately(self, endpoint: str, tenants: tuple[str, ...]) -> bool:
        until = self._scg_denials.get((endpoint, tenants))
        return until is not None and time.monotonic() < until

    def _remember_denial(self, endpoint: str, tenants: tuple[str, ...], answer: Answer) -> None:
        if not is_plain_401(answer):
            return
        if len(self._scg_denials) >= SCG_DENIAL_MEMO_SIZE:  # bounded: tenants come from devices
            self._scg_denials.clear()
        self._scg_denials[(endpoint, tenants)] = time.monotonic() + SCG_DENIAL_MEMO_SECONDS

    def _login_tenant(self) -> str:
        """The tenant the gateway falls back to when a request names none: ours."""
        return self._settings.digit_tenant_id

    def _parsed(self, endpoint: str, parser: Callable[[], T], *, write: bool = False) -> T:
        try:
            return parser()
        except parse.MalformedAnswer as exc:
            # After a write, a garbled answer leaves the outcome open; after a read, it is
            # simply no usable answer.
            cls = DigitOutcomeUnknown if write else DigitUnavailable
            raise cls(f"DIGIT's answer is malformed: {exc}", endpoint=endpoint) from exc

    # --- billing-service ---
    def fetch_bills(
        self,
        *,
        tenant_id: str,
        business_service: str,
        consumer_code: str,
        deadline: float | None = None,
    ) -> list[Bill]:
        """The consumer's current bill(s) (`_fetchbill`, HTTP 201). `[]` means nothing is due."""
        body = self._call(
            FETCH_BILL,
            params={
                "tenantId": _city(tenant_id),
                "businessService": business_service,
                "consumerCode": consumer_code,
            },
            deadline=deadline,
        )
        return self._parsed(FETCH_BILL, lambda: parse.bills(body, self._tz))

    def fetch_bills_by_mobile(
        self,
        *,
        tenant_id: str,
        business_service: str,
        mobile_number: str,
        deadline: float | None = None,
    ) -> list[Bill]:
        """`_fetchbill?mobileNumber=`: the ACTIVE bills whose payer has this mobile, or bills
        generated for the demands of citizens with this mobile (docs/digit.md#bills): finds
        consumers that were never billed, which `_search` cannot."""
        body = self._call(
            FETCH_BILL,
            params={
                "tenantId": _city(tenant_id),
                "businessService": business_service,
                "mobileNumber": mobile_number,
            },
            deadline=deadline,
        )
        return self._parsed(FETCH_BILL, lambda: parse.bills(body, self._tz))

    def search_bills(
        self,
        *,
        tenant_id: str,
        bill_ids: Sequence[str] = (),
        consumer_codes: Sequence[str] = (),
        business_service: str | None = None,
        mobile_number: str | None = None,
        deadline: float | None = None,
    ) -> list[Bill]:
        """`bill/v2/_search` in one city: the latest bill per consumer code (any status)."""
        if not (bill_ids or consumer_codes or mobile_number):
            raise ValueError("search_bills needs bill_ids, consumer_codes or mobile_number")
        if consumer_codes and not business_service:
            raise ValueError("DIGIT needs business_service with consumer_codes")
        params = {"tenantId": _city(tenant_id)}
        if bill_ids:
            params["billId"] = _joined(bill_ids)
        if consumer_codes:
            params["consumerCode"] = _joined(consumer_codes)
        if business_service:
            params["service"] = business_service  # DIGIT's name for it (docs/digit.md#bills)
        if mobile_number:
            params["mobileNumber"] = mobile_number
        body = self._call(SEARCH_BILL, params=params, deadline=deadline)
        return self._parsed(SEARCH_BILL, lambda: parse.bills(body, self._tz))

    def mobile_lookup(
        self,
        *,
        tenant_id: str,
        mobile_number: str,
        business_service: str | None = None,
        max_in_flight: int | None = None,
        deadline: float | None = None,
    ) -> MobileLookup:
        """Current bills of every consumer linked to this mobile number in `tenant_id` (a city,
        or every city of a state), by `deadline` (time.monotonic(); default
        `BILLS_DEADLINE_SECONDS` from now): see `integrator.digit.mobile`. Cities that could not
        be searched in time are listed, not raised."""
        from integrator.digit.mobile import lookup_by_mobile

        return lookup_by_mobile(
            self,
            tenant_id=tenant_id,
            mobile_number=mobile_number,
            business_service=business_service,
            max_in_flight=max_in_flight or self._settings.mobile_fetch_concurrency,
            deadline=deadline or time.monotonic() + self._settings.bills_deadline_seconds,
        )

    def bills_for_mobile(
        self,
        *,
        tenant_id: str,
        mobile_number: str,
        business_service: str | None = None,
        max_in_flight: int | None = None,
    ) -> list[Bill]:
        """`mobile_lookup`'s bills, for callers that cannot show a partial answer: raises
        DigitUnavailable (naming them) when any city could not be searched."""
        found = self.mobile_lookup(
            tenant_id=tenant_id,
            mobile_number=mobile_number,
            business_service=business_service,
            max_in_flight=max_in_flight,
        )
        if found.failed_tenants:
            raise DigitUnavailable(
                f"bills by mobile: {len(found.failed_tenants)} cit(ies) could not be searched: "
                f"{', '.join(found.failed_tenants[:10])}",
                endpoint=SEARCH_BILL,
            )
        return list(found.bills)

    # --- collection-services ---
    def create_payment(self, payment: PaymentCreate) -> DigitPayment:
        """`payments/_create` (HTTP 200): one Payment, one receipt number per bill."""
        body = self._call(
            CREATE_PAYMENT, payload={"Payment": payment_body(payment)}, action="_create", write=True
        )
        created = self._parsed(CREATE_PAYMENT, lambda: parse.payments(body, self._tz), write=True)
        if len(created) != 1:
            raise DigitOutcomeUnknown(
                f"expected one Payment, DIGIT returned {len(created)}",
                endpoint=CREATE_PAYMENT,
                status=200,
            )
        return created[0]

    def search_payments(
        self,
        *,
        tenant_id: str,
        module: str,
        bill_ids: Sequence[str] = (),
        receipt_numbers: Sequence[str] = (),
        consumer_codes: Sequence[str] = (),
        transaction_number: str | None = None,
        mobile_number: str | None = None,
        deadline: float | None = None,
    ) -> list[DigitPayment]:
        """`payments/{module}/_search` (employees must name the module: EGCL_URI_EXCEPTION),
        every page: DIGIT answers 30 by default and at most 100, so this asks for 100 and
        follows `offset` until a short page (docs/digit.md#search). Every page is done by
        `deadline` (time.monotonic()) if given."""
        params = {"tenantId": tenant_id}
        if bill_ids:
            params["billIds"] = _joined(bill_ids)
        if receipt_numbers:
            params["receiptNumbers"] = _joined(receipt_numbers)
        else:
            params["status"] = EVERY_PAYMENT_STATUS
        if consumer_codes:
            params["consumerCodes"] = _joined(consumer_codes)
        if transaction_number:
            params["transactionNumber"] = transaction_number
        if mobile_number:
            params["mobileNumber"] = mobile_number
        endpoint = SEARCH_PAYMENT.format(module=_module(module))
        found: dict[str, DigitPayment] = {}
        for page in range(MAX_PAYMENT_PAGES):
            paged = {
                **params,
                "limit": str(PAYMENT_PAGE_SIZE),
                "offset": str(page * PAYMENT_PAGE_SIZE),
            }
            batch = self._payments_page(endpoint, paged, deadline=deadline)
            new = [p for p in batch if p.id not in found]
            found.update((p.id, p) for p in new)
            if len(batch) < PAYMENT_PAGE_SIZE or not new:
                return list(found.values())
        log.warning("digit %s: more than %d pages; the search was cut", endpoint, MAX_PAYMENT_PAGES)
        return list(found.values())

    def payments_between(
        self, *, tenant_id: str, module: str, start: datetime, end: datetime
    ) -> tuple[list[DigitPayment], bool]:
        """`payments/{module}/_search?fromDate&toDate`: the module's payments in the city whose
        transactionDate is in [start, end), every page (DIGIT answers at most 100, newest
        first). Also True when the walk was cut after RANGE_MAX_PAGES pages.

        DIGIT adds a day to `toDate` before comparing (docs/digit.md#search); a deployment might
        not, so `toDate` is sent as `end` itself and the extra day is filtered out here: the
        range is exact either way. A payment made while the walk runs lands on the first page
        and only pushes older ones down (seen twice, kept once): nothing is skipped."""
        params = {
            "tenantId": tenant_id,
            "fromDate": str(_epoch_ms(start)),
            "toDate": str(_epoch_ms(end)),
            "status": EVERY_PAYMENT_STATUS,
        }
        endpoint = SEARCH_PAYMENT.format(module=_module(module))
        found: dict[str, DigitPayment] = {}
        for page in range(RANGE_MAX_PAGES):
            paged = {
                **params,
                "limit": str(PAYMENT_PAGE_SIZE),
                "offset": str(page * PAYMENT_PAGE_SIZE),
            }
            batch = self._payments_page(endpoint, paged)
            found.update((p.id, p) for p in batch if p.id not in found)
            if len(batch) < PAYMENT_PAGE_SIZE:
                return [p for p in found.values() if _within(p, start, end)], False
        log.warning("digit %s: more than %d pages; the walk was cut", endpoint, RANGE_MAX_PAGES)
        return [p for p in found.values() if _within(p, start, end)], True

    def _payments_page(
        self, endpoint: str, params: Mapping[str, str], *, deadline: float | None = None
    ) -> list[DigitPayment]:
        body = self._call(endpoint, params=params, deadline=deadline)
        return self._parsed(endpoint, lambda: parse.payments(body, self._tz))

    def workflow(
        self, *, tenant_id: str, module: str, action: str, items: Sequence[WorkflowItem]
    ) -> list[DigitPayment]:
        """`payments/{module}/_workflow` (docs/digit.md#cancel): cancel (or dishonour) payments of
        one tenant; the updated payments come back (paymentStatus CANCELLED, bills isCancelled).

        Only the newest APPROVED payment of a consumer code can be cancelled, never an
        ONLINE/CARD one: DIGIT refuses with RECEIPT_WORKFLOW_* codes (`DigitRejected`). A
        CANCEL_RECEIPT_FAILED or a lost answer is `DigitNoAnswer`: search before trying again.
        """
        action = action.upper()
        if action not in WORKFLOW_ACTIONS:
            raise ValueError(f"workflow action must be one of {sorted(WORKFLOW_ACTIONS)}")
        if not items:
            raise ValueError("workflow needs at least one payment")
        endpoint = PAYMENT_WORKFLOW.format(module=_module(module))
        workflows = []
        for item in items:
            entry: dict[str, Any] = {
                "paymentId": item.payment_id,
                "action": action,
                "tenantId": tenant_id,
            }
            if item.reason:
                entry["reason"] = item.reason
            if item.additional_details:
                entry["additionalDetails"] = dict(item.additional_details)
            workflows.append(entry)
        body = self._call(
            endpoint, payload={"PaymentWorkflows": workflows}, action="_workflow", write=True
        )
        return self._parsed(endpoint, lambda: parse.payments(body, self._tz), write=True)

    # --- MDMS ---
    def payment_rules(self, tenant_id: str | None = None) -> dict[str, PaymentRule]:
        """MDMS BillingService.BusinessService by code, as collection reads them for a payment
        in `tenant_id` (a city; docs/digit.md#mdms): the city's answer when it has records
        (mdms-v2 lets a city override), else the state's; cached per tenant; the shipped
        config/ copy when MDMS cannot answer. `tenant_id=None` means the state (what callers
        got before cities were told apart). Whether a service can be collected in the city at
        all is `may_create` / `may_search`: a rule here never says so."""
        state = self._settings.digit_state_tenant if tenant_id is None else state_of(tenant_id)
        if tenant_id is not None and is_city(tenant_id):
            answer = self._city_answer(tenant_id)
            if answer is not None and answer.rules:
                return dict(answer.rules)
        rules: dict[str, PaymentRule] = self._memoized(
            f"rules:{state}",
            lambda: parse.payment_rules(
                self._mdms_master("BillingService", "BusinessService", PAYMENT_RULES_FILE, state)
            ),
        )
        return dict(rules)

    def tenants(self) -> list[Tenant]:
        """MDMS tenant.tenants of our state; cached; falls back to config/."""
        state = self._settings.digit_state_tenant
        tenants: list[Tenant] = self._memoized(
            "tenants",
            lambda: parse.tenants(self._mdms_master("tenant", "tenants", TENANTS_FILE, state)),
        )
        return list(tenants)

    def known_tenants(self) -> list[Tenant]:
        """tenant.tenants without calling DIGIT: the cached MDMS answer, else the shipped copy.
        For callers that must not log in, like `integrator check` after a refused login (a
        second login there would spend the second of MAX_BAD_LOGINS)."""
        state = self._settings.digit_state_tenant
        entry = self._memo.get("tenants")
        if entry is not None and time.monotonic() < entry[0]:
            memoized: list[Tenant] = entry[1]
            return list(memoized)
        cached = self._store.get_cached(keys.digit_mdms("tenant.tenants", state))
        if cached is not None:
            records = list(jsonutil.loads(cached)["records"])
        else:
            records = self._fallback(TENANTS_FILE, "tenant", "tenants")
        return parse.tenants(records)

    def cities(self, state: str | None = None) -> list[str]:
        """The city tenants of `state` (default ours), from `tenants()`."""
        state = state or self._settings.digit_state_tenant
        return sorted(
            t.code for t in self.tenants() if is_city(t.code) and state_of(t.code) == state
        )

    def _city_answer(self, city: str) -> CityMasterData | None:
        """DIGIT's MDMS answer for the city's BusinessService, kept for MEMO_SECONDS here and
        MDMS_CACHE_SECONDS in Redis; None while MDMS cannot answer (nothing is decided on it)."""
        answer: CityMasterData | None = self._memoized(
            f"city-mdms:{city}", lambda: self._read_city_answer(city)
        )
        return answer

    def _read_city_answer(self, city: str, *, ask: bool = True) -> CityMasterData | None:
        """The answer from Redis, else from MDMS (unless not `ask`: then None)."""
        name = "BillingService.BusinessService"
        key = keys.digit_mdms(name, city)
        cached = self._store.get_cached(key)
        if cached is None and not ask:
            return None
        if cached is not None:
            entry = jsonutil.loads(cached)
            if entry.get("source") != "mdms":
                return None  # the shipped copy, kept while MDMS failed: it decides nothing
            records = list(entry["records"])
            invalid_tenant = bool(entry.get("invalidTenant"))
            if not records and not invalid_tenant:
                return None  # an answer listing nothing is no answer (kept by older code)
        else:
            try:
                records = self._mdms_search("BillingService", "BusinessService", city)
                invalid_tenant = False
                if not records:
                    # no city lacks every service (corrections 7, 8): taken as no answer, as
                    # the payment rules take it, not as "collect nothing here"
                    log.warning("MDMS %s for %s lists nothing", name, city)
                    return None
            except DigitRejected as exc:
                if INVALID_MDMS_TENANT not in exc.codes:
                    log.warning("MDMS %s for %s refused (%s)", name, city, exc.codes)
                    return None
                # a city without MDMS data: collection cannot read it either
                log.warning("MDMS has no data for %s (%s): not collectable", city, exc.codes)
                records, invalid_tenant = [], True
            except DigitError as exc:
                log.warning("MDMS %s for %s unavailable (%s)", name, city, type(exc).__name__)
                return None  # not cached: ask again next time
            self._store.set_cached(
                key,
                jsonutil.dumps(
                    {"source": "mdms", "records": records, "invalidTenant": invalid_tenant}
                ),
                ttl_seconds=self._settings.mdms_cache_seconds,
            )
        try:
            rules = parse.payment_rules(records)
        except parse.MalformedAnswer as exc:
            log.warning("MDMS %s for %s is malformed (%s)", name, city, exc)
            return None
        return CityMasterData(invalid_tenant=invalid_tenant, rules=rules)

    def _memoized(self, name: str, load: Callable[[], T]) -> T:
        """`load()`'s answer, kept for MEMO_SECONDS; one load at a time per process, so a burst
        of requests on a cold cache makes one MDMS call, not one each."""
        entry = self._memo.get(name)
        if entry is not None and time.monotonic() < entry[0]:
            value: T = entry[1]
            return value
        with self._memo_lock:
            entry = self._memo.get(name)
            if entry is not None and time.monotonic() < entry[0]:
                cached: T = entry[1]
                return cached
            loaded = load()
            ttl = min(MEMO_SECONDS, self._settings.mdms_cache_seconds)
            self._memo[name] = (time.monotonic() + ttl, loaded)
            return loaded

    def _mdms_master(self, module: str, master: str, fallback_file: str, tenant: str) -> list[Any]:
        name = f"{module}.{master}"
        key = keys.digit_mdms(name, tenant)
        cached = self._store.get_cached(key)
        if cached is not None:
            entry = jsonutil.loads(cached)
            self.last_source[name] = "cache" if entry.get("source") == "mdms" else "fallback"
            return list(entry["records"])
        try:
            records = self._mdms_search(module, master, tenant)
            if not records:
                raise DigitOutcomeUnknown(
                    f"MDMS has no {name} for {tenant}", endpoint=self._mdms_endpoint
                )
            source: Source = "mdms"
            ttl = self._settings.mdms_cache_seconds
        except DigitError as exc:
            log.warning(
                "MDMS %s unavailable (%s); using %s", name, type(exc).__name__, fallback_file
            )
            records = self._fallback(fallback_file, module, master)
            source = "fallback"
            ttl = min(FALLBACK_CACHE_SECONDS, self._settings.mdms_cache_seconds)
        self._store.set_cached(
            key, jsonutil.dumps({"source": source, "records": records}), ttl_seconds=ttl
        )
        self.last_source[name] = source
        return records

    @property
    def _mdms_endpoint(self) -> str:
        return self._settings.mdms_search_path.lstrip("/")

    def _mdms_search(self, module: str, master: str, tenant_id: str) -> list[Any]:
        """The master's records for `tenant_id` (`[]` when the answer has none)."""
        criteria = {
            "tenantId": tenant_id,
            "moduleDetails": [{"moduleName": module, "masterDetails": [{"name": master}]}],
        }
        body = self._call(self._mdms_endpoint, payload={"MdmsCriteria": criteria})
        records = (body.get("MdmsRes") or {}).get(module, {}).get(master)
        return list(records) if isinstance(records, list) else []

    def _fallback(self, filename: str, module: str, master: str) -> list[Any]:
        path = Path(os.fspath(self._config_dir)) / filename
        data = jsonutil.loads(path.read_text(encoding="utf-8"))
        # Same shape as an MDMS data file: {"tenantId", "moduleName", "<master>": [...]}
        records = data.get(master) if isinstance(data, dict) else data
        if not isinstance(records, list):
            raise ValueError(f"{path} has no {module}.{master} list")
        return records


def payment_body(payment: PaymentCreate) -> dict[str, Any]:
    """The `Payment` object of a `payments/_create` request (docs/digit.md#create)."""
    body: dict[str, Any] = {
        "tenantId": payment.tenant_id,
        "totalDue": sum((line.total_due for line in payment.lines), start=Decimal(0)),
        "totalAmountPaid": payment.total_amount,
        "paidBy": payment.paid_by,
        "payerName": payment.payer_name,
        "mobileNumber": payment.mobile_number,
        "paymentMode": payment.payment_mode,
        "transactionNumber": payment.transaction_number,
        "instrumentNumber": payment.instrument_number,
        "instrumentDate": (
            parse.datetime_to_epoch_ms(payment.instrument_date)
            if payment.instrument_date is not None
            else None
        ),
        "additionalDetails": dict(payment.additional_details),
        "paymentDetails": [
            {
                "billId": line.bill_id,
                "businessService": line.business_service,
                "totalDue": line.total_due,
                "totalAmountPaid": line.amount,
            }
            for line in payment.lines
        ],
    }
    return {k: v for k, v in body.items() if v is not None}
