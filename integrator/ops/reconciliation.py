"""The ops console's reconciliation page: what reconciliation could not explain, each with the
DIGIT payment's details, acknowledged by an operator with a note.

    register_reconciliation_views(bp, flags, operator_only=..., operator_name=...)
        adds GET /ops/reconciliation (the list; `?all=1` also the acknowledged ones, `?kind=`
        one kind), GET /ops/reconciliation.json (the same list for scripts, behind the same
        sign-in), POST /ops/reconciliation/<flag_id>/ack (operators only; a refused one is
        recorded in the operator audit, as a refused retry is) and, for every page, the
        template global `reconciliation_unacknowledged()` (the dashboard's count)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from integrator import jsonutil
from integrator.ops.desk import OperatorDesk
from integrator.payments.flags import FlagItem, FlagRefused, Flags

log = logging.getLogger("integrator.ops")


def register_reconciliation_views(
    bp: Blueprint,
    flags: Flags,
    *,
    operator_only: Callable[[Any], Any],
    operator_name: Callable[[], str],
    timezone: Any,
    desk: OperatorDesk,
) -> None:
    @bp.context_processor
    def reconciliation_globals() -> dict[str, Any]:
        def unacknowledged() -> int | None:
            try:
                return flags.unacknowledged()
            except Exception:  # a count on a page never breaks the page
                log.exception("could not count unacknowledged reconciliation flags")
                return None

        return {"reconciliation_unacknowledged": unacknowledged}

    def listed() -> tuple[list[FlagItem], bool, str]:
        show_all = request.args.get("all") in ("1", "true", "yes")
        kind = (request.args.get("kind") or "").strip().upper()
        items = flags.list(unacknowledged_only=not show_all)
        if kind:
            items = [i for i in items if i.kind == kind]
        items.sort(key=lambda i: i.acknowledged)
        return items, show_all, kind

    @bp.get("/reconciliation")
    def reconciliation() -> str:
        items, show_all, kind = listed()
        return render_template(
            "ops/reconciliation.html", items=items, show_all=show_all, kind=kind, tz=timezone
        )

    @bp.get("/reconciliation.json")
    def reconciliation_json() -> Response:
        items, _show_all, _kind = listed()
        body = {"flags": [_as_json(i) for i in items], "unacknowledged": flags.unacknowledged()}
        return Response(jsonutil.dumps(body), mimetype="application/json")

    def acknowledge(flag_id: str) -> BaseResponse:
        try:
            done = flags.acknowledge(
                flag_id, operator=operator_name(), note=request.form.get("note", "")
            )
        except FlagRefused as exc:
            desk.refused(
                operator_name(),
                "reconciliation_ack",
                payment_id=None,  # the flag may be gone or name no ledger payment: kept in detail
                code=exc.code,
                message=exc.message,
                detail={"flagId": flag_id},
            )
            flash(f"Acknowledgement refused ({exc.code}): {exc.message}", "error")
        else:
            log.info(
                "reconciliation flag acknowledged",
                extra={"flag_id": done.id, "kind": done.kind, "user": done.acknowledged_by},
            )
            flash(f"Flag {done.id} ({done.kind}) acknowledged.", "ok")
        return redirect(url_for("ops.reconciliation"))

    bp.add_url_rule(
        "/reconciliation/<flag_id>/ack",
        endpoint="reconciliation_ack",
        view_func=operator_only(acknowledge),
        methods=["POST"],
    )


def _as_json(item: FlagItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "source": item.source,
        "kind": item.kind,
        "paymentId": item.payment_id,
        "digitPaymentId": item.digit_payment_id,
        "tenantId": item.tenant_id,
        "businessService": item.business_service,
        "digitStatus": item.digit_status,
        "ledgerStatus": item.ledger_status,
        "amount": item.amount,
        "receiptNumbers": list(item.receipt_numbers),
        "billIds": list(item.bill_ids),
        "transactionDate": item.transaction_date,
        "why": item.why,
        "foundAt": item.found_at,
        "acknowledgedAt": item.acknowledged_at,
        "acknowledgedBy": item.acknowledged_by,
        "note": item.ack_note,
        "detail": item.detail,
    }
