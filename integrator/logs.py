"""JSON logs, one object per line, with secrets redacted and mobile numbers masked.

    init_logging(level)          install the JSON handler on the root logger (idempotent)
    register_secret(value)       never log `value` (a password, a DIGIT token, a device key)
    redact(text)                 what the filter does to every string it sees
    request_id_var / job_id_var  context variables stamped on every record
    bind_job_id(job_id)          context manager the worker uses around a job
    init_request_id(app)         X-Request-ID middleware: take a safe incoming value or make one

Redaction happens in `RedactingFilter`, attached to the handler, so records from every logger (ours,
Flask's, gunicorn's, rq's) pass through it before `JsonFormatter` serialises them.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from flask import Flask, Response, g, request

from integrator import jsonutil
from integrator.masking import mask_mobile

REDACTED = "[REDACTED]"
REQUEST_ID_HEADER = "X-Request-ID"

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)

# --- redaction -------------------------------------------------------------------------------

_MIN_SECRET_LENGTH = 4  # shorter values would redact ordinary words; no real secret is that short
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secret_pattern: re.Pattern[str] | None = None

# "Bearer abc", "Basic dXNlcjpw": the credential after the scheme.
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
# key=value, key: value, "key": "value" for keys that carry credentials.
_SECRET_FIELD = re.compile(
    r"""(?ix)
    (["']?\b(?:auth[_-]?token|access[_-]?token|refresh[_-]?token|id[_-]?token|password|passwd
        |client[_-]?secret|authorization|x-device-key|device[_-]?key|api[_-]?key)\b["']?
     \s*[:=]\s*)
    (["']?)
    ([^"'\s,;&}\]]+)
    """
)
# A structured field (`extra=` key, or a dict key inside one) whose name says it holds a credential.
_SECRET_KEY = re.compile(
    r"""(?ix)^(?:auth[_-]?token|access[_-]?token|refresh[_-]?token|id[_-]?token|password|passwd
        |client[_-]?secret|authorization|x-device-key|device[_-]?key|api[_-]?key)$"""
)
# Indian mobile numbers: 10 digits starting 6-9, optionally after +91 / 0091 / 91 / 0, written
# whole or in two groups (98765 43210, 987654 3210).
_MOBILE = re.compile(
    r"(?<![\w])(?:(?:\+|00)?91[ -]?|0)?([6-9]\d{4}[ -]?\d{5}|[6-9]\d{5}[ -]?\d{4})(?!\d)"
)


def register_secret(value: str | None) -> None:
    """Redact `value` wherever it would appear in a log line from now on (this process)."""
    global _secret_pattern
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _secrets_lock:
        if value in _secrets:
            return
        _secrets.add(value)
        # longest first, so a secret containing another is redacted whole
        ordered = sorted(_secrets, key=len, reverse=True)
        _secret_pattern = re.compile("|".join(re.escape(s) for s in ordered))


# A mobileNumber query parameter (an access log's RAW_URI, a logged URL): its value is masked
# whatever it holds, since percent-encoding (%2B91..., %20) hides the number from _MOBILE.
_MOBILE_PARAM = re.compile(r"(?i)([?&;]mobile_?number=)([^&#\s\"']*)")


#: Any query parameter, for names written percent-encoded (`mobile%4Eumber`): werkzeug decodes
#: them, so the view reads a mobileNumber the plain pattern above does not see in the raw URI.
_QUERY_PARAM = re.compile(r"([?&;])([^=&#\s\"']+)=([^&#\s\"']*)")
_MOBILE_NAME = re.compile(r"(?i)mobile_?number")


def _mask_encoded_mobile_param(match: re.Match[str]) -> str:
    if _MOBILE_NAME.fullmatch(unquote_plus(match.group(2))) is None:
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}={_masked_value(match.group(3))}"


def _mask_mobile(match: re.Match[str]) -> str:
    return mask_mobile(re.sub(r"\D", "", match.group(1))) or ""


def _mask_mobile_param(match: re.Match[str]) -> str:
    return f"{match.group(1)}{_masked_value(match.group(2))}"


def _masked_value(value: str) -> str:
    """A mobile number parameter's value, masked: its last 4 digits; a value masked already is
    kept as it is, so a line redacted twice (a handler's filter after the sandbox's own
    request log) keeps its stars."""
    digits = re.sub(r"\D", "", unquote_plus(value))
    if "*" in value and len(digits) <= 4:
        return value
    return (mask_mobile(digits) or "") if len(digits) >= 4 else "*" * len(value)


# Every word the two patterns above can match contains one of these (lower case). Most lines (the
# access log's, once per request) contain none, and a substring test is far cheaper than running
# _SECRET_FIELD's alternation at every position of the line.
_AUTH_HINTS = ("bearer", "basic")
_FIELD_HINTS = ("token", "passw", "secret", "authorization", "device", "api")


def redact(text: str) -> str:
    """Remove registered secrets and credential-looking values; mask mobile numbers."""
    pattern = _secret_pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    lowered = text.lower()
    if any(hint in lowered for hint in _AUTH_HINTS):
        text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    if any(hint in lowered for hint in _FIELD_HINTS):
        text = _SECRET_FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    if "mobile" in lowered:
        text = _MOBILE_PARAM.sub(_mask_mobile_param, text)
    if "%" in text and "=" in text:
        text = _QUERY_PARAM.sub(_mask_encoded_mobile_param, text)
    return _MOBILE.sub(_mask_mobile, text)


def redact_value(value: Any) -> Any:
    """`value` with every string in it redacted (`redact`), and fields named like credentials
    replaced whole: for a structure shown outside the logs (CLI output)."""
    return _redact_value(value)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_field(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v) for v in value]
    return value


def _redact_field(key: Any, value: Any) -> Any:
    """A field named like a credential is redacted whole; any other is redacted by content."""
    if isinstance(key, str) and _SECRET_KEY.match(key) and value not in (None, ""):
        return REDACTED
    return _redact_value(value)


# Attributes every LogRecord has; anything else was passed with `extra=` and is logged as a field.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "request_id", "job_id", "taskName"}
)


class RedactingFilter(logging.Filter):
    """Rewrites a record so that nothing secret reaches any formatter (attach it to handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None  # the redacted exc_text is what gets logged
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, _redact_field(key, value))
        return True


class ContextFilter(logging.Filter):
    """Stamps the current request id and job id on the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.job_id = job_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, job_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "job_id"):
            value = getattr(record, key, None)
            if value is None:
                value = (request_id_var if key == "request_id" else job_id_var).get()
            if value is not None:
                entry[key] = value
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        try:
            return jsonutil.dumps(entry)
        except (TypeError, ValueError):
            return jsonutil.dumps({k: v if _plain(v) else repr(v) for k, v in entry.items()})


def _plain(value: Any) -> bool:
    try:
        jsonutil.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def make_handler(stream: Any = None) -> logging.Handler:
    """A stream handler writing redacted JSON lines (the current stderr by default)."""
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    handler.set_name("integrator-json")
    return handler


def init_logging(level: str = "INFO", *, stream: Any = None) -> logging.Handler:
    """Install the JSON handler on the root logger, replacing one installed before."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "integrator-json":
            root.removeHandler(old)
    handler = make_handler(stream)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


@contextmanager
def bind_job_id(job_id: str | None) -> Iterator[None]:
    """Stamp `job_id` on every record logged inside the block."""
    token = job_id_var.set(job_id)
    try:
        yield
    finally:
        job_id_var.reset(token)


# --- X-Request-ID ----------------------------------------------------------------------------

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def safe_request_id(incoming: str | None) -> str:
    """The caller's id if it is short and plain (no spaces, no markup), else a fresh one."""
    if incoming and _SAFE_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


def init_request_id(app: Flask) -> None:
    """Take or make a request id, put it on every log record, echo it on the response."""

    @app.before_request
    def _take_request_id() -> None:
        request_id = safe_request_id(request.headers.get(REQUEST_ID_HEADER))
        g.request_id = request_id
        g.request_id_token = request_id_var.set(request_id)

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response

    @app.teardown_request
    def _forget_request_id(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            try:
                request_id_var.reset(token)
            except ValueError:  # set in another context (should not happen); just clear
                request_id_var.set(None)
