"""Observability: /metrics in the Prometheus text format, and the hooks that feed it.

    integrator.observability.web.init_metrics(app, services)   web: recorder + GET /metrics
    integrator.observability.web.install_recorder(redis)       the RQ worker: count its events

Counters and histograms live in Redis (exact across gunicorn and worker processes); gauges are
read from Redis and RQ at scrape time. `catalog` lists every metric; `config/alerts.yml` uses them.
Nothing is imported here, so `events` (imported by the DIGIT edge) stays dependency-free.
"""
