"""The sandbox's lean mode: DIGIT's read answers precomputed, served by a small asyncio server.

For benchmarks only (`integrator sandbox --lean --latency-ms 200`). The full sandbox
(`integrator.sandbox.app`) runs on werkzeug's threaded server and works out every answer under one
lock: at a few hundred requests per second it, not the integrator, would be what is measured. Here:

* `_fetchbill`, bill `_search` and MDMS `_search` are answered from bytes computed once per
  distinct request by the full sandbox app (in-process, on first use), then replayed;
* `/user/oauth/token` goes to the full app every time (so logins are real and counted);
* `payments/_create` and `payments/{module}/_search` keep a minimal ledger of their own (one
  payment per bill; any bill id is accepted, so a benchmark can register thousands of payments);
* the added latency is a non-blocking `asyncio.sleep`, so 1,000 requests can wait at once;
* `/_sandbox/` keeps the admin endpoints a benchmark needs: health, counters, faults
  (`latency_ms`, `down`), payments, reset.

Tokens are not checked and bills never change: never use this mode for functional tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import Flask

from integrator import jsonutil
from integrator.sandbox.app import create_sandbox_app
from integrator.sandbox.gateway import counter_name
from integrator.sandbox.world import SandboxConfig

LOGIN_PATH = "/user/oauth/token"
FETCH_PATH = "/billing-service/bill/v2/_fetchbill"
BILL_SEARCH_PATH = "/billing-service/bill/v2/_search"
MDMS_PATH = "/egov-mdms-service/v1/_search"
CREATE_PATH = "/collection-services/payments/_create"
PAYMENTS_PREFIX = "/collection-services/payments/"
#: Read-only DIGIT paths whose answers are computed once per distinct request and replayed.
CACHED_PATHS = frozenset({FETCH_PATH, BILL_SEARCH_PATH, MDMS_PATH})
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024

_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    404: "Not Found",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_UNREACHABLE = jsonutil.dumps(
    {
        "ResponseInfo": None,
        "Errors": [
            {
                "code": "ResourceAccessException",
                "message": "The backend service is unreachable",
                "description": "The backend service is unreachable",
                "params": None,
            }
        ],
    }
).encode()


def http_response(
    status: int, body: bytes, *, keep_alive: bool = True, content_type: bytes = b"application/json"
) -> bytes:
    """One HTTP/1.1 response, headers and body, ready to write."""
    head = (
        (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\nContent-Length: {len(body)}\r\n"
        ).encode()
        + b"Content-Type: "
        + content_type
        + b"\r\n"
    )
    if not keep_alive:
        head += b"Connection: close\r\n"
    return head + b"\r\n" + body


class Ledger:
    """Payments created in lean mode: one per bill id, receipts numbered in order."""

    def __init__(self) -> None:
        self.payments: list[dict[str, Any]] = []
        self.by_bill: dict[str, dict[str, Any]] = {}
        self._numbers = itertools.count(1)

    def create(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        request = body.get("Payment")
        if not isinstance(request, Mapping):
            return 400, _errors("INVALID_PAYMENT", "Payment is missing")
        details_in = request.get("paymentDetails") or []
        for detail in details_in:
            if str(detail.get("billId")) in self.by_bill:
                return 400, _errors("BILL_ALREADY_PAID", f"bill {detail.get('billId')} is paid")
        now_ms = int(time.time() * 1000)
        payment_id = str(uuid.uuid4())
        details = []
        for detail in details_in:
            number = next(self._numbers)
            bill_id = str(detail.get("billId"))
            details.append(
                {
                    "id": str(uuid.uuid4()),
                    "tenantId": request.get("tenantId"),
                    "paymentId": payment_id,
                    "billId": bill_id,
                    "businessService": detail.get("businessService"),
                    "totalDue": detail.get("totalDue", detail.get("totalAmountPaid")),
                    "totalAmountPaid": detail.get("totalAmountPaid"),
                    "receiptNumber": f"LEAN/{number:08d}",
                    "receiptDate": now_ms,
                    "receiptType": "BILLBASED",
                    "bill": {
                        "id": bill_id,
                        "businessService": detail.get("businessService"),
                        "consumerCode": detail.get("consumerCode") or f"LEAN-{bill_id}",
                        "billNumber": f"LEANBILL-{number:08d}",
                        "billDetails": [],
                    },
                }
            )
        payment = {
            "id": payment_id,
            "tenantId": request.get("tenantId"),
            "totalDue": request.get("totalDue"),
            "totalAmountPaid": request.get("totalAmountPaid"),
            "transactionNumber": request.get("transactionNumber") or payment_id,
            "transactionDate": now_ms,
            "paymentMode": request.get("paymentMode"),
            "paidBy": request.get("paidBy"),
            "payerName": request.get("payerName"),
            "mobileNumber": request.get("mobileNumber"),
            "paymentStatus": "NEW",
            "instrumentStatus": "APPROVED",
            "additionalDetails": request.get("additionalDetails") or {},
            "paymentDetails": details,
        }
        self.payments.append(payment)
        for detail in details:
            self.by_bill[detail["billId"]] = payment
        return 200, {"ResponseInfo": _response_info(body), "Payments": [payment]}

    def search(self, params: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any]:
        bill_ids = [b for b in params.get("billIds", "").split(",") if b]
        found: dict[str, dict[str, Any]] = {}
        for bill_id in bill_ids:
            payment = self.by_bill.get(bill_id)
            if payment is not None:
                found[payment["id"]] = payment
        return {"ResponseInfo": _response_info(body), "Payments": list(found.values())}


def _errors(code: str, message: str) -> dict[str, Any]:
    return {
        "ResponseInfo": None,
        "Errors": [{"code": code, "message": message, "description": message, "params": None}],
    }


def _response_info(body: Mapping[str, Any]) -> dict[str, Any]:
    info = body.get("RequestInfo") if isinstance(body.get("RequestInfo"), Mapping) else {}
    assert isinstance(info, Mapping)
    return {
        "apiId": info.get("apiId"),
        "ver": info.get("ver"),
        "ts": info.get("ts"),
        "resMsgId": "uief87324",
        "msgId": info.get("msgId"),
        "status": "successful",
    }


class LeanSandbox:
    """The state and the request handling of the lean sandbox (no sockets: see `serve`)."""

    def __init__(self, *, latency_ms: int = 0, config: SandboxConfig | None = None) -> None:
        self.full: Flask = create_sandbox_app(config or SandboxConfig())
        self.client = self.full.test_client()
        self.latency_ms = latency_ms
        self.down = False
        self.counters: Counter[str] = Counter()
        self.cache: dict[tuple[str, str, bytes], tuple[int, bytes]] = {}
        self.ledger = Ledger()
        self._token = self._login_for_cache()

    def _login_for_cache(self) -> str:
        """A token of our own, for computing cached answers with the full app (not counted)."""
        from integrator.settings import SANDBOX_PASSWORD, SANDBOX_USERNAME

        answer = self.client.post(
            LOGIN_PATH,
            data={
                "grant_type": "password",
                "username": SANDBOX_USERNAME,
                "password": SANDBOX_PASSWORD,
                "tenantId": "pb.amritsar",
                "userType": "EMPLOYEE",
                "scope": "read",
            },
            headers={"Authorization": "Basic ZWdvdi11c2VyLWNsaWVudDo="},
        )
        token = answer.get_json()["access_token"]
        self.full.extensions["sandbox_world"].counters.clear()
        return str(token)

    # --- admin ---
    def reset(self) -> None:
        self.counters.clear()
        self.ledger = Ledger()
        self.down = False
        self.latency_ms = 0

    def faults(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "down": self.down,
            "error_rate": 0,
            "hang_seconds": 0,
            "timeout_after_commit": 0,
            "unknown_400_after_commit": 0,
        }

    def admin(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if path == "/_sandbox/health":
            return 200, b'{"status":"UP","mode":"lean"}'
        if path == "/_sandbox/counters":
            return 200, jsonutil.dumps(dict(self.counters)).encode()
        if path == "/_sandbox/faults":
            if method == "POST":
                data = jsonutil.loads(body) if body.strip() else {}
                if "latency_ms" in data:
                    self.latency_ms = max(int(data["latency_ms"]), 0)
                if "down" in data:
                    self.down = bool(data["down"])
            return 200, jsonutil.dumps(self.faults()).encode()
        if path == "/_sandbox/reset" and method == "POST":
            self.reset()
            return 200, b'{"status":"reset"}'
        if path == "/_sandbox/payments":
            return 200, jsonutil.dumps({"Payments": self.ledger.payments}).encode()
        if path == "/_sandbox/payments/count":
            return 200, jsonutil.dumps({"count": len(self.ledger.payments)}).encode()
        return 404, jsonutil.dumps(_errors("NotFound", f"no lean admin endpoint {path}")).encode()

    # --- DIGIT ---
    def digit(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, bytes]:
        """Count, then answer (after the latency the caller adds)."""
        split = urlsplit(target)
        path = split.path
        self.counters[counter_name(path)] += 1
        if self.down:
            return 502, _UNREACHABLE
        if path in CACHED_PATHS:
            key = (path, split.query, _without_token(body))
            cached = self.cache.get(key)
            if cached is None:
                cached = self._from_full(method, target, headers, body)
                if cached[0] < 500:
                    self.cache[key] = cached
            return cached
        if path == LOGIN_PATH:
            return self._from_full(method, target, headers, body)
        if path == CREATE_PATH:
            status, answer = self.ledger.create(jsonutil.loads(body))
            return status, jsonutil.dumps(answer).encode()
        if path.startswith(PAYMENTS_PREFIX) and path.endswith("/_search"):
            answer = self.ledger.search(dict(parse_qsl(split.query)), jsonutil.loads(body))
            return 200, jsonutil.dumps(answer).encode()
        return self._from_full(method, target, headers, body)

    def _from_full(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, bytes]:
        if body and headers.get("content-type", "").startswith("application/json"):
            data = jsonutil.loads(body)
            if isinstance(data, dict) and isinstance(data.get("RequestInfo"), dict):
                data["RequestInfo"]["authToken"] = self._token
                body = jsonutil.dumps(data).encode()
        passed = {k: v for k, v in headers.items() if k in {"content-type", "authorization"}}
        answer = self.client.open(target, method=method, data=body, headers=passed)
        return answer.status_code, answer.get_data()


def _without_token(body: bytes) -> bytes:
    """The request body minus what varies per call (token, message ids, timestamps)."""
    if not body.strip():
        return b""
    data = jsonutil.loads(body)
    if isinstance(data, dict):
        data.pop("RequestInfo", None)
    return jsonutil.dumps(data).encode()


async def _handle(
    sandbox: LeanSandbox, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            try:
                method, target, version = lines[0].split(" ", 2)
            except ValueError:
                return
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if length > MAX_BODY_BYTES:
                return
            body = await reader.readexactly(length) if length else b""
            keep_alive = headers.get("connection", "").lower() != "close" and version != "HTTP/1.0"
            if target.startswith("/_sandbox/"):
                status, payload = sandbox.admin(method, urlsplit(target).path, body)
            else:
                status, payload = sandbox.digit(method, target, headers, body)
                if sandbox.latency_ms > 0:
                    await asyncio.sleep(sandbox.latency_ms / 1000)
            writer.write(http_response(status, payload, keep_alive=keep_alive))
            await writer.drain()
            if not keep_alive:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def serve(
    host: str, port: int, sandbox: LeanSandbox, *, ready: asyncio.Event | None = None
) -> None:
    """Serve until SIGTERM/SIGINT (or cancellation)."""
    server = await asyncio.start_server(
        lambda r, w: _handle(sandbox, r, w),
        host,
        port,
        backlog=2048,
        limit=MAX_HEADER_BYTES,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()[1]
    print(f"DIGIT sandbox (lean) listening on http://{host}:{bound}", file=sys.stderr, flush=True)
    if ready is not None:
        ready.set()
    async with server:
        await stop.wait()


def run(*, host: str, port: int, latency_ms: int, config: SandboxConfig) -> int:
    """Run the lean sandbox in this process (blocks)."""
    sandbox = LeanSandbox(latency_ms=latency_ms, config=config)
    asyncio.run(serve(host, port, sandbox))
    return 0


__all__ = ["LeanSandbox", "Ledger", "http_response", "run", "serve"]
