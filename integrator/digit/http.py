"""HTTP to DIGIT: the pooled session, timeouts, RequestInfo, and how an answer becomes an error.

The only module (with `integrator.digit.auth`'s use of it) that touches `requests`: every
`requests` (and urllib3) exception is caught here and turned into a `DigitUnavailable`. Logs carry
the endpoint, status, latency and error codes; never the token, the password, or a full mobile
number.

Every exchange has a wall-clock deadline (`DIGIT_CALL_DEADLINE_SECONDS`, or a caller's earlier
one) on top of the per-socket timeouts: connect and the wait for the answer's headers get at most
what is left of it, and the body is read in pieces with the socket timeout cut to what is left
before each piece, so an answer that trickles a byte at a time is cut at the deadline
(`DigitUnavailable`) instead of holding a lease or a request thread for ever. (A gateway that
trickles its *headers* is bounded per byte only: http.client reads them in one call.)
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import requests
import urllib3
from requests.adapters import HTTPAdapter

from integrator import jsonutil
from integrator.digit.errors import (
    INVALID_TOKEN_CODE,
    DigitErrorDetail,
    DigitForbidden,
    DigitOutcomeUnknown,
    DigitRejected,
    DigitUnavailable,
    is_refusal,
)
from integrator.digit.observer import NO_DIGIT_OBSERVER, DigitObserver
from integrator.settings import Settings

log = logging.getLogger("integrator.digit")

API_ID = "Rainmaker"  # what DIGIT's own UIs send (docs/digit.md#errors)
API_VERSION = ".01"

_sessions: dict[tuple[int, int, str | bool], requests.Session] = {}
_sessions_lock = threading.Lock()


def session_for(settings: Settings) -> requests.Session:
    """The process's pooled session to DIGIT (one per process: a forked child builds its own)."""
    key = (os.getpid(), settings.digit_pool_size, settings.digit_verify)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = build_session(settings)
            _sessions[key] = session
        return session


def build_session(settings: Settings) -> requests.Session:
    """A new session with a connection pool sized from settings and TLS verification on."""
    session = requests.Session()
    adapter = HTTPAdapter(
        pool_connections=4, pool_maxsize=max(1, settings.digit_pool_size), max_retries=0
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.verify = settings.digit_verify
    # Everything comes from Settings, nothing from the environment per call: requests would
    # otherwise look up proxy variables and .netrc on every request (about a millisecond each).
    session.trust_env = False
    if settings.digit_proxy_url:
        session.proxies = {"http": settings.digit_proxy_url, "https": settings.digit_proxy_url}
    return session


def request_info(auth_token: str | None, *, action: str = "") -> dict[str, Any]:
    """The one place a DIGIT RequestInfo is built (docs/digit.md#errors); the gateway adds
    userInfo."""
    info: dict[str, Any] = {
        "apiId": API_ID,
        "ver": API_VERSION,
        "ts": int(time.time() * 1000),
        "action": action,
        "msgId": f"{uuid.uuid4()}|en_IN",
    }
    if auth_token is not None:
        info["authToken"] = auth_token
    return info


class DeadlineExceeded(Exception):
    """Internal signal: the exchange's wall-clock deadline passed while reading the answer."""


#: Bytes asked for per read of an answer's body: small enough to check the deadline often.
BODY_READ_BYTES = 16 * 1024


class TokenRejected(Exception):
    """Internal signal: DIGIT refused the token (401 or InvalidAccessTokenException)."""


@dataclass(frozen=True)
class Answer:
    """A DIGIT answer: HTTP status and the body parsed with Decimal numbers (None if not JSON)."""

    status: int
    body: Any


def error_details(body: Any) -> tuple[DigitErrorDetail, ...]:
    """`Errors[]` of a DIGIT ErrorRes (empty if the body is not one)."""
    if not isinstance(body, Mapping):
        return ()
    errors = body.get("Errors") or body.get("errors")
    if not isinstance(errors, list):
        return ()
    details = []
    for entry in errors:
        if isinstance(entry, Mapping) and entry.get("code") is not None:
            details.append(
                DigitErrorDetail(
                    code=str(entry.get("code")),
                    message=str(entry.get("message") or ""),
                    description=str(entry.get("description") or ""),
                )
            )
    return tuple(details)


#: Endpoints whose successful calls are always logged at INFO: writes and logins.
LOGGED_ENDPOINTS = frozenset({"collection-services/payments/_create", "user/oauth/token"})


class Transport:
    """Sends requests to DIGIT with explicit (connect, read) timeouts and classifies answers."""

    def __init__(
        self,
        *,
        settings: Settings,
        session: requests.Session,
        observer: DigitObserver = NO_DIGIT_OBSERVER,
    ) -> None:
        self._settings = settings
        self._session = session
        self._observer = observer
        # Normalised once, as requests would on every call (IDNA host, quoting): each request's
        # URL is then this base, a quoted path and an urlencoded query (`_url`).
        base = requests.PreparedRequest()
        base.prepare_url(settings.digit_base_url.rstrip("/"), None)
        self.base_url = (base.url or "").rstrip("/")

    @property
    def timeout(self) -> tuple[float, float]:
        return (self._settings.digit_connect_timeout, self._settings.digit_read_timeout)

    def send(
        self,
        endpoint: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        auth: requests.auth.AuthBase | None = None,
        timeout: tuple[float, float] | None = None,
        deadline: float | None = None,
        method: str = "POST",
    ) -> Answer:
        """One HTTP exchange, done by `deadline` (time.monotonic()) or by the configured call
        deadline, whichever is first. Raises DigitUnavailable when there is no answer at all."""
        url = self._url(endpoint, params)
        headers = {"Accept": "application/json"}
        data: Any = None
        if json_body is not None:
            headers["Content-Type"] = "application/json;charset=UTF-8"
            data = jsonutil.dumps(json_body).encode("utf-8")
        elif form is not None:
            data = dict(form)
        started = time.monotonic()
        ends = started + self._settings.digit_call_deadline_seconds
        if deadline is not None:
            ends = min(ends, deadline)
        try:
            response = self._exchange(
                method,
                url,
                headers=headers,
                data=data,
                auth=auth,
                timeout=timeout or self.timeout,
                deadline=ends,
            )
        except (
            TimeoutError,
            requests.Timeout,
            urllib3.exceptions.TimeoutError,
            DeadlineExceeded,
        ) as exc:
            self._observer.digit_call(endpoint, "timeout", time.monotonic() - started, ())
            log.warning(
                "digit %s: timeout after %.0f ms (%s)",
                endpoint,
                (time.monotonic() - started) * 1000,
                type(exc).__name__,
            )
            raise DigitUnavailable(
                f"DIGIT timed out ({type(exc).__name__})", endpoint=endpoint
            ) from exc
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            self._observer.digit_call(endpoint, "unreachable", time.monotonic() - started, ())
            log.warning("digit %s: no answer (%s)", endpoint, type(exc).__name__)
            raise DigitUnavailable(
                f"DIGIT is unreachable ({type(exc).__name__})", endpoint=endpoint
            ) from exc
        latency_ms = (time.monotonic() - started) * 1000
        body: Any
        try:
            body = jsonutil.loads(response.content) if response.content else None
        except ValueError:
            body = None
        codes = [d.code for d in error_details(body)]
        self._observer.digit_call(endpoint, str(response.status_code), latency_ms / 1000, codes)
        # Every call is counted and timed in /metrics; the log keeps what someone may need to
        # read later (writes, refusals, errors) and leaves plain successful reads to DEBUG.
        quiet = (
            method == "POST"
            and 200 <= response.status_code < 300
            and not codes
            and (endpoint not in LOGGED_ENDPOINTS)
        )
        log.log(
            logging.DEBUG if quiet else logging.INFO,
            "digit %s: %s in %.0f ms%s",
            endpoint,
            response.status_code,
            latency_ms,
            f" codes={codes}" if codes else "",
        )
        return Answer(status=response.status_code, body=body)

    def _url(self, endpoint: str, params: Mapping[str, str] | None) -> str:
        url = f"{self.base_url}/{quote(endpoint.lstrip('/'), safe='/')}"
        return f"{url}?{urlencode(params)}" if params else url

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        data: Any,
        auth: requests.auth.AuthBase | None,
        timeout: tuple[float, float],
        deadline: float,
    ) -> requests.Response:
        """One request through the session's adapter, without `Session.send`'s per-call work.

        DIGIT needs none of what `Session.request`/`send` add on every call (environment and
        .netrc lookups, cookie jars, redirects): it costs more CPU than the exchange itself under
        load. What remains is requests' own: a PreparedRequest (the URL built by `_url` from the
        base normalised once), the mounted adapter and its pool, and the response hooks. The
        body is read here, within `deadline` (`_read_body`).
        """
        left = _left(deadline)
        prepared = requests.PreparedRequest()
        prepared.prepare_method(method)
        prepared.url = url
        prepared.prepare_headers(headers)
        prepared.prepare_body(data, None)
        prepared.prepare_auth(auth, url)
        prepared.prepare_hooks(self._session.hooks)  # the session's response hooks still run
        response = self._session.get_adapter(url).send(
            prepared,
            stream=True,
            timeout=(min(timeout[0], left), min(timeout[1], left)),
            verify=self._settings.digit_verify,
            proxies=self._session.proxies,
        )
        if response.raw is not None:  # None: an adapter that read the body itself
            try:
                response._content = _read_body(
                    response.raw, read_timeout=timeout[1], deadline=deadline
                )
                response._content_consumed = True  # type: ignore[attr-defined]
            except BaseException:
                response.close()  # a half-read connection must not go back to the pool
                raise
            response.raw.release_conn()
        hooked: requests.Response = requests.hooks.dispatch_hook(  # type: ignore[no-untyped-call]
            "response", prepared.hooks, response
        )
        return hooked


def _left(deadline: float) -> float:
    """Seconds left before `deadline`; raises DeadlineExceeded when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded()
    return left


def _read_body(raw: Any, *, read_timeout: float, deadline: float) -> bytes:
    """The whole body of `raw` (a urllib3 response), read piece by piece: before each piece the
    socket's timeout is cut to what is left of the deadline, and after it the deadline is
    checked, so neither a stalled nor a trickling answer outlasts it."""
    connection = getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    pieces: list[bytes] = []
    try:
        while True:
            left = _left(deadline)
            if sock is not None:
                sock.settimeout(min(read_timeout, left))
            piece = raw.read1(BODY_READ_BYTES, decode_content=True)
            if not piece:
                return b"".join(pieces)
            pieces.append(piece)
    finally:
        if sock is not None and sock.fileno() != -1:
            sock.settimeout(read_timeout)


def rbac_tenants(payload: Any, params: Mapping[str, str] | None) -> tuple[str, ...]:
    """The tenants DIGIT's gateway checks our roles against (docs/digit.md#roles): every
    `tenantId` value anywhere in the JSON body except RequestInfo, else the `tenantId` query
    parameter (comma-split). Empty means "the caller's own tenant"."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if key in ("RequestInfo", "requestInfo"):
                    continue
                if key == "tenantId":
                    items = item if isinstance(item, list) else [item]
                    found.extend(str(t) for t in items if isinstance(t, str) and t != "null")
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(payload)
    if not found and params and params.get("tenantId"):
        found = [t for t in params["tenantId"].split(",") if t]
    return tuple(dict.fromkeys(found))


def check(
    endpoint: str, answer: Answer, *, write: bool = False, tenants: tuple[str, ...] = ()
) -> Any:
    """The body of a successful answer, or the error this answer means (docs/digit.md#errors).

    Raises `TokenRejected` for 401 / InvalidAccessTokenException (the caller re-logs in and
    retries once), `DigitForbidden` for 403 (naming `tenants`, the tenants the gateway checked
    our roles against), `DigitUnavailable` for 429/5xx/other statuses, `DigitRejected` for a 400
    that is a refusal (`errors.is_refusal`), `DigitOutcomeUnknown` for any other 400 (and for a
    success that is not JSON on a write).
    """
    status, body = answer.status, answer.body
    details = error_details(body)
    codes = [d.code for d in details]
    if status == 401 or INVALID_TOKEN_CODE in codes:
        raise TokenRejected(endpoint)
    if 200 <= status < 300:
        if not isinstance(body, Mapping):
            cls = DigitOutcomeUnknown if write else DigitUnavailable
            raise cls(
                "DIGIT answered with a body that is not a JSON object",
                endpoint=endpoint,
                status=status,
            )
        return body
    if status == 403:
        raise DigitForbidden(
            "DIGIT refused our account this endpoint (RBAC)",
            tenants=tenants,
            endpoint=endpoint,
            status=status,
            errors=details,
        )
    if status == 400:
        if is_refusal(details):
            raise DigitRejected(
                "DIGIT refused the request", endpoint=endpoint, status=status, errors=details
            )
        raise DigitOutcomeUnknown(
            "DIGIT failed with an error that is not a refusal",
            endpoint=endpoint,
            status=status,
            errors=details,
        )
    # 429, 5xx (the gateway's 502 included) and anything unexpected (404, 405...): no usable
    # answer, and nothing was accepted.
    raise DigitUnavailable(
        f"DIGIT answered HTTP {status}", endpoint=endpoint, status=status, errors=details
    )
