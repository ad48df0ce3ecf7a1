"""gunicorn settings for the web app: `gunicorn -c config/gunicorn.conf.py integrator.wsgi:app`.

Port, workers and connections come from the integrator's Settings (PORT, WEB_WORKERS,
WEB_WORKER_CLASS, WEB_CONNECTIONS, WEB_THREADS), so the environment is still read in one place.
Logs are JSON lines through integrator.logs, with the same redaction as the app (the access log's
query strings can carry mobile numbers).

Why gevent (docs/performance.md has the measurements): almost all of a request's time is spent
waiting for DIGIT (hundreds of ms). A sync or gthread worker holds a slot (a process or an OS
thread) for that whole wait; with gevent each request is a greenlet, so one process per core
waits on hundreds of DIGIT calls at once for a few kB each. gunicorn's gevent worker monkey-patches
the standard library *before* it imports the app (no preload_app), so `requests`/urllib3 sockets,
redis-py and the ThreadPoolExecutors (DigitClient.bills_for_mobile, PaymentService's inline
registration) all become cooperative: their "threads" are greenlets. The DIGIT connection pool
(DIGIT_POOL_SIZE, default 200) must stay >= the connections a worker serves at once, or requests
queue for a pooled connection; WEB_CONNECTIONS caps those per worker.
"""

import os
import secrets
from typing import Any

from integrator.settings import Settings

_settings = Settings.from_env()

# Sandbox mode without SECRET_KEY: a random session key per start, made here in the master before
# it forks, so every worker of this start signs ops console sessions with it (they inherit the
# environment) and a restart ends the previous start's sessions.
if _settings.sandbox_mode and not _settings.secret_key:
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(32)

# loopback by default (make run, a host behind nginx); BIND=0.0.0.0 to listen on every address
bind = (
    f"[{_settings.bind}]:{_settings.port}"
    if ":" in _settings.bind
    else f"{_settings.bind}:{_settings.port}"
)
workers = _settings.web_workers
# gevent (default): one greenlet per request, WEB_CONNECTIONS of them per worker process.
# gthread stays available (WEB_WORKER_CLASS=gthread, WEB_THREADS threads) for debugging.
worker_class = _settings.web_worker_class
worker_connections = _settings.web_connections
threads = _settings.web_threads
# a request may wait REGISTRATION_BUDGET_SECONDS for DIGIT, plus a DIGIT read; stay well above that
timeout = int(max(60.0, _settings.registration_budget_seconds + _settings.digit_read_timeout + 15))
graceful_timeout = 30
# devices and nginx reuse connections; a little longer than nginx's upstream keepalive_timeout
keepalive = 75
# a burst of PoS devices connecting at once must queue in the kernel, not be refused
backlog = 2048
max_requests = 0
forwarded_allow_ips = "127.0.0.1"
# gunicorn 27's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl), which
# two instances on one machine (tests, make run) would fight over; nothing here uses it.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
loglevel = _settings.log_level.lower()
# The access line is formatted by integrator.access_log.AccessLogger (cheaper than gunicorn's
# atoms); access_log_format is not used.
logger_class = "integrator.access_log.AccessLogger"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "integrator.logs.ContextFilter"},
        "redact": {"()": "integrator.logs.RedactingFilter"},
    },
    "formatters": {"json": {"()": "integrator.logs.JsonFormatter"}},
    "handlers": {
        "json": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "json",
            "filters": ["context", "redact"],
        }
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["json"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["json"], "level": "INFO", "propagate": False},
    },
    "root": {"level": "INFO", "handlers": []},
}


def worker_exit(server: Any, worker: Any) -> None:
    """Close the worker's ledger pools and Redis connections while gevent's hub still runs.
    Left to psycopg_pool's `__del__` at interpreter exit, the join of the pool's threads
    (greenlets here) fails with "RuntimeError: greenlet is being finalized" tracebacks, one per
    pool and worker, on every stop (Ctrl-C of `make run`)."""
    from integrator.services import EXTENSION_KEY

    extensions = getattr(getattr(worker, "wsgi", None), "extensions", None) or {}
    services = extensions.get(EXTENSION_KEY)
    if services is not None:
        services.close()
