"""gunicorn for bench/bare_proxy.py: the integrator's worker model, without its app-level extras."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "integrator_gunicorn_conf", Path(__file__).resolve().parents[1] / "config" / "gunicorn.conf.py"
)
assert _spec is not None and _spec.loader is not None
_conf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conf)

bind = _conf.bind
workers = _conf.workers
worker_class = _conf.worker_class
worker_connections = _conf.worker_connections
threads = _conf.threads
keepalive = _conf.keepalive
backlog = _conf.backlog
timeout = _conf.timeout
control_socket_disable = True
accesslog = None
errorlog = "-"
loglevel = "warning"
