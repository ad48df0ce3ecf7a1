r"""`/_sandbox/*`: the JSON admin API that resets the world, injects faults and moves the clock.

No auth; never part of DIGIT. Each view is a thin call into `World` or the DIGIT modules.

Paths (all under `/_sandbox`):
- `GET /health`; `POST /reset`: seed data back, faults off, clock real, counters zero.
- `GET|POST /faults`: `latency_ms`, `error_rate`, `down`, `timeout_after_commit`,
  `hang_seconds`, `unknown_400_after_commit`, and the late commit of Corrections 10:
  `hold_creates` (how many coming creates to hold), `hold_seconds` (30), `hold_phase`
  (`before_insert` | `after_insert`) and `gateway_timeout_seconds` (10);
  `workflow_timeout_after_commit`: the next n `_workflow` calls apply, then never answer;
  `hold_workflows`: the next n valid `_workflow` calls answer the gateway's 504 after
  `gateway_timeout_seconds` and are applied after `hold_seconds` anyway.
- `GET|POST /clock`: `{"now": ISO or epoch ms}` or `{"advance_seconds": n}`.
- `GET /counters`: calls per DIGIT endpoint, plus `create_held`, `late_commit`,
  `late_commit_dropped`, `workflow_held`, `late_workflow`,
  `account_locked`, `rbac_denied`, `workflow_<action>`,
  `backupdate_duplicate` once they happen.
- `POST /backupdate-lag`: `{"seconds": n}`.
- `GET|POST /lockout`: `{"cool_down_minutes": n}` and/or `{"unlock": "<userName>"}`;
  answers `{"cool_down_minutes": n, "locked": [{userName, tenantId, lockedAt}]}`.
- `GET|POST /mdms`: `{"semantics": "v1" | "v2"}`, `{"withoutData": [city, ...]}` (cities whose
  MDMS data is absent: v1 answers Invalid_tenantId, v2 the state's rows), `{"cityBusinessServices":
  {city: [code, ...] | null}}` (a city's own BusinessService file: the state's records of these
  codes; null: the seed's file, if any). Reset restores the seed.
- `GET|POST /refresh-tokens`: `{"linger_seconds": n}`: how long an expired refresh token stays
  stored (a refresh then gets 401 `invalid_token`; once gone, 400 `invalid_grant`).
- `GET /backupdate-audit`: billing's consumption log `{"audit": [...]}`, repeats carry
  `"error": "EGBS_PAYMENT_BACKUPDATE_ERROR"`.
- `POST /redeliver`: `{"paymentId": id, "topic": "create" | "cancel"}` publishes a stored
  payment again (a Kafka redelivery).
- `POST /cancel-payment`: `{"tenantId", "paymentId", "reason"?}` DIGIT's administrators cancel a
  payment: a CANCEL `_workflow` under DIGIT's rules (digest 13: only a consumer's newest APPROVED
  payment) by a user holding a cancel role, which the reference grants nobody for WS/SW.
- `POST /revoke-tokens`, `POST /counter-payment`, `POST /new-demand`, `GET /payments`,
  `GET /consumers`, `GET /requests`, `GET /tokens`.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections import deque
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, request

from integrator.sandbox import seed
from integrator.sandbox.billing import expire_active_bills, fetch_for
from integrator.sandbox.collection import create_payment
from integrator.sandbox.errors import SandboxError
from integrator.sandbox.http import json_body, json_response
from integrator.sandbox.mdms import CITY_TENANTS
from integrator.sandbox.workflow import apply_workflow, validate_workflow
from integrator.sandbox.world import KOLKATA, MDMS_SEMANTICS, Consumer, World

COUNTER_CLERK = ("COUNTER_CLERK", "EMPLOYEE", "pb.amritsar")
HOLD_PHASES = ("before_insert", "after_insert")


def _bad(message: str, status: int = 400) -> SandboxError:
    return SandboxError(status, {"error": message})


def _number(body: dict[str, Any], key: str) -> Decimal | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise _bad(f"{key} must be a number")
    try:
        return Decimal(str(value))
    except ArithmeticError:
        raise _bad(f"{key} must be a number") from None


def _matching(world: World, body: dict[str, Any]) -> list[Consumer]:
    return [
        c
        for c in world.consumers
        if all(
            body.get(key) in (None, value)
            for key, value in (
                ("tenantId", c.tenant_id),
                ("businessService", c.business_service),
                ("consumerCode", c.consumer_code),
            )
        )
    ]


def set_faults(world: World, body: dict[str, Any]) -> dict[str, Any]:
    with world.lock:
        faults = world.faults
        for key in (
            "latency_ms",
            "timeout_after_commit",
            "unknown_400_after_commit",
            "hold_creates",
            "workflow_timeout_after_commit",
            "hold_workflows",
        ):
            value = _number(body, key)
            if value is not None:
                setattr(faults, key, max(int(value), 0))
        for key in ("hold_seconds", "gateway_timeout_seconds"):
            value = _number(body, key)
            if value is not None:
                if value < 0:
                    raise _bad(f"{key} must be >= 0")
                setattr(faults, key, float(value))
        if "hold_phase" in body:
            if body["hold_phase"] not in HOLD_PHASES:
                raise _bad(f"hold_phase must be one of {', '.join(HOLD_PHASES)}")
            faults.hold_phase = str(body["hold_phase"])
        rate = _number(body, "error_rate")
        if rate is not None:
            if not 0 <= rate <= 1:
                raise _bad("error_rate must be between 0 and 1")
            faults.error_rate = float(rate)
        hang = _number(body, "hang_seconds")
        if hang is not None:
            faults.hang_seconds = float(hang)
        if "down" in body:
            faults.down = bool(body["down"])
        return faults.as_json()


def counter_payment(world: World, body: dict[str, Any]) -> dict[str, Any]:
    """Pay the consumer's current bill as a counter CASH payment by another user."""
    with world.lock:
        world.settle()
        consumers = _matching(world, body)
        if len(consumers) != 1 or not body.get("consumerCode"):
            raise _bad("give tenantId, businessService and consumerCode of one seed consumer")
        consumer = consumers[0]
        bill, _ = fetch_for(world, consumer)
        if bill is None:
            raise _bad("nothing is due for this consumer", 409)
        amount = _number(body, "amount") or bill["totalAmount"]
        clerk = world.users[COUNTER_CLERK]
        request = {
            "Payment": {
                "tenantId": consumer.tenant_id,
                "paymentMode": "CASH",
                "totalAmountPaid": amount,
                "paidBy": consumer.payer_name,
                "payerName": consumer.payer_name,
                "mobileNumber": consumer.mobile_number,
                "additionalDetails": {"source": "sandbox-counter"},
                "paymentDetails": [
                    {
                        "billId": bill["id"],
                        "businessService": consumer.business_service,
                        "totalAmountPaid": amount,
                    }
                ],
            }
        }
        return create_payment(world, request, clerk)


def cancel_payment(world: World, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Cancel a payment as DIGIT's administrators would (a `_workflow` CANCEL past the
    gateway's role check); DIGIT's rules still apply (a SandboxError, 400, if one fails)."""
    payment_id, tenant_id = body.get("paymentId"), body.get("tenantId")
    if not payment_id or not tenant_id:
        raise _bad("give tenantId and paymentId")
    item = {
        "paymentId": payment_id,
        "action": "CANCEL",
        "tenantId": tenant_id,
        "reason": body.get("reason") or "cancelled by DIGIT's administrators",
    }
    with world.lock:
        validated = validate_workflow(world, {"PaymentWorkflows": [item]})
        return apply_workflow(world, validated, world.users[COUNTER_CLERK])


def new_demand(world: World, body: dict[str, Any]) -> list[dict[str, Any]]:
    """A new monthly (or yearly) demand per matching consumer; their ACTIVE bills expire."""
    created = []
    with world.lock:
        world.settle()
        for consumer in _matching(world, body):
            service = consumer.business_service
            if service == "WS":
                lines = seed.water_period(int(_number(body, "units") or 25), arrear=False)
            elif service == "SW":
                lines = seed.sewerage(["150"])[0]
            elif service == "PT":
                lines = seed.property_tax(["1000"])[0]
            else:
                lines = seed.trade_licence("1500")[0]
            existing = [d for d in world.demands if d.consumer_code == consumer.consumer_code]
            latest_end = max((d.to_period_ms for d in existing), default=None)
            if latest_end is None:
                period = seed.month_period(world.now(), 0)
            else:
                after = datetime.fromtimestamp((latest_end + 1) / 1000, tz=KOLKATA)
                period = seed.month_period(after, 0)
            demand = seed.make_demand(consumer, lines, period)
            world.demands.append(demand)
            expire_active_bills(world, consumer)
            created.append(
                {
                    "id": demand.id,
                    "tenantId": consumer.tenant_id,
                    "businessService": service,
                    "consumerCode": consumer.consumer_code,
                    "fromPeriod": demand.from_period_ms,
                    "toPeriod": demand.to_period_ms,
                    "amount": demand.due,
                }
            )
    return created


def lockout(world: World, body: dict[str, Any]) -> dict[str, Any]:
    """Set the unlock cool-down and/or unlock one user now; the lockout state."""
    with world.lock:
        minutes = _number(body, "cool_down_minutes")
        if minutes is not None:
            if minutes < 0:
                raise _bad("cool_down_minutes must be >= 0")
            world.unlock_cool_down_minutes = float(minutes)
        name = body.get("unlock")
        if name is not None:
            users = [u for u in world.users.values() if u.user_name == name]
            if not users:
                raise _bad(f"no user {name}", 404)
            for user in users:
                user.account_locked = False
                user.locked_at_ms = None
                user.failed_logins.clear()
        return {
            "cool_down_minutes": world.unlock_cool_down_minutes,
            "locked": [
                {"userName": u.user_name, "tenantId": u.tenant_id, "lockedAt": u.locked_at_ms}
                for u in world.users.values()
                if u.account_locked
            ],
        }


def _city(value: Any) -> str:
    if value not in CITY_TENANTS:
        raise _bad(f"not a city of the sandbox: {value!r}")
    return str(value)


def set_mdms(world: World, body: dict[str, Any]) -> dict[str, Any]:
    with world.lock:
        if "semantics" in body:
            if body["semantics"] not in MDMS_SEMANTICS:
                raise _bad("semantics must be v1 or v2")
            world.mdms_semantics = str(body["semantics"])
        if "withoutData" in body:
            cities = body["withoutData"]
            if not isinstance(cities, list):
                raise _bad("withoutData must be a list of cities")
            world.mdms_without_data = {_city(c) for c in cities}
        if "cityBusinessServices" in body:
            files = body["cityBusinessServices"]
            if not isinstance(files, dict):
                raise _bad("cityBusinessServices must map a city to a list of codes or null")
            for city, codes in files.items():
                if codes is None:
                    world.mdms_city_services.pop(_city(city), None)
                elif isinstance(codes, list) and all(isinstance(c, str) for c in codes):
                    world.mdms_city_services[_city(city)] = tuple(codes)
                else:
                    raise _bad("cityBusinessServices must map a city to a list of codes or null")
        return {
            "semantics": world.mdms_semantics,
            "withoutData": sorted(world.mdms_without_data),
            "cityBusinessServices": {
                city: list(codes) for city, codes in sorted(world.mdms_city_services.items())
            },
        }


def set_refresh_tokens(world: World, body: dict[str, Any]) -> dict[str, Any]:
    with world.lock:
        linger = _number(body, "linger_seconds")
        if linger is not None:
            if linger < 0:
                raise _bad("linger_seconds must be >= 0")
            world.refresh_token_linger_seconds = float(linger)
        return {"linger_seconds": world.refresh_token_linger_seconds}


def redeliver(world: World, body: dict[str, Any]) -> dict[str, Any]:
    """Publish a stored payment on a topic again, as a Kafka redelivery would."""
    topic = body.get("topic", "create")
    if topic not in ("create", "cancel"):
        raise _bad("topic must be create or cancel")
    with world.lock:
        for payment in world.payments:
            if payment["id"] == body.get("paymentId"):
                world.queue_back_update(payment, topic=str(topic))
                return {"paymentId": payment["id"], "topic": topic}
    raise _bad("no payment with that paymentId", 404)


def set_clock(world: World, body: dict[str, Any]) -> dict[str, Any]:
    if "advance_seconds" in body:
        seconds = _number(body, "advance_seconds")
        assert seconds is not None
        world.advance_clock(float(seconds))
    elif "now" in body:
        raw = body["now"]
        if isinstance(raw, str) and not raw.strip().lstrip("-").isdigit():
            moment = datetime.fromisoformat(raw)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=KOLKATA)
            world.set_clock(int(moment.timestamp() * 1000))
        else:
            value = _number(body, "now")
            assert value is not None
            world.set_clock(int(value))
    else:
        raise _bad("give now (ISO or epoch ms) or advance_seconds")
    return clock_state(world)


def clock_state(world: World) -> dict[str, Any]:
    return {"now": world.now_ms(), "iso": world.now().isoformat()}


RECORDED_REQUESTS = 2000  # the ring buffer of GET /_sandbox/requests
RECORDED_BODY_CHARS = 16384  # a recorded body is cut after this many characters
RECORDED_TOKENS = 10000  # GET /_sandbox/tokens: every token issued (the newest this many)


class Recorder:
    """What DIGIT was sent (a bounded ring buffer) and every token it issued; survives reset.

    Tests use it to prove that no device key reaches DIGIT and that no DIGIT token is logged.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self.requests: deque[dict[str, Any]] = deque(maxlen=RECORDED_REQUESTS)
        self.tokens: deque[str] = deque(maxlen=RECORDED_TOKENS)

    def record(self, response: Response) -> None:
        if request.path.startswith("/_sandbox/"):
            return
        body = request.get_data(cache=True, as_text=True)
        if not body and request.form:  # a form already parsed (the token endpoint)
            body = "&".join(f"{k}={v}" for k, v in request.form.items(multi=True))
        entry = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string.decode("latin-1"),
            "headers": dict(request.headers.items()),
            "body": body[:RECORDED_BODY_CHARS],
            "status": response.status_code,
        }
        issued: list[str] = []
        if request.path == "/user/oauth/token" and response.status_code == 200:
            answer = response.get_json(silent=True) or {}
            issued = [str(answer[k]) for k in ("access_token", "refresh_token") if answer.get(k)]
        with self._lock:
            entry["seq"] = next(self._seq)
            self.requests.append(entry)
            self.tokens.extend(t for t in issued if t not in self.tokens)

    def issued(self) -> list[str]:
        with self._lock:
            return list(self.tokens)

    def since(self, seq: int) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(e) for e in self.requests if e["seq"] > seq]


def create_blueprint(world: World) -> Blueprint:
    bp = Blueprint("sandbox_admin", __name__, url_prefix="/_sandbox")
    recorder = Recorder()

    @bp.after_app_request
    def record(response: Response) -> Response:
        recorder.record(response)
        return response

    @bp.get("/requests")
    def requests_seen() -> Any:
        """Requests to DIGIT's paths (newest last), after `?since=<seq>`."""
        since = request.args.get("since", "0")
        seen = recorder.since(int(since) if since.isdigit() else 0)
        return json_response({"requests": seen})

    @bp.get("/tokens")
    def tokens_issued() -> Any:
        """Every access and refresh token issued since the sandbox started (resets included)."""
        return json_response({"tokens": recorder.issued()})

    @bp.get("/health")
    def health() -> Any:
        return json_response({"status": "UP"})

    @bp.post("/reset")
    def reset() -> Any:
        world.reset()
        return json_response({"status": "reset"})

    @bp.get("/faults")
    def faults() -> Any:
        with world.lock:
            return json_response(world.faults.as_json())

    @bp.post("/faults")
    def faults_set() -> Any:
        return json_response(set_faults(world, json_body()))

    @bp.post("/revoke-tokens")
    def revoke_tokens() -> Any:
        with world.lock:
            revoked = len(world.tokens)
            world.tokens.clear()
            world.token_by_key.clear()
            world.refresh_tokens.clear()
        return json_response({"revoked": revoked})

    @bp.post("/backupdate-lag")
    def backupdate_lag() -> Any:
        seconds = _number(json_body(), "seconds")
        if seconds is None or seconds < 0:
            raise _bad("seconds must be a number >= 0")
        with world.lock:
            world.backupdate_lag_seconds = float(seconds)
        return json_response({"seconds": seconds})

    @bp.post("/counter-payment")
    def counter() -> Any:
        return json_response({"Payments": [counter_payment(world, json_body())]})

    @bp.post("/cancel-payment")
    def cancel() -> Any:
        return json_response({"Payments": cancel_payment(world, json_body())})

    @bp.post("/new-demand")
    def demand() -> Any:
        return json_response({"demands": new_demand(world, json_body())})

    @bp.get("/lockout")
    def lockout_state() -> Any:
        return json_response(lockout(world, {}))

    @bp.post("/lockout")
    def lockout_set() -> Any:
        return json_response(lockout(world, json_body()))

    @bp.get("/mdms")
    def mdms_state() -> Any:
        return json_response(set_mdms(world, {}))

    @bp.post("/mdms")
    def mdms_set() -> Any:
        return json_response(set_mdms(world, json_body()))

    @bp.get("/refresh-tokens")
    def refresh_tokens_state() -> Any:
        return json_response(set_refresh_tokens(world, {}))

    @bp.post("/refresh-tokens")
    def refresh_tokens_set() -> Any:
        return json_response(set_refresh_tokens(world, json_body()))

    @bp.get("/backupdate-audit")
    def backupdate_audit() -> Any:
        with world.lock:
            world.settle()
            return json_response({"audit": copy.deepcopy(world.backupdate_audit)})

    @bp.post("/redeliver")
    def redeliver_payment() -> Any:
        return json_response(redeliver(world, json_body()))

    @bp.get("/clock")
    def clock() -> Any:
        return json_response(clock_state(world))

    @bp.post("/clock")
    def clock_set() -> Any:
        return json_response(set_clock(world, json_body()))

    @bp.get("/counters")
    def counters() -> Any:
        with world.lock:
            return json_response(dict(world.counters))

    @bp.get("/payments")
    def payments() -> Any:
        with world.lock:
            world.settle()
            return json_response({"Payments": copy.deepcopy(world.payments)})

    @bp.get("/consumers")
    def consumers() -> Any:
        return json_response({"consumers": seed.seed_listing()})

    return bp
