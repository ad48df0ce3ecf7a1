"""`create_sandbox_app(config)`: the DIGIT sandbox as a Flask app (a table of contents)."""

from __future__ import annotations

import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from integrator.sandbox import admin, auth, billing, mdms, payments_api
from integrator.sandbox.errors import SandboxError
from integrator.sandbox.gateway import init_gateway
from integrator.sandbox.http import json_response
from integrator.sandbox.world import SandboxConfig, World

log = logging.getLogger(__name__)


def create_sandbox_app(config: SandboxConfig | None = None) -> Flask:
    """A fresh world and every DIGIT endpoint the integrator uses, plus `/_sandbox/` controls."""
    world = World(config or SandboxConfig())
    app = Flask("integrator.sandbox")
    app.extensions["sandbox_world"] = world
    init_gateway(app, world)
    app.register_blueprint(auth.create_blueprint(world))
    app.register_blueprint(billing.create_blueprint(world))
    app.register_blueprint(mdms.create_blueprint(world))
    app.register_blueprint(payments_api.create_blueprint(world))
    app.register_blueprint(admin.create_blueprint(world))
    register_error_handlers(app)
    return app


def world_of(app: Flask) -> World:
    world = app.extensions["sandbox_world"]
    assert isinstance(world, World)
    return world


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(SandboxError)
    def sandbox_error(error: SandboxError) -> Response:
        return json_response(error.body, error.status)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        code = error.code or 500
        body = {
            "ResponseInfo": None,
            "Errors": [
                {
                    "code": type(error).__name__,
                    "message": error.description or error.name,
                    "description": None,
                    "params": None,
                }
            ],
        }
        return json_response(body, code)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:  # tracer: any exception becomes a 400
        log.exception("sandbox handler failed")
        body = {
            "ResponseInfo": None,
            "Errors": [
                {
                    "code": type(error).__name__,
                    "message": "An unhandled exception occurred on the server",
                    "description": None,
                    "params": None,
                }
            ],
        }
        return json_response(body, 400)
