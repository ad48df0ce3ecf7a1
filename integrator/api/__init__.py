"""The HTTP edge: the PoS API (/v1), its OpenAPI document and docs page, and the one error mapper.

    init_api(app, dependencies=ApiDependencies(...))     called once by create_app

reads as the edge's policy: who may call what is attached where each blueprint is registered.

    pos.py        the /v1 views: load with a request schema, call one use case, answer a view
    reports.py    /v1/reports/settlement (its own blueprint, same device-key policy)
    access.py     inbound auth: device key, tenant scope, rate limit
    context.py    the collaborators create_app hands in (use cases, clock, time zone)
    schemas/      fields (rules), requests (what views load), responses (what views answer)
    wire.py       how times and amounts are written in every answer
    problems.py   the error catalogue: every code, its status, meaning and remedy
    errors.py     the one mapper from exceptions to problem+json
    modes.py      what each payment mode requires (the domain's table, for the documents)
    openapi.py    /openapi.json and /docs, rendered from all of the above; examples.py
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask

from integrator.api import errors, json
from integrator.api.access import require_device
from integrator.api.context import ApiDependencies, install
from integrator.api.guards import refuse_impossible_ids, refuse_unknown_parameters
from integrator.api.offline import init_offline
from integrator.api.openapi import docs_bp
from integrator.api.pos import pos_bp

__all__ = ["ApiDependencies", "init_api"]


def init_api(app: Flask, *, dependencies: ApiDependencies) -> None:
    """Register the JSON provider, the error mapper and the blueprints with their auth policy."""
    install(app, dependencies)
    app.config["MAX_CONTENT_LENGTH"] = dependencies.max_body_bytes
    json.init_app(app)
    errors.init_app(app)
    init_offline(app)  # its routes are on pos_bp: batch upload, device limits and cash
    app.register_blueprint(pos_bp, url_prefix="/v1")
    device_policy(app, pos_bp)  # PoS devices and aggregators: device key
    app.register_blueprint(docs_bp)  # /openapi.json and /docs: public


def device_policy(app: Flask, blueprint: Blueprint) -> None:
    """The policy of every device blueprint: the device key and its rate, then the request's
    form checks every view needs (`guards`)."""
    before_blueprint(app, blueprint, require_device)
    before_blueprint(app, blueprint, refuse_impossible_ids)
    before_blueprint(app, blueprint, refuse_unknown_parameters)


def before_blueprint(app: Flask, blueprint: Blueprint, check: Callable[[], None]) -> None:
    """`blueprint.before_request(check)` for this app only (blueprints are module-level, and one
    process may build several apps: tests do)."""
    app.before_request_funcs.setdefault(blueprint.name, []).append(check)
