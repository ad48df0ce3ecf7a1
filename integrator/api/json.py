"""The app's one JSON provider: `integrator.jsonutil`, so money stays Decimal in and out.

Request bodies are parsed with every number as `Decimal` (NaN and Infinity refused); responses dump
`Decimal` as plain JSON numbers. Installed by `integrator.api.init_api`.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any, cast

import simplejson
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


class _Constant(str):
    """NaN, Infinity or -Infinity where a body had it (only to say where: never an amount)."""


_LOCATING_DECODER = simplejson.JSONDecoder(
    parse_float=Decimal, parse_int=Decimal, parse_constant=_Constant
)


def non_numbers(raw: str | bytes) -> list[tuple[str | None, str]]:
    """Where a body jsonutil refused for a NaN or an Infinity has one: (the member's path as
    `bills/0/amount`, None at the top level; the constant), in the body's order. Call it only
    after jsonutil.JSONNumberError: the body is otherwise valid JSON."""
    try:
        body = _LOCATING_DECODER.decode(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (ValueError, RecursionError):
        return []
    return [("/".join(path) or None, str(value)) for path, value in _constants(body, ())]


def _constants(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(value, _Constant):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _constants(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _constants(item, (*path, str(index)))


def init_app(app: Flask) -> None:
    """Make DecimalJSONProvider the app's JSON (request.get_json, jsonify)."""
    app.json_provider_class = DecimalJSONProvider
    app.json = DecimalJSONProvider(app)
