"""The comparison point of `make bench` (2): a bare Flask + requests proxy.

One route, one upstream call, nothing else: no auth, no Redis, no parsing, no logging. It runs
under the same gunicorn model as the integrator (bench/bare_gunicorn.conf.py copies worker class,
workers, connections and keep-alive from config/gunicorn.conf.py), with a pooled session sized
like the integrator's (DIGIT_POOL_SIZE), so the ratio measures what the integrator's own work costs.

    BARE_UPSTREAM=http://127.0.0.1:8090 gunicorn -c bench/bare_gunicorn.conf.py bare_proxy:app
"""

from __future__ import annotations

import os

import requests
from flask import Flask, Response, request
from requests.adapters import HTTPAdapter

UPSTREAM = os.environ.get("BARE_UPSTREAM", "http://127.0.0.1:8090").rstrip("/")
POOL_SIZE = int(os.environ.get("DIGIT_POOL_SIZE", "200"))

app = Flask("bare_proxy")
_session = requests.Session()
_session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0))


@app.get("/v1/bills")
def bills() -> Response:
    upstream = _session.post(
        f"{UPSTREAM}/billing-service/bill/v2/_fetchbill",
        params={
            "tenantId": request.args.get("tenantId", ""),
            "businessService": request.args.get("businessService", ""),
            "consumerCode": request.args.get("consumerCode", ""),
        },
        json={"RequestInfo": {"apiId": "Rainmaker", "authToken": "bench"}},
        timeout=(3.05, 20),
    )
    return Response(
        upstream.content, status=200 if upstream.ok else 502, mimetype="application/json"
    )
