"""The console's cancellation pages: ask for a reversal from a payment's page, list the requests,
and approve or reject one on its own page (the page is the confirmation: it shows what will be
sent to DIGIT before the button that sends it).

Registered on the console's blueprint by `views.create_blueprint`, so sign-in, CSRF and the
operator-only rule are the console's own. Refusals are flashed with their code (DIGIT's codes
included when DIGIT refused), never a traceback, and recorded in the operator audit
(`OperatorDesk.refused`) like a refused retry or resolve, under the action names the role check
uses for these endpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from integrator.ops.accounts import OpsAccount
from integrator.ops.desk import OperatorDesk
from integrator.payments.cancellation import CancellationRefused
from integrator.payments.cancellation_records import Action, Operator, RequestState
from integrator.services import Services

LIST_LIMIT = 200


#: The list's default filter: requests still to be decided or left without DIGIT's answer (the
#: worker looks those up until decided: integrator.jobs.cancellation.sweep_reversals).
OPEN = "OPEN"
OPEN_STATES = (RequestState.REQUESTED, RequestState.SENDING, RequestState.UNKNOWN)


def _operator() -> Operator:
    account: OpsAccount = g.ops_account
    return Operator(name=account.name, may_act=account.may_act)


def register_cancellations(
    bp: Blueprint,
    *,
    services: Services,
    operator_only: Callable[[Callable[..., Any]], Callable[..., Any]],
    desk: OperatorDesk,
) -> None:
    settings = services.settings

    def refused(
        endpoint: str, exc: CancellationRefused, *, payment_id: str | None, **detail: str
    ) -> None:
        """Audit the refusal under the endpoint's name, as the role check names it."""
        desk.refused(
            _operator().name,
            endpoint,
            payment_id=payment_id,
            code=exc.code,
            message=exc.message,
            detail=detail,
        )

    def payment_of(request_id: str) -> str | None:
        """The request's payment, so a refused decision shows on the payment's page too."""
        try:
            return services.cancellations.get(request_id).payment_id
        except CancellationRefused:
            return None

    @bp.get("/cancellations")
    def cancellations() -> str:
        # by default what still needs someone: to be decided, or sent without an answer yet
        wanted = (request.args.get("state") or OPEN).upper()
        if wanted == OPEN:
            states = list(OPEN_STATES)
        else:
            states = [] if wanted == "ALL" else [s for s in RequestState if s.value == wanted]
        found = services.cancellations.recent(states=states, limit=LIST_LIMIT)
        return render_template(
            "ops/cancellations.html",
            requests=found,
            wanted=wanted,
            states=list(RequestState),
            tz=settings.digit_timezone,
        )

    @bp.get("/cancellations/<request_id>")
    def cancellation(request_id: str) -> str:
        try:
            found = services.cancellations.get(request_id)
        except CancellationRefused:
            abort(404, description=f"No cancellation request {request_id}.")
        payment = services.payments_store.get(found.payment_id)
        return render_template(
            "ops/cancellation.html", req=found, payment=payment, tz=settings.digit_timezone
        )

    @bp.post("/payments/<payment_id>/cancellation")
    @operator_only
    def request_cancellation(payment_id: str) -> BaseResponse:
        action = Action.DISHONOUR if request.form.get("action") == "DISHONOUR" else Action.CANCEL
        try:
            made = services.cancellations.request_by_operator(
                operator=_operator(),
                payment_id=payment_id,
                reason=request.form.get("reason", ""),
                action=action,
            )
        except CancellationRefused as exc:
            refused("request_cancellation", exc, payment_id=payment_id, kind=action.value)
            flash(f"Cancellation refused ({exc.code}): {exc.message}", "error")
            return redirect(url_for("ops.payment", payment_id=payment_id))
        flash(f"{made.action} requested; another operator approves it.", "ok")
        return redirect(url_for("ops.cancellation", request_id=made.id))

    @bp.post("/cancellations/<request_id>/approve")
    @operator_only
    def approve_cancellation(request_id: str) -> BaseResponse:
        try:
            done = services.cancellations.approve(request_id, operator=_operator())
        except CancellationRefused as exc:
            refused(
                "approve_cancellation",
                exc,
                payment_id=payment_of(request_id),
                requestId=request_id,
            )
            flash(f"Not sent ({exc.code}): {exc.message}", "error")
        else:
            flash(f"DIGIT carried out the {done.action}; the dues are being followed.", "ok")
        return redirect(url_for("ops.cancellation", request_id=request_id))

    @bp.post("/cancellations/<request_id>/reject")
    @operator_only
    def reject_cancellation(request_id: str) -> BaseResponse:
        try:
            services.cancellations.reject(
                request_id, operator=_operator(), note=request.form.get("note", "")
            )
        except CancellationRefused as exc:
            refused(
                "reject_cancellation", exc, payment_id=payment_of(request_id), requestId=request_id
            )
            flash(f"Reject refused ({exc.code}): {exc.message}", "error")
        else:
            flash("Request rejected; nothing was sent to DIGIT.", "ok")
        return redirect(url_for("ops.cancellation", request_id=request_id))
