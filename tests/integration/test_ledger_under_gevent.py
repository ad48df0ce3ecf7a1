"""The ledger's pool under gevent (the web app's worker class): a slow query in one greenlet
must not block the others. Runs in its own interpreter, monkey-patched before anything else, as
gunicorn's gevent worker does."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()

    import json, sys, time

    import gevent

    from integrator.store.db import Database

    db = Database.connect(sys.argv[1], min_size=2, max_size=4)
    started = time.monotonic()
    done = {}

    def slow():
        with db.transaction() as conn:
            conn.execute("SELECT pg_sleep(1.5)")
        done["slow"] = time.monotonic() - started

    def quick():
        for _ in range(20):
            with db.transaction() as conn:
                conn.execute("SELECT 1")
        done["quick"] = time.monotonic() - started

    gevent.joinall([gevent.spawn(slow), gevent.spawn(quick)])
    db.close()
    print(json.dumps(done))
    """
)


def test_a_slow_query_in_one_greenlet_does_not_block_the_others(database_url: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, database_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    done = json.loads(out.stdout.strip().splitlines()[-1])
    assert done["slow"] >= 1.5
    # twenty round trips on other connections finished while the slow query still ran
    assert done["quick"] < 1.0, done
