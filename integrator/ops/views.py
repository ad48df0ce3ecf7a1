"""The ops console's pages and actions (a blueprint; `init_ops` registers it under /ops).

Reads are GETs (search forms included); every change is a POST carrying the session's CSRF token.
Views parse the form, call one `PaymentOperations` method and redirect (post/redirect/get) with
the outcome flashed; a refusal is flashed with its code, never a traceback.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
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

from integrator.ops.accounts import OpsAccount, authenticate
from integrator.ops.health import digit_health, queue_health
from integrator.ops.reconciliation import register_reconciliation_views
from integrator.payments import states
from integrator.payments.models import PaymentStatus
from integrator.payments.operations import (
    OperationRefused,
    PaymentOperations,
    PaymentQuery,
    Resolution,
)
from integrator.services import Services

log = logging.getLogger("integrator.ops")

F = TypeVar("F", bound=Callable[..., Any])
CSRF_FIELD = "csrf_token"
PAGE_SIZE = 50
#: Endpoints open without a signed-in account.
PUBLIC_ENDPOINTS = frozenset({"ops.login", "ops.static"})

SEARCH_FIELDS: Mapping[str, str] = {
    "id": "Payment id",
    "key": "Idempotency key",
    "bill": "Bill id",
    "consumer": "Consumer code",
    "receipt": "Receipt number",
    "mobile": "Mobile (last digits)",
}


@dataclass(frozen=True, kw_only=True)
class OpsContext:
    services: Services
    accounts: Mapping[str, OpsAccount]
    operations: PaymentOperations


class BadSearch(ValueError):
    pass


def query_from(args: Mapping[str, str]) -> PaymentQuery:
    """A PaymentQuery from the search form's fields (empty fields are ignored)."""

    def text(name: str) -> str | None:
        value = (args.get(name) or "").strip()
        return value or None

    def day(name: str) -> date | None:
        value = text(name)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise BadSearch(f"{name}: a date as YYYY-MM-DD, got {value!r}") from None

    status_text = text("status")
    try:
        status = PaymentStatus(status_text.upper()) if status_text else None
    except ValueError:
        raise BadSearch(f"status: one of {', '.join(PaymentStatus)}") from None
    mobile = text("mobile")
    if mobile is not None and len([c for c in mobile if c.isdigit()]) < 4:
        raise BadSearch("mobile: give at least the last 4 digits")
    return PaymentQuery(
        payment_id=text("id"),
        idempotency_key=text("key"),
        bill_id=text("bill"),
        consumer_code=text("consumer"),
        receipt_number=text("receipt"),
        mobile_digits=mobile,
        created_from=day("from"),
        created_to=day("to"),
        status=status,
    )


def create_blueprint(ctx: OpsContext) -> Blueprint:
    bp = Blueprint(
        "ops",
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    ops = ctx.operations
    settings = ctx.services.settings

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
        return None

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

    @bp.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int]:
        code = exc.code or 500
        return render_template(
            "ops/error.html", code=code, name=exc.name, description=exc.description
        ), code

    @bp.context_processor
    def template_globals() -> dict[str, Any]:
        return {
            "csrf_token": session.get(CSRF_FIELD, ""),
            "account": g.get("ops_account"),
            "statuses": list(PaymentStatus),
            "resolutions": list(Resolution),
            "search_fields": SEARCH_FIELDS,
            "is_final": states.is_final,
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
        name = session.get("user")
        return ctx.accounts.get(name) if isinstance(name, str) else None

    def operator_only(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            account: OpsAccount | None = g.get("ops_account")
            if account is None or not account.may_act:
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
            return render_template("ops/login.html")
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
            return render_template("ops/login.html", username=name), 429
        account = authenticate(ctx.accounts, name, password)
        if account is None:
            log.warning(
                "ops sign-in failed", extra={"user": name, "remote_addr": request.remote_addr}
            )
            flash("Wrong name or password.", "error")
            return render_template("ops/login.html", username=name), 401
        session.clear()  # a new session (and CSRF token) on every sign-in: no fixation
        session.permanent = True
        session["user"] = account.name
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
        log.info("ops sign-in", extra={"user": account.name, "role": account.role.value})
        return redirect(url_for("ops.dashboard"))

    @bp.post("/logout")
    def logout() -> BaseResponse:
        session.clear()
        return redirect(url_for("ops.login"))

    # --- pages ---

    @bp.get("/")
    def dashboard() -> str:
        now = ctx.services.clock()
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
        )

    @bp.get("/payments")
    def payments() -> tuple[str, int] | str:
        try:
            query = query_from(request.args)
            page = ops.finder.find(
                query, cursor=request.args.get("cursor") or None, limit=PAGE_SIZE
            )
        except (BadSearch, OperationRefused) as exc:
            flash(str(exc), "error")
            return render_template(
                "ops/payments.html",
                payments=(),
                next_cursor=None,
                args=request.args,
                searching=True,
            ), 400
        searching = any(
            (request.args.get(k) or "").strip() for k in (*SEARCH_FIELDS, "from", "to", "status")
        )
        next_args = {k: v for k, v in request.args.items() if k != "cursor" and v}
        return render_template(
            "ops/payments.html",
            payments=page.payments,
            next_cursor=page.next_cursor,
            next_args=next_args,
            args=request.args,
            searching=searching,
        )

    @bp.get("/payments/<payment_id>")
    def payment(payment_id: str) -> str:
        try:
            found = ops.get(payment_id)
        except OperationRefused:
            abort(404, description=f"No payment {payment_id}.")
        offline = ctx.services.offline_store.marks([found.id]).get(found.id)
        return render_template(
            "ops/payment.html", payment=found, tz=settings.digit_timezone, offline=offline
        )

    # --- actions (operators only) ---

    @bp.post("/payments/<payment_id>/retry")
    @operator_only
    def retry(payment_id: str) -> BaseResponse:
        try:
            done = ops.retry(payment_id, operator=operator_name())
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
            flash("Choose how the payment was resolved.", "error")
            return redirect(url_for("ops.payment", payment_id=payment_id))
        try:
            done = ops.resolve(
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
    def retry_matching() -> BaseResponse:
        try:
            query = query_from(request.form)
            summary = ops.retry_matching(query, operator=operator_name())
        except (BadSearch, OperationRefused) as exc:
            flash(f"Retry refused: {exc}", "error")
        else:
            refused = f"; refused {len(summary.refused)}" if summary.refused else ""
            flash(f"Retried {len(summary.retried)} NEEDS_ATTENTION payments{refused}.", "ok")
        args = {k: v for k, v in request.form.items() if k != CSRF_FIELD and v}
        args["status"] = PaymentStatus.NEEDS_ATTENTION.value
        return redirect(url_for("ops.payments", **cast(dict[str, Any], args)))

    register_reconciliation_views(
        bp,
        ctx.services.flags,
        operator_only=operator_only,
        operator_name=operator_name,
        timezone=settings.digit_timezone,
    )

    from integrator.ops.cancellations import register_cancellations

    register_cancellations(bp, services=ctx.services, operator_only=operator_only)
    return bp
