"""Observability: /metrics in the Prometheus text format, and the hooks that feed it.

    integrator.observability.web.init_metrics(app, services)   web: GET /metrics
    integrator.observability.recorder.RedisMetrics             the observer that counts events
                                                               (built by Services.build)

Counters and histograms live in Redis (exact across gunicorn and worker processes); gauges are
read from Redis and RQ at scrape time. `catalog` lists every metric; `config/alerts.yml` uses them.
Nothing is imported here.
"""
