"""Writes the snapshots of served bills in the background, many answers' in one Redis round
trip.

GET /v1/bills is the integrator's busiest request, and under gevent each Redis round trip costs a
web process far more CPU than the commands in it. The snapshots are written by one background
greenlet (a thread outside gevent): every document queued while a write is in flight goes into
the next one, so a busy process makes one round trip for many answers.

What a reader can rely on:
  * this process reads its own queued documents at once (`pending`);
  * `settle()` returns once every document the calling greenlet queued is in Redis; GET
    /v1/bills calls it before answering, so a bill is served only once its snapshot is where
    every process finds it, as when each answer wrote its own (the answer waits about one
    round trip, and spends no CPU on it);
  * a failed write is logged and dropped: a snapshot is a fallback, not a record of money (the
    payment is then checked against DIGIT, or refused while DIGIT is down).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Iterable

import redis as redis_lib

log = logging.getLogger(__name__)

# KEYS: the snapshot keys; ARGV: retention (ms), then one document per key. One script call is
# cheaper for the client than a pipeline of as many SETs.
_SET_ALL = """
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ARGV[1])
end
return #KEYS
"""

#: Longest a request waits in `settle` for its snapshots (a stuck Redis must not hold it).
SETTLE_SECONDS = 2.0


class SnapshotWriter:
    def __init__(self, redis: redis_lib.Redis, *, retention_ms: int) -> None:
        self._retention_ms = retention_ms
        self._set_all = redis.register_script(_SET_ALL)
        self._lock = threading.Lock()
        self._queued: dict[str, str] = {}  # key -> document, not yet taken by the writer
        self._writing: dict[str, str] = {}  # the batch being written
        self._queued_done = threading.Event()  # set once the queued batch is written
        self._wake = threading.Event()
        self._mine = threading.local()  # `done` of the batch the calling greenlet queued into
        self._pid: int | None = None

    def put(self, documents: Iterable[tuple[str, str]]) -> None:
        """Queue (key, document) pairs; a later document for the same key replaces an earlier
        one still queued (a consumer's newest bill wins)."""
        with self._lock:
            self._start_once()
            self._queued.update(documents)
            self._mine.done = self._queued_done
        self._wake.set()

    def pending(self, key: str) -> str | None:
        """The document for `key` this process has queued or is writing, if any."""
        with self._lock:
            return self._queued.get(key) or self._writing.get(key)

    def settle(self, timeout: float = SETTLE_SECONDS) -> bool:
        """Wait until what this greenlet queued is written (or dropped after an error); False
        if it took longer than `timeout`."""
        done: threading.Event | None = getattr(self._mine, "done", None)
        return done is None or done.wait(timeout)

    def flush(self) -> None:
        """Write what is queued now, in the calling thread (at exit)."""
        with self._lock:
            batch, self._queued = self._queued, {}
        if batch:
            self._write(batch)

    def _start_once(self) -> None:
        # per process: a forked child (gunicorn worker) starts its own writer
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._queued, self._writing = {}, {}
        threading.Thread(target=self._run, name="snapshot-writer", daemon=True).start()
        atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                if not self._queued:
                    continue
                self._writing, self._queued = self._queued, {}
                done, self._queued_done = self._queued_done, threading.Event()
            self._write(self._writing)
            with self._lock:
                self._writing = {}
            done.set()

    def _write(self, batch: dict[str, str]) -> None:
        try:
            self._set_all(keys=list(batch), args=[self._retention_ms, *batch.values()])
        except redis_lib.RedisError as error:
            log.warning(
                "bill snapshots not written (%s): those bills are checked against DIGIT",
                type(error).__name__,
                extra={"snapshots": len(batch)},
            )
        except Exception:  # the writer must outlive any one batch: requests wait on it
            log.exception("bill snapshots not written", extra={"snapshots": len(batch)})
