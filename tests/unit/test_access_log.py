"""The access line integrator.access_log formats: gunicorn's line for our format, redacted."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from integrator.access_log import AccessLogger
from integrator.logs import make_handler

#: The format gunicorn was configured with before AccessLogger formatted the line itself.
GUNICORN_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s agent="%(a)s"'

ENVIRON = {
    "REMOTE_ADDR": "10.0.0.7",
    "REQUEST_METHOD": "GET",
    "RAW_URI": "/v1/bills?tenantId=pb.amritsar&mobileNumber=9876543210",
    "PATH_INFO": "/v1/bills",
    "QUERY_STRING": "tenantId=pb.amritsar&mobileNumber=9876543210",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "HTTP_USER_AGENT": "pos-fleet/2.1",
}


def _line(logger_class: type[Logger], resp: Any, environ: dict[str, str]) -> dict[str, Any]:
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", GUNICORN_FORMAT)
    logger = logger_class(cfg)
    stream = io.StringIO()
    logger.access_log.handlers = [make_handler(stream)]
    logger.access(resp, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=37))
    record: dict[str, Any] = json.loads(stream.getvalue())
    return record


def test_the_line_is_gunicorns_for_our_format_with_the_mobile_masked() -> None:
    resp = SimpleNamespace(
        status="200 OK",
        sent=1234,
        headers=[("Content-Type", "application/json"), ("X-Request-ID", "req-42")],
    )
    ours = _line(AccessLogger, resp, ENVIRON)
    assert ours["message"] == _line(Logger, resp, ENVIRON)["message"]
    assert ours["message"] == (
        '10.0.0.7 "GET /v1/bills?tenantId=pb.amritsar&mobileNumber=******3210 HTTP/1.1" 200 1234'
        ' 37ms request_id=req-42 agent="pos-fleet/2.1"'
    )
    assert ours["logger"] == "gunicorn.access"


def test_missing_fields_are_dashes_as_in_gunicorn() -> None:
    resp = SimpleNamespace(status="404 NOT FOUND", sent=None, headers=[])
    environ = {k: v for k, v in ENVIRON.items() if k not in ("HTTP_USER_AGENT", "REMOTE_ADDR")}
    ours = _line(AccessLogger, resp, environ)
    assert ours["message"] == _line(Logger, resp, environ)["message"]
    assert ' 404 - 37ms request_id=- agent="-"' in ours["message"]


@pytest.mark.parametrize(
    ("query", "logged"),
    [
        ("mobileNumber=%2B919876543210", "mobileNumber=********3210"),
        ("mobileNumber=%209876543210", "mobileNumber=******3210"),
        ("mobileNumber=98765%2043210", "mobileNumber=******3210"),
        ("mobileNumber=%39%38%37%36%35%34%33%32%31%30", "mobileNumber=******3210"),
        ("mobileNumber=+91+98765+43210", "mobileNumber=********3210"),
        ("MOBILENUMBER=9876543210&x=1", "MOBILENUMBER=******3210&x=1"),
        ("mobileNumber=abc", "mobileNumber=***"),
        ("mobileNumber=", "mobileNumber="),
        # the name percent-encoded: werkzeug decodes it, so the view reads a mobileNumber
        ("mobile%4Eumber=%2B919876543210", "mobile%4Eumber=********3210"),
        ("%6Dobile_number=9876543210", "%6Dobile_number=******3210"),
    ],
)
def test_a_mobile_number_parameter_is_masked_however_it_is_encoded(query: str, logged: str) -> None:
    resp = SimpleNamespace(status="200 OK", sent=10, headers=[])
    environ = {**ENVIRON, "RAW_URI": f"/v1/bills?tenantId=pb.amritsar&{query}"}

    message = _line(AccessLogger, resp, environ)["message"]

    assert f"/v1/bills?tenantId=pb.amritsar&{logged} HTTP/1.1" in message
    assert "43210" not in message and "9876" not in message
