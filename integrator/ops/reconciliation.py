"""The ops console's reconciliation page: what reconciliation could not explain, each with the
DIGIT payment's details, acknowledged by an operator with a note.

    register_reconciliation_views(bp, flags, operator_only=..., operator_name=...)
        adds GET /ops/reconciliation (the list; `?all=1` also the acknowledged ones),
        POST /ops/reconciliation/<flag_id>/ack (operators only) and, for every page, the
        template global `reconciliation_unacknowledged()` (the dashboard's count)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from integrator.payments.flags import FlagRefused, Flags

log = logging.getLogger("integrator.ops")


def register_reconciliation_views(
    bp: Blueprint,
    flags: Flags,
    *,
    operator_only: Callable[[Any], Any],
    operator_name: Callable[[], str],
    timezone: Any,
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

    @bp.get("/reconciliation")
    def reconciliation() -> str:
        show_all = request.args.get("all") in ("1", "true", "yes")
        items = flags.list(unacknowledged_only=not show_all)
        items.sort(key=lambda i: i.acknowledged)
        return render_template(
            "ops/reconciliation.html", items=items, show_all=show_all, tz=timezone
        )

    def acknowledge(flag_id: str) -> BaseResponse:
        try:
            done = flags.acknowledge(
                flag_id, operator=operator_name(), note=request.form.get("note", "")
            )
        except FlagRefused as exc:
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
