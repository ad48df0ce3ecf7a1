"""gunicorn settings for the web app: `gunicorn -c config/gunicorn.conf.py integrator.wsgi:app`.

Port, workers and threads come from the integrator's Settings (PORT, WEB_WORKERS, WEB_THREADS), so
the environment is still read in one place. Logs are JSON lines through integrator.logs, with the
same redaction as the app (the access log's query strings can carry mobile numbers).
"""

from integrator.settings import Settings

_settings = Settings.from_env()

bind = f"0.0.0.0:{_settings.port}"
workers = _settings.web_workers
# gthread for now: a DIGIT call blocks a thread up to DIGIT_READ_TIMEOUT (a later issue tunes this)
worker_class = "gthread"
threads = _settings.web_threads
# a request may wait REGISTRATION_BUDGET_SECONDS for DIGIT, plus a DIGIT read; stay well above that
timeout = int(max(60.0, _settings.registration_budget_seconds + _settings.digit_read_timeout + 15))
graceful_timeout = 30
keepalive = 5
max_requests = 0
forwarded_allow_ips = "127.0.0.1"
# gunicorn 27's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl), which
# two instances on one machine (tests, make run) would fight over; nothing here uses it.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
loglevel = _settings.log_level.lower()
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s agent="%(a)s"'
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
