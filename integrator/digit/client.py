"""`DigitClient`: one method per DIGIT operation, typed in and out.

Every business call carries the shared token in `RequestInfo.authToken` (built in one place,
`integrator.digit.http.request_info`). A 401 or `InvalidAccessTokenException` drops the token (if
it is still the one that failed), gets a fresh one (single-flight) and retries the call once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

import redis as redis_lib
import requests

from integrator import jsonutil
from integrator.digit import parse
from integrator.digit.auth import TokenManager
from integrator.digit.errors import (
    DigitAuthError,
    DigitError,
    DigitOutcomeUnknown,
    DigitTokenRefused,
    DigitUnavailable,
)
from integrator.digit.http import Answer, TokenRejected, Transport, check, mask_mobile, request_info
from integrator.digit.http import session_for as _session_for
from integrator.digit.models import (
    AuthState,
    Bill,
    DigitPayment,
    PaymentCreate,
    PaymentRule,
    Tenant,
)
from integrator.settings import Settings
from integrator.store import keys
from integrator.store.tokens import TokenStore

log = logging.getLogger("integrator.digit")

T = TypeVar("T")

FETCH_BILL = "billing-service/bill/v2/_fetchbill"
SEARCH_BILL = "billing-service/bill/v2/_search"
CREATE_PAYMENT = "collection-services/payments/_create"
SEARCH_PAYMENT = "collection-services/payments/{module}/_search"
MDMS_SEARCH = "egov-mdms-service/v1/_search"

#: Where the fallback copies of MDMS masters ship: the repository's `config/` folder.
DEFAULT_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
PAYMENT_RULES_FILE = "payment-rules.json"
TENANTS_FILE = "tenants.json"
#: How long a process keeps parsed master data before reading the shared cache again.
MEMO_SECONDS = 60
#: A fallback answer is cached this briefly, so an MDMS outage does not cost a timeout per call.
FALLBACK_CACHE_SECONDS = 60

Source = Literal["mdms", "cache", "fallback"]


def _joined(values: Sequence[str]) -> str:
    return ",".join(v for v in values if v)


class DigitClient:
    """DIGIT's billing, collection and MDMS operations used by the integrator."""

    def __init__(
        self,
        *,
        settings: Settings,
        redis: redis_lib.Redis,
        session: requests.Session | None = None,
        config_dir: Path | None = None,
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._transport = Transport(settings=settings, session=session or _session_for(settings))
        self._auth = TokenManager(settings=settings, redis=redis, transport=self._transport)
        self._store = TokenStore(redis)
        self._config_dir = config_dir or DEFAULT_CONFIG_DIR
        self._tz = settings.digit_timezone
        #: Where the last `payment_rules()` / `tenants()` answer came from (for /readyz, logs).
        self.last_source: dict[str, Source] = {}
        # Parsed master data, kept in this process for MEMO_SECONDS (Redis holds the shared
        # copy for MDMS_CACHE_SECONDS): no Redis read and no parsing on every bills request.
        self._memo: dict[str, tuple[float, Any]] = {}
        self._memo_lock = threading.Lock()

    # --- authentication ---
    def auth_state(self) -> AuthState:
        return self._auth.auth_state()

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
            )
        except DigitError:
            return False
        return answer.status < 500 and answer.status != 429

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
    ) -> Mapping[str, Any]:
        """POST with RequestInfo; on a refused token, re-login once and retry once."""
        for attempt in (1, 2):
            token = self._auth.token()
            body = {"RequestInfo": request_info(token, action=action), **(payload or {})}
            answer: Answer = self._transport.send(endpoint, params=params, json_body=body)
            try:
                result: Mapping[str, Any] = check(endpoint, answer, write=write)
                return result
            except TokenRejected:
                # A refused token means the gateway stopped the call before the service, so
                # nothing was written. A read is sent again at once; a write is not: a fresh
                # login could outlast the caller's lease, so the caller's next attempt (which
                # looks in DIGIT first) sends it with the new token.
                self._auth.invalidate(token)
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
        self, *, tenant_id: str, business_service: str, consumer_code: str
    ) -> list[Bill]:
        """The consumer's current bill(s) (`_fetchbill`, HTTP 201). `[]` means nothing is due."""
        body = self._call(
            FETCH_BILL,
            params={
                "tenantId": tenant_id,
                "businessService": business_service,
                "consumerCode": consumer_code,
            },
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
    ) -> list[Bill]:
        """`bill/v2/_search`: the latest bill per consumer code (any status)."""
        if not (bill_ids or consumer_codes or mobile_number):
            raise ValueError("search_bills needs bill_ids, consumer_codes or mobile_number")
        if consumer_codes and not business_service:
            raise ValueError("DIGIT needs business_service with consumer_codes")
        params = {"tenantId": tenant_id}
        if bill_ids:
            params["billId"] = _joined(bill_ids)
        if consumer_codes:
            params["consumerCode"] = _joined(consumer_codes)
        if business_service:
            params["service"] = business_service  # DIGIT's name for it (digest 4.2)
        if mobile_number:
            params["mobileNumber"] = mobile_number
        body = self._call(SEARCH_BILL, params=params)
        return self._parsed(SEARCH_BILL, lambda: parse.bills(body, self._tz))

    def bills_for_mobile(
        self,
        *,
        tenant_id: str,
        mobile_number: str,
        business_service: str | None = None,
        max_in_flight: int | None = None,
    ) -> list[Bill]:
        """Current bills of every consumer whose bills carry this mobile number.

        `_search` (city or state tenant) finds the consumers; each consumer's current bill then
        comes from `_fetchbill` with the consumer's own city tenant (an employee may not fetch
        with a state tenant, EG_BS_INVALID_TENANTID), only for `collectable_services`, in
        parallel, at most `max_in_flight` at a time.
        """
        services = set(self._settings.collectable_services)
        if business_service is not None:
            services &= {business_service}
        found = self.search_bills(
            tenant_id=tenant_id, mobile_number=mobile_number, business_service=business_service
        )
        consumers = sorted(
            {
                (b.tenant_id, b.business_service, b.consumer_code)
                for b in found
                if b.business_service in services
            }
        )
        log.info(
            "digit bills for mobile %s: %d consumer(s)", mask_mobile(mobile_number), len(consumers)
        )
        if not consumers:
            return []
        workers = max(
            1, min(max_in_flight or self._settings.mobile_fetch_concurrency, len(consumers))
        )

        def fetch(consumer: tuple[str, str, str]) -> list[Bill]:
            tenant, service, code = consumer
            return self.fetch_bills(tenant_id=tenant, business_service=service, consumer_code=code)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="digit-fetch") as pool:
            results = list(pool.map(fetch, consumers))  # the first failure propagates
        return [b for group in results for b in group]

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
    ) -> list[DigitPayment]:
        """`payments/{module}/_search` (employees must name the module: EGCL_URI_EXCEPTION)."""
        if not module or "/" in module or module.startswith("."):
            raise ValueError(f"not a DIGIT module name: {module!r}")
        params = {"tenantId": tenant_id}
        if bill_ids:
            params["billIds"] = _joined(bill_ids)
        if receipt_numbers:
            params["receiptNumbers"] = _joined(receipt_numbers)
        if consumer_codes:
            params["consumerCodes"] = _joined(consumer_codes)
        if transaction_number:
            params["transactionNumber"] = transaction_number
        if mobile_number:
            params["mobileNumber"] = mobile_number
        endpoint = SEARCH_PAYMENT.format(module=module)
        body = self._call(endpoint, params=params)
        return self._parsed(endpoint, lambda: parse.payments(body, self._tz))

    # --- MDMS ---
    def payment_rules(self) -> dict[str, PaymentRule]:
        """MDMS BillingService.BusinessService by code; cached; falls back to config/."""
        rules: dict[str, PaymentRule] = self._memoized(
            "rules",
            lambda: parse.payment_rules(
                self._mdms_master("BillingService", "BusinessService", PAYMENT_RULES_FILE)
            ),
        )
        return dict(rules)

    def tenants(self) -> list[Tenant]:
        """MDMS tenant.tenants; cached; falls back to config/."""
        tenants: list[Tenant] = self._memoized(
            "tenants", lambda: parse.tenants(self._mdms_master("tenant", "tenants", TENANTS_FILE))
        )
        return list(tenants)

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

    def _mdms_master(self, module: str, master: str, fallback_file: str) -> list[Any]:
        name = f"{module}.{master}"
        state = self._settings.digit_state_tenant
        key = keys.digit_mdms(name, state)
        cached = self._store.get_cached(key)
        if cached is not None:
            entry = jsonutil.loads(cached)
            self.last_source[name] = "cache" if entry.get("source") == "mdms" else "fallback"
            return list(entry["records"])
        try:
            records = self._mdms_search(module, master, state)
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

    def _mdms_search(self, module: str, master: str, tenant_id: str) -> list[Any]:
        criteria = {
            "tenantId": tenant_id,
            "moduleDetails": [{"moduleName": module, "masterDetails": [{"name": master}]}],
        }
        body = self._call(MDMS_SEARCH, payload={"MdmsCriteria": criteria})
        records = (body.get("MdmsRes") or {}).get(module, {}).get(master)
        if not isinstance(records, list) or not records:
            raise DigitOutcomeUnknown(
                f"MDMS has no {module}.{master} for {tenant_id}", endpoint=MDMS_SEARCH
            )
        return records

    def _fallback(self, filename: str, module: str, master: str) -> list[Any]:
        path = Path(os.fspath(self._config_dir)) / filename
        data = jsonutil.loads(path.read_text(encoding="utf-8"))
        # Same shape as an MDMS data file: {"tenantId", "moduleName", "<master>": [...]}
        records = data.get(master) if isinstance(data, dict) else data
        if not isinstance(records, list):
            raise ValueError(f"{path} has no {module}.{master} list")
        return records


def payment_body(payment: PaymentCreate) -> dict[str, Any]:
    """The `Payment` object of a `payments/_create` request (digest 5.1)."""
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
