"""gunicorn's access log line, built from the fields we log instead of gunicorn's atoms.

gunicorn's `Logger.access` builds a dict of every request header, response header and environ
variable for each request, then formats `access_log_format` from it: a few dozen microseconds per
request that show up in the web process's profile under load. `AccessLogger` (gunicorn's
`logger_class` in config/gunicorn.conf.py) formats the same line from the six fields it uses:

    127.0.0.1 "GET /v1/bills?... HTTP/1.1" 200 1234 3ms request_id=... agent="..."

The line goes to the "gunicorn.access" logger as before, so integrator.logs' filters still redact
it (query strings can carry mobile numbers) and JsonFormatter still writes one JSON object.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

from integrator.logs import REQUEST_ID_HEADER

_REQUEST_ID = REQUEST_ID_HEADER.lower()


class AccessLogger(Logger):  # type: ignore[misc]  # gunicorn ships no type hints
    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        request_id = next(
            (value for name, value in resp.headers if name.lower() == _REQUEST_ID), "-"
        )
        sent = getattr(resp, "sent", None)
        self.access_log.info(
            '%s "%s %s %s" %s %s %dms request_id=%s agent="%s"',
            environ.get("REMOTE_ADDR", "-"),
            environ.get("REQUEST_METHOD", "-"),
            environ.get("RAW_URI", "-"),
            environ.get("SERVER_PROTOCOL", "-"),
            status,
            sent if sent is not None else "-",
            request_time.seconds * 1000 + request_time.microseconds // 1000,
            request_id,
            environ.get("HTTP_USER_AGENT", "-"),
        )
