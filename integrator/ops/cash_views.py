"""The collector's day in the ops console, under /ops/cash (its own blueprint, the console's
session and CSRF token).

    GET  /ops/cash/                 a device's (or city's) day: cash in hand, the day's figures by
                                    city and mode, hand-overs, offline uploads (collected vs
                                    uploaded time); forms to record a hand-over and close the day
    GET  /ops/cash/day.csv          the day's figures as CSV
    POST /ops/cash/handover         cashier only: a device handed over an amount of one mode
    POST /ops/cash/close            cashier only: close the day (once)

Every page needs a signed-in ops account; the two actions need the `cashier` role. A refused
action (the role, a bad amount, or the cash or day-close rules) is recorded in the operator audit
(`OperatorDesk.refused`, actions `cash_handover` and `cash_close`), as a refused retry is.
"""

from __future__ import annotations

import hmac
import logging
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

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

from integrator.ops.accounts import OpsAccount
from integrator.ops.desk import OperatorDesk
from integrator.ops.sessions import ConsoleSessions
from integrator.ops.views import html_error
from integrator.payments.cash import CashRefused
from integrator.payments.day_close import DayCloseRefused, report_csv
from integrator.payments.days import FIRST_DAY, LAST_DAY, day_in_range
from integrator.services import Services
from integrator.store.cash import Scope

log = logging.getLogger("integrator.ops")

CSRF_FIELD = "csrf_token"  # the console's session field (ops.views)
#: The audit's name for each action (endpoint -> action).
ACTIONS = {"ops_cash.handover": "cash_handover", "ops_cash.close": "cash_close"}


def create_cash_blueprint(
    services: Services, sessions: ConsoleSessions, *, desk: OperatorDesk
) -> Blueprint:
    bp = Blueprint("ops_cash", __name__, template_folder="templates")
    tz = services.settings.settlement_timezone

    def refused(code: str, message: str, **detail: str) -> None:
        account: OpsAccount = g.ops_account
        action = ACTIONS.get(str(request.endpoint), str(request.endpoint))
        desk.refused(
            account.name, action, payment_id=None, code=code, message=message, detail=detail
        )

    @bp.before_request
    def authorize() -> BaseResponse | None:
        g.ops_account = sessions.account()
        if g.ops_account is None:
            return redirect(url_for("ops.login"))
        if request.method == "POST":
            sent = str(request.form.get(CSRF_FIELD, ""))
            expected = str(session.get(CSRF_FIELD, ""))
            if not sent or not expected or not hmac.compare_digest(sent, expected):
                abort(400, description="The form's CSRF token is missing or wrong: reload.")
            if not g.ops_account.may_take_cash:
                role = g.ops_account.role.value
                refused("ROLE_MAY_NOT_TAKE_CASH", f"role {role} does not handle cash")
                abort(403, description="Only a cashier records hand-overs and closes days.")
        return None

    # a refusal here (a role that does not handle cash, a bad CSRF token or date) is the
    # console's HTML error page, as on every other console page
    bp.register_error_handler(HTTPException, html_error)

    @bp.context_processor
    def template_globals() -> dict[str, Any]:
        return {"csrf_token": session.get(CSRF_FIELD, ""), "account": g.get("ops_account")}

    def chosen_day() -> date:
        raw = (request.values.get("date") or "").strip()
        try:
            day = date.fromisoformat(raw) if raw else datetime.now(tz).date()
        except ValueError:
            abort(400, description="date: write YYYY-MM-DD")
        if not day_in_range(day):  # 9999-12-31's end is no datetime
            abort(400, description=f"date: a day from {FIRST_DAY} to {LAST_DAY}")
        return day

    def chosen_scope() -> tuple[Scope, str] | None:
        device = (request.values.get("device") or "").strip()
        tenant = (request.values.get("tenant") or "").strip()
        if device:
            return Scope.DEVICE, device
        if tenant:
            return Scope.CITY, tenant
        return None

    def back(scope: Scope, name: str, day: date) -> BaseResponse:
        if scope is Scope.DEVICE:
            return redirect(url_for("ops_cash.day", device=name, date=day.isoformat()))
        return redirect(url_for("ops_cash.day", tenant=name, date=day.isoformat()))

    @bp.get("/")
    def day() -> str | tuple[str, int]:
        the_day = chosen_day()
        chosen = chosen_scope()
        context: dict[str, Any] = {"day": the_day, "scope": None, "name": "", "tz": tz}
        if chosen is None:
            return render_template("ops/cash.html", **context)
        scope, name = chosen
        try:
            scope_id = services.day_close.scope_id(scope, name)
        except DayCloseRefused as refused:
            flash(f"{refused.code}: {refused.message}", "error")
            return render_template("ops/cash.html", **context), 404
        report = services.day_close.report(scope, scope_id, the_day)
        context.update(scope=scope.value, name=name, report=report, figures=report.figures)
        if scope is Scope.DEVICE:
            start, end = _bounds(the_day, tz)
            context["holdings"] = services.cash.in_hand(scope_id)
            context["uploads"] = services.offline_store.uploaded_between(scope_id, start, end)
        return render_template("ops/cash.html", **context)

    @bp.get("/day.csv")
    def day_csv() -> Response:
        chosen = chosen_scope()
        if chosen is None:
            abort(400, description="give device or tenant")
        scope, name = chosen
        the_day = chosen_day()
        try:
            scope_id = services.day_close.scope_id(scope, name)
        except DayCloseRefused as refused:
            abort(404, description=refused.message)
        report = services.day_close.report(scope, scope_id, the_day)
        response = Response(report_csv(report), mimetype="text/csv")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="day-close-{scope.value}-{the_day.isoformat()}.csv"'
        )
        return response

    @bp.post("/handover")
    def handover() -> BaseResponse:
        device = (request.form.get("device") or "").strip()
        mode = (request.form.get("mode") or "CASH").strip().upper()
        tenant = (request.form.get("tenant_id") or "").strip() or None
        reason = (request.form.get("reason") or "").strip() or None
        the_day = chosen_day()
        try:
            counted = Decimal((request.form.get("counted") or "").strip())
        except InvalidOperation:
            refused("INVALID_AMOUNT", "counted is not an amount", device=device, mode=mode)
            flash("Counted: write the amount, e.g. 1200", "error")
            return back(Scope.DEVICE, device, the_day)
        try:
            recorded = services.cash.handover(
                device_name=device,
                counted={mode: counted},
                cashier=g.ops_account.name,
                tenant_id=tenant,
                reason=reason,
            )
        except CashRefused as exc:
            refused(
                exc.code,
                exc.message,
                device=device,
                mode=mode,
                counted=str(counted),
                tenantId=tenant or "",
            )
            flash(f"{exc.code}: {exc.message}", "error")
            return back(Scope.DEVICE, device, the_day)
        for h in recorded:
            log.info(
                "cash handed over",
                extra={"handover_id": h.id, "device_id": h.device_id, "cashier": h.cashier},
            )
            flash(
                f"Recorded {h.payment_mode} {h.counted} from {device} (expected {h.expected},"
                f" difference {h.difference}).",
                "ok",
            )
        return back(Scope.DEVICE, device, the_day)

    @bp.post("/close")
    def close() -> BaseResponse:
        chosen = chosen_scope()
        if chosen is None:
            refused("SCOPE_REQUIRED", "no device or city was given")
            abort(400, description="give device or tenant")
        scope, name = chosen
        the_day = chosen_day()
        try:
            scope_id = services.day_close.scope_id(scope, name)
            services.day_close.close(scope, scope_id, the_day, closed_by=g.ops_account.name)
        except DayCloseRefused as exc:
            refused(exc.code, exc.message, scope=scope.value, name=name, day=the_day.isoformat())
            flash(f"{exc.code}: {exc.message}", "error")
        else:
            flash(f"{the_day} closed for {name}.", "ok")
        return back(scope, name, the_day)

    return bp


def _bounds(day: date, tz: Any) -> tuple[datetime, datetime]:
    from integrator.payments.days import day_bounds

    return day_bounds(day, day, tz)
