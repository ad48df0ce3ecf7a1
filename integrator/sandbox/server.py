"""`main(argv)`: run the sandbox on werkzeug's threaded server; stop cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from integrator.logs import redact
from integrator.sandbox.app import create_sandbox_app
from integrator.sandbox.seed import seed_listing
from integrator.sandbox.world import (
    ACCESS_TOKEN_SECONDS,
    MDMS_SEMANTICS,
    UNLOCK_COOL_DOWN_MINUTES,
    SandboxConfig,
)


class MaskedRequestLog(WSGIRequestHandler):
    """werkzeug's request log line with mobile numbers masked (`_fetchbill?mobileNumber=...`,
    user searches), as in the integrator's own logs: `make run` prints it among them."""

    def log(self, type: str, message: str, *args: Any) -> None:
        super().log(type, "%s", redact(message % args if args else message))


def make_sandbox_server(host: str, port: int, app: Flask) -> BaseWSGIServer:
    """The sandbox's threaded werkzeug server, its request log masked."""
    return make_server(host, port, app, threaded=True, request_handler=MaskedRequestLog)


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="integrator sandbox",
        description=(
            "Run the DIGIT sandbox (auth, gateway RBAC, billing, collection, MDMS) as the DIGIT "
            "digest describes it. Admin API under /_sandbox/ (see integrator.sandbox.admin)."
        ),
    )
    parser.add_argument("--port", type=int, default=8090, help="port to listen on (8090)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument(
        "--token-ttl",
        type=int,
        default=ACCESS_TOKEN_SECONDS,
        help="access token lifetime in seconds (7 days); refresh tokens live 14 days regardless",
    )
    parser.add_argument(
        "--unlock-cool-down",
        type=float,
        default=UNLOCK_COOL_DOWN_MINUTES,
        metavar="MINUTES",
        help="minutes after a lockout before a password login unlocks the account (60)",
    )
    parser.add_argument(
        "--refresh-token-linger",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="how long an expired refresh token stays stored (0: gone at expiry, 400 "
        "invalid_grant; meanwhile a refresh gets 401 invalid_token)",
    )
    parser.add_argument(
        "--mdms",
        choices=MDMS_SEMANTICS,
        default="v1",
        help="MDMS semantics for a city tenant: v1 state-level masters (default), v2 city wins",
    )
    parser.add_argument(
        "--gateway",
        choices=("zuul", "scg"),
        default="zuul",
        help="the API gateway's role check: zuul (denial 403, default) or scg (denial 401)",
    )
    parser.add_argument(
        "--search-ignore-status",
        default="",
        metavar="STATUSES",
        help="collection's search.ignore.status, comma-separated (empty: CANCELLED is returned)",
    )
    parser.add_argument(
        "--backupdate-lag",
        type=_positive,
        default=2.0,
        help="seconds before a payment reaches billing (2.0; must be > 0)",
    )
    parser.add_argument("--list", action="store_true", help="print the seed consumers and exit")
    parser.add_argument(
        "--extra-consumers",
        type=int,
        default=0,
        help="seed this many more consumers with dues (chaos runs; seed.extra_seed)",
    )
    parser.add_argument(
        "--lean",
        action="store_true",
        help="benchmark mode: precomputed answers on an asyncio server (integrator.sandbox.lean)",
    )
    parser.add_argument(
        "--latency-ms", type=int, default=0, help="added DIGIT latency in ms (faults.latency_ms)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        for row in seed_listing(args.extra_consumers):
            print(
                f"{row['tenantId']}\t{row['businessService']}\t{row['consumerCode']}"
                f"\t{row['mobileNumber']}\t{row['amountDue']}"
            )
        return 0
    config = SandboxConfig(
        token_ttl_seconds=args.token_ttl,
        backupdate_lag_seconds=args.backupdate_lag,
        extra_consumers=max(args.extra_consumers, 0),
        unlock_cool_down_minutes=max(args.unlock_cool_down, 0.0),
        refresh_token_linger_seconds=max(args.refresh_token_linger, 0.0),
        mdms_semantics=args.mdms,
        search_ignore_status=tuple(
            s.strip().upper() for s in args.search_ignore_status.split(",") if s.strip()
        ),
        gateway=args.gateway,
    )
    if args.lean:
        from integrator.sandbox import lean

        return lean.run(host=args.host, port=args.port, latency_ms=args.latency_ms, config=config)
    app = create_sandbox_app(config)
    if args.latency_ms:
        app.extensions["sandbox_world"].faults.latency_ms = args.latency_ms
    server = make_sandbox_server(args.host, args.port, app)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    print(f"DIGIT sandbox listening on http://{args.host}:{server.port}", file=sys.stderr)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
