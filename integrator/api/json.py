"""The app's one JSON provider: `integrator.jsonutil`, so money stays Decimal in and out.

Request bodies are parsed with every number as `Decimal` (NaN and Infinity refused); responses dump
`Decimal` as plain JSON numbers. Installed by `integrator.api.init_api`.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Flask, Response
from flask.json.provider import JSONProvider

from integrator import jsonutil


class DecimalJSONProvider(JSONProvider):
    """Flask's JSON, backed by jsonutil (simplejson with use_decimal)."""

    mimetype = "application/json"

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return jsonutil.dumps(obj)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return jsonutil.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        response = self._app.response_class(self.dumps(obj), mimetype=self.mimetype)
        return cast(Response, response)


def init_app(app: Flask) -> None:
    """Make DecimalJSONProvider the app's JSON (request.get_json, jsonify)."""
    app.json_provider_class = DecimalJSONProvider
    app.json = DecimalJSONProvider(app)
