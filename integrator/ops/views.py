"""The ops console's pages and actions (a blueprint; `init_ops` registers it under /ops).

Reads are GETs (search forms included); every change is a POST carrying the session's CSRF token.
Views parse the form, call one `PaymentOperations` method and redirect (post/redirect/get) with
the outcome flashed; a refusal is flashed with its code, never a traceback.
"""

from __future__ import annotations

import csv
import hmac
import io
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import wraps
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from integrator.ops import filters
from integrator.ops.accounts import OpsAccount, authenticate
from integrator.ops.decide import decide
from integrator.ops.desk import BULK_LIMIT, OperatorDesk
from integrator.ops.filters import BadFilter, Paging, filter_from, kept_args, local, tz_label
from integrator.ops.health import digit_health, digit_trouble, duration, queue_health
from integrator.ops.reconciliation import register_reconciliation_views
from integrator.ops.sessions import ConsoleSessions
from integrator.payments import states
from integrator.payments.bulk import retry_refusal
from integrator.payments.models import PAYMENT_ID_PATTERN, Payment, PaymentStatus
from integrator.payments.operations import (
    OperationRefused,
    PaymentOperations,
    Resolution,
)
from integrator.services import Services
from integrator.store.payment_search import PaymentSearch

#: What a payment id or a cancellation request id can look like (both are generated here).
_ID = re.compile(PAYMENT_ID_PATTERN)

log = logging.getLogger("integrator.ops")

F = TypeVar("F", bound=Callable[..., Any])
CSRF_FIELD = "csrf_token"
#: How long the payment list's drop-down choices (reasons, device names) are reused.
CHOICES_SECONDS = 60.0
#: Endpoints open without a signed-in account.
PUBLIC_ENDPOINTS = frozenset({"ops.login", "ops.static"})


@dataclass(frozen=True, kw_only=True)
class OpsContext:
    services: Services
    accounts: Mapping[str, OpsAccount]
    sessions: ConsoleSessions  # who a request's session belongs to (server-side records)
    operations: PaymentOperations
    desk: OperatorDesk | None = None  # audited actions (built from services when not given)
    search: PaymentSearch | None = None  # the payment list's SQL


def html_error(exc: HTTPException) -> tuple[str, int]:
    """A console refusal (403, 404, 400, ...) as an HTML page, never the API's problem+json:
    every console blueprint registers it."""
    code = exc.code or 500
    return render_template(
        "ops/error.html", code=code, name=exc.name, description=exc.description
    ), code


def create_blueprint(ctx: OpsContext) -> Blueprint:
    bp = Blueprint(
        "ops",
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    from integrator.ops.wiring import build_desk, build_search

    ops = ctx.operations
    settings = ctx.services.settings
    desk = ctx.desk or build_desk(ctx.services, via="console")
    search = ctx.search or build_search(ctx.services)
    # one time zone for every page: DIGIT's, named wherever a time is shown
    tz = settings.digit_timezone

    # --- who may do what ---

    @bp.before_request
    def start_and_authorize() -> BaseResponse | None:
        g.ops_started = time.perf_counter()
        if CSRF_FIELD not in session:
            session[CSRF_FIELD] = secrets.token_urlsafe(32)
        if request.method == "POST":
            require_csrf()
        g.ops_account = current_account()
        if request.endpoint in PUBLIC_ENDPOINTS:
            return None
        if g.ops_account is None:
            return redirect(url_for("ops.login"))
        refuse_impossible_input()
        return None

    def refuse_impossible_input() -> None:
        """An id in the path that no payment or request can have is a 404, and a NUL in a
        field or query value a 400, before any of it reaches the ledger (PostgreSQL refuses
        NUL in text: that would be a 500)."""
        for name in ("payment_id", "request_id"):
            value = (request.view_args or {}).get(name)
            if isinstance(value, str) and _ID.fullmatch(value) is None:
                abort(404, description=f"No such {name.split('_')[0]}: {value!r}.")
        fields = [*request.args.lists(), *(request.form.lists() if request.form else ())]
        if any("\x00" in value for _name, values in fields for value in values):
            abort(400, description="A field holds a NUL character.")

    @bp.after_request
    def server_timing(response: Response) -> Response:
        started = g.get("ops_started")
        if started is not None:
            elapsed = (time.perf_counter() - started) * 1000
            response.headers["Server-Timing"] = f"app;dur={elapsed:.1f}"
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"
        )
        return response

    bp.register_error_handler(HTTPException, html_error)

    @bp.context_processor
    def template_globals() -> dict[str, Any]:
        return {
            "csrf_token": session.get(CSRF_FIELD, ""),
            "account": g.get("ops_account"),
            "statuses": list(PaymentStatus),
            "resolutions": list(Resolution),
            "is_final": states.is_final,
            "tz": tz,
            "tz_label": tz_label(tz),
            "duration": duration,
            "local": lambda moment, fmt="%Y-%m-%d %H:%M:%S": local(moment, tz, fmt),
        }

    def require_csrf() -> None:
        sent = request.form.get(CSRF_FIELD, "")
        expected = session.get(CSRF_FIELD, "")
        if not sent or not expected or not hmac.compare_digest(str(sent), str(expected)):
            log.warning(
                "ops request refused: CSRF token missing or wrong", extra={"path": request.path}
            )
            abort(400, description="The form's CSRF token is missing or wrong: reload the page.")

    def current_account() -> OpsAccount | None:
        return ctx.sessions.account()

    def operator_only(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            account: OpsAccount | None = g.get("ops_account")
            if account is None or not account.may_act:
                if account is not None:
                    desk.refused(
                        account.name,
                        str(request.endpoint or "").removeprefix("ops."),
                        payment_id=kwargs.get("payment_id"),
                        code="ROLE_MAY_NOT_ACT",
                        message=f"role {account.role.value} may look but not act",
                    )
                abort(403, description="Your role may look but not act (ask for operator).")
            return view(*args, **kwargs)

        return cast(F, wrapped)

    def operator_name() -> str:
        account: OpsAccount = g.ops_account
        return account.name

    # --- signing in and out ---

    @bp.route("/login", methods=["GET", "POST"])
    def login() -> BaseResponse | tuple[str, int] | str:
        if request.method == "GET":
            return render_template("ops/login.html", no_accounts=not ctx.accounts)
        name = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        decision = ctx.services.rate_limiter.hit(
            f"ops-login:{name.lower()}",
            settings.ops_login_attempts_per_minute,
            ctx.services.clock(),
        )
        if not decision.allowed:
            log.warning(
                "ops sign-in refused: too many attempts",
                extra={"user": name, "remote_addr": request.remote_addr},
            )
            flash(f"Too many sign-in attempts; wait {decision.retry_after} s.", "error")
            return render_template(
                "ops/login.html", username=name, no_accounts=not ctx.accounts
            ), 429
        account = authenticate(ctx.accounts, name, password)
        if account is None:
            log.warning(
                "ops sign-in failed", extra={"user": name, "remote_addr": request.remote_addr}
            )
            flash("Wrong name or password.", "error")
            return render_template(
                "ops/login.html", username=name, no_accounts=not ctx.accounts
            ), 401
        ctx.sessions.sign_in(account)  # a new session (and CSRF token) on every sign-in
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
        log.info("ops sign-in", extra={"user": account.name, "role": account.role.value})
        return redirect(url_for("ops.dashboard"))

    @bp.post("/logout")
    def logout() -> BaseResponse:
        ctx.sessions.sign_out()  # its record goes: a copy of the cookie is refused from now on
        return redirect(url_for("ops.login"))

    # --- pages ---

    @bp.get("/")
    def dashboard() -> str:
        now = ctx.services.clock()
        # the settlement report's calendar day, so "Today" is that day's settlement total
        day_tz = settings.settlement_timezone
        today = now.astimezone(day_tz).date()
        since = datetime.combine(today, datetime.min.time(), day_tz)
        volume = search.volume(since, since + timedelta(days=1))
        return render_template(
            "ops/dashboard.html",
            counts=ops.counts(),
            queue=queue_health(
                ctx.services.redis,
                queues=ctx.services.queues,
                ledger=ctx.services.payments_store,
                now=now,
            ),
            digit=digit_health(lambda: ctx.services.digit),
            digit_base_url=settings.digit_base_url,
            trouble=digit_trouble(ctx.services.redis, now=now),
            today=today,
            day_tz=tz_label(day_tz, "SETTLEMENT_TIMEZONE"),
            volume=volume,
            volume_count=sum(r.count for r in volume),
            volume_amount=sum((r.kept for r in volume), Decimal(0)),
            volume_reversed=Decimal(0) - sum((r.reversed_amount for r in volume), Decimal(0)),
            now=now,
        )

    choices: dict[str, tuple[float, list[str]]] = {}

    def cached_choices(name: str, read: Callable[[], list[str]]) -> list[str]:
        """The filter's drop-down choices, read at most once a minute per process: every
        list refresh would otherwise scan the ledger for them."""
        now = time.monotonic()
        kept = choices.get(name)
        if kept is None or now - kept[0] > CHOICES_SECONDS:
            kept = choices[name] = (now, read())
        return kept[1]

    def listed(args: Mapping[str, str]) -> dict[str, Any]:
        """The list's filter, page and total from the request's fields (BadFilter if bad)."""
        wanted = filter_from(args, tz)
        paging = Paging(page=filters.page_number(args), total=search.count(wanted))
        found = search.page(wanted, offset=paging.offset, limit=paging.size)
        return {
            "payments": found,
            "paging": paging,
            "device_names": search.device_names([p.device_id for p in found]),
            "searching": not wanted.is_empty,
        }

    @bp.get("/payments")
    def payments() -> tuple[str, int] | str:
        common: dict[str, Any] = {
            "args": request.args,
            "kept": kept_args(request.args),
            "reasons": cached_choices("reasons", search.reasons),
            "device_choices": cached_choices("devices", search.all_device_names),
            "updated_at": ctx.services.clock(),
            "retry_refusal": retry_refusal,
            "refresh_choices": filters.REFRESH_CHOICES,
            **filters.template_values(tz),
        }
        try:
            refresh = filters.refresh_seconds(request.args)
            found = listed(request.args)
        except (BadFilter, OperationRefused) as exc:
            flash(str(exc), "error")
            return render_template(
                "ops/payments.html",
                payments=(),
                paging=Paging(page=1, total=0),
                device_names={},
                searching=True,
                refresh=None,
                **common,
            ), 400
        return render_template("ops/payments.html", refresh=refresh, **found, **common)

    @bp.get("/payments.csv")
    def payments_csv() -> Response:
        try:
            wanted = filter_from(request.args, tz)
        except BadFilter as exc:
            abort(400, description=str(exc))
        return Response(
            _csv_lines(search, wanted, tz),
            mimetype="text/csv",
            headers={
                "Content-Disposition": "attachment; filename=payments-"
                + local(ctx.services.clock(), tz, "%Y%m%d-%H%M%S")
                + ".csv"
            },
        )

    @bp.get("/payments/<payment_id>")
    def payment(payment_id: str) -> str:
        try:
            found = ops.get(payment_id)
        except OperationRefused:
            abort(404, description=f"No payment {payment_id}.")
        offline = ctx.services.offline_store.marks([found.id]).get(found.id)
        decision = decide(
            found,
            registrar=lambda: ctx.services.registrar,
            flags=lambda: ctx.services.flags.of_payment(payment_id),
        )
        return render_template(
            "ops/payment.html",
            payment=found,
            decision=decision,
            device_name=search.device_names([found.device_id]).get(found.device_id),
            actions=desk.audit.for_payment(payment_id),
            offline=offline,
        )

    @bp.get("/audit")
    def audit() -> str:
        """Every operator action, done and refused, newest first (the last 200)."""
        return render_template("ops/audit.html", actions=desk.audit.recent(limit=200))

    # --- actions (operators only) ---

    @bp.post("/payments/<payment_id>/retry")
    @operator_only
    def retry(payment_id: str) -> BaseResponse:
        try:
            done = desk.retry(payment_id, operator=operator_name())
        except OperationRefused as exc:
            flash(f"Retry refused ({exc.code}): {exc.message}", "error")
        else:
            flash(f"Retry scheduled; the payment is {done.status}.", "ok")
        return redirect(url_for("ops.payment", payment_id=payment_id))

    @bp.post("/payments/<payment_id>/resolve")
    @operator_only
    def resolve(payment_id: str) -> BaseResponse:
        try:
            resolution = Resolution(request.form.get("resolution", ""))
        except ValueError:
            desk.refused(
                operator_name(),
                "resolve",
                payment_id=payment_id,
                code="RESOLUTION_REQUIRED",
                message="no resolution chosen",
            )
            flash("Choose how the payment was resolved.", "error")
            return redirect(url_for("ops.payment", payment_id=payment_id))
        try:
            done = desk.resolve(
                payment_id,
                operator=operator_name(),
                resolution=resolution,
                note=request.form.get("note", ""),
                receipt_number=request.form.get("receipt_number"),
            )
        except OperationRefused as exc:
            flash(f"Resolve refused ({exc.code}): {exc.message}", "error")
        else:
            flash(f"Payment {done.status} as {done.resolution}.", "ok")
        return redirect(url_for("ops.payment", payment_id=payment_id))

    @bp.post("/payments/retry-matching")
    @operator_only
    def retry_matching() -> BaseResponse | tuple[str, int] | str:
        """Every NEEDS_ATTENTION payment of the search: shown for confirmation first."""
        form = {k: v for k, v in request.form.items() if k != CSRF_FIELD}
        form["status"] = PaymentStatus.NEEDS_ATTENTION.value
        return bulk_retry_plan(form, all_matching=True)

    @bp.post("/payments/bulk-retry")
    @operator_only
    def bulk_retry() -> BaseResponse | tuple[str, int] | str:
        """Step 1 (no `confirm`): show how many would be retried, a sample and the skipped.
        Step 2 (`confirm=yes` with the ids shown): retry them; say how many and why not."""
        form = {k: v for k, v in request.form.items() if k not in (CSRF_FIELD, "ids")}
        ids = request.form.getlist("ids")
        if request.form.get("confirm") != "yes":
            return bulk_retry_plan(form, all_matching=request.form.get("all") == "yes", ids=ids)
        result = desk.retry_many(ids, operator=operator_name())
        flash(f"Bulk retry: {result.summary()}.", "ok" if result.acted else "error")
        back = {k: v for k, v in kept_args(form).items()}
        return redirect(url_for("ops.payments", **cast(dict[str, Any], back)))

    def bulk_retry_plan(
        form: Mapping[str, str], *, all_matching: bool, ids: list[str] | None = None
    ) -> BaseResponse | tuple[str, int] | str:
        try:
            if all_matching:
                wanted = filter_from(form, tz)
                ids = search.ids(wanted, offset=0, limit=BULK_LIMIT)
        except BadFilter as exc:
            flash(f"Retry refused: {exc}", "error")
            return redirect(url_for("ops.payments", **cast(dict[str, Any], kept_args(form))))
        if not ids:
            desk.refused(
                operator_name(),
                "bulk-retry",
                payment_id=None,
                code="NOTHING_SELECTED",
                message="no payment was selected",
            )
            flash("Select at least one payment to retry.", "error")
            return redirect(url_for("ops.payments", **cast(dict[str, Any], kept_args(form))))
        plan = desk.plan_retry(ids)
        return render_template(
            "ops/confirm_retry.html",
            plan=plan,
            kept=kept_args(form),
            device_names=search.device_names([p.device_id for p in plan.sample]),
        )

    register_reconciliation_views(
        bp,
        ctx.services.flags,
        operator_only=operator_only,
        operator_name=operator_name,
        timezone=settings.digit_timezone,
        desk=desk,
    )

    from integrator.ops.cancellations import register_cancellations

    register_cancellations(bp, services=ctx.services, operator_only=operator_only, desk=desk)
    return bp


CSV_COLUMNS = (
    "created_at",
    "payment_id",
    "status",
    "reason_or_resolution",
    "tenant_id",
    "device_name",
    "payment_mode",
    "bills",
    "total_amount",
    "receipts",
    "idempotency_key",
)


def reason_or_resolution(p: Payment) -> str:
    """The list's "Reason / resolution" column: how a RESOLVED payment was resolved (it keeps the
    reason it once needed attention for), else why it needs attention."""
    if p.status is PaymentStatus.RESOLVED:
        return p.resolution or ""
    return p.needs_attention_reason or ""


def _cell(value: str) -> str:
    """A cell a spreadsheet will not run: device-supplied text (idempotency keys, consumer
    codes) starting with = + - @ would otherwise be read as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_lines(search: PaymentSearch, wanted: Any, tz: Any) -> Iterator[str]:
    """The filtered list as CSV, streamed; times in the console's zone, named in the header."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow((f"created_at ({tz})", *CSV_COLUMNS[1:]))
    yield flush()
    names: dict[str, str] = {}
    for p in search.iter_all(wanted):
        if p.device_id not in names:
            names.update(search.device_names([p.device_id]))
            names.setdefault(p.device_id, p.device_id)  # no such device: its id, asked once
        writer.writerow(
            _cell(str(cell))
            for cell in (
                local(p.created_at, tz),
                p.id,
                p.status.value,
                reason_or_resolution(p),
                p.tenant_id,
                names[p.device_id],
                p.payment_mode,
                " ".join(f"{b.business_service}:{b.consumer_code}" for b in p.bills),
                str(p.total_amount),
                " ".join(p.receipt_numbers),
                p.idempotency_key,
            )
        )
        yield flush()
