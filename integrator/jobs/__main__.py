"""`python -m integrator.jobs`: a registration worker (settings from the environment).

The same as `integrator worker` once the lead wires `run_worker` there; the tests spawn this.
"""

from __future__ import annotations

from integrator import logs
from integrator.jobs.runner import run_worker
from integrator.settings import Settings
from integrator.store import redis_conn


def main() -> None:
    settings = Settings.from_env()
    logs.init_logging(settings.log_level)
    client = redis_conn.connect(settings)
    try:
        redis_conn.check_durability(client, override=settings.redis_durability_override)
    finally:
        client.close()
    run_worker(settings)


if __name__ == "__main__":
    main()
