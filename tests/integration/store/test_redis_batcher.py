"""RedisBatcher on the real Redis: a call with no batch in flight goes at once, calls queued while
one is in flight go in one round trip, each caller gets its own reply or its own error, lost
scripts are loaded again, a Redis that cannot be reached fails every call of the batch with the
client's error, and a caller that gives up does not leave the others without a sender."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis as redis_lib
from redis.backoff import NoBackoff
from redis.retry import Retry

from integrator.store.redis_batcher import RedisBatcher

# KEYS[1]: a counter to increment; ARGV[1]: what to echo, or "fail" to raise a script error
ECHO = """
redis.call('INCR', KEYS[1])
if ARGV[1] == 'fail' then return redis.error_reply('ERR asked to fail') end
return ARGV[1]
"""


class _HeldRedis(redis_lib.Redis):
    """Counts pipeline executions (and the thread of each); the first may be held until
    released."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batches: list[int] = []
        self.senders: list[str] = []
        self.hold: threading.Event | None = None
        self.holding = threading.Event()
        self.kill_batch: int | None = None  # the sender of this batch (0-based) is killed

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        execute = pipe.execute

        def counted(raise_on_error: bool = True) -> Any:
            self.batches.append(len(pipe.command_stack))
            self.senders.append(threading.current_thread().name)
            if self.kill_batch == len(self.batches) - 1:
                raise _Killed
            if self.hold is not None:
                self.holding.set()
                self.hold.wait(10)
                self.hold = None
            return execute(raise_on_error)

        pipe.execute = counted  # type: ignore[method-assign]
        return pipe


class _Killed(BaseException):
    """What killing a greenlet raises in it (GreenletExit and gevent.Timeout are BaseExceptions)."""


@pytest.fixture
def held(redis: redis_lib.Redis) -> _HeldRedis:
    return _HeldRedis(connection_pool=redis.connection_pool)


def _in_threads(count: int, work: Any) -> list[Any]:
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except (Exception, _Killed) as error:  # the test reads each caller's outcome
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    return results


def _behind_a_held_batch(
    held: _HeldRedis,
    batcher: RedisBatcher,
    first: Callable[[], Any],
    count: int,
    work: Callable[[int], Any],
) -> tuple[list[Any], float]:
    """`first` is sent and its batch held in flight while `count` callers run `work(i)` and
    queue behind it; it is released once all have queued. Each caller's outcome, and the
    seconds from the release until every caller was answered."""
    held.hold = threading.Event()
    sender = threading.Thread(target=first)
    sender.start()
    assert held.holding.wait(10)  # the first batch is on its way and held there
    gate = held.hold
    assert gate is not None
    outcomes: list[Any] = []
    waiting = threading.Thread(target=lambda: outcomes.extend(_in_threads(count, work)))
    waiting.start()
    while len(batcher._queued) < count:  # all queued behind the held batch
        threading.Event().wait(0.01)
    released = time.monotonic()
    gate.set()
    waiting.join(20)
    sender.join(10)
    return outcomes, time.monotonic() - released


def test_calls_queued_behind_a_batch_go_out_together(held: _HeldRedis) -> None:
    batcher = RedisBatcher(held)
    echo = held.register_script(ECHO)
    assert batcher.script(echo, keys=["n"], args=["alone"]) == b"alone"
    assert held.senders == [threading.current_thread().name]  # no batch in flight: sent at once
    held.batches.clear()

    results, _ = _behind_a_held_batch(
        held,
        batcher,
        lambda: batcher.script(echo, keys=["n"], args=["first"]),
        50,
        lambda i: batcher.script(echo, keys=["n"], args=[f"caller-{i}"]),
    )

    assert results == [f"caller-{i}".encode() for i in range(50)]
    assert held.get("n") == b"52"
    assert held.batches == [1, 50]  # two round trips for fifty-one calls


def test_a_failing_call_fails_alone(held: _HeldRedis) -> None:
    batcher = RedisBatcher(held)
    echo = held.register_script(ECHO)
    outcomes = _in_threads(
        20, lambda i: batcher.script(echo, keys=["n"], args=["fail" if i == 7 else str(i)])
    )
    assert isinstance(outcomes[7], redis_lib.ResponseError)
    assert "asked to fail" in str(outcomes[7])
    assert [o for i, o in enumerate(outcomes) if i != 7] == [
        str(i).encode() for i in range(20) if i != 7
    ]


def test_scripts_redis_lost_are_loaded_again(held: _HeldRedis) -> None:
    batcher = RedisBatcher(held)
    echo = held.register_script(ECHO)
    assert batcher.script(echo, keys=["n"], args=["before"]) == b"before"
    held.script_flush()
    assert batcher.script(echo, keys=["n"], args=["after"]) == b"after"
    assert held.get("n") == b"2"  # the NOSCRIPT attempt ran nothing


def test_an_unreachable_redis_fails_every_call_of_the_batch() -> None:
    with socket.socket() as unused:  # bound, never listening: connections are refused
        unused.bind(("127.0.0.1", 0))
        gone = redis_lib.Redis(
            port=unused.getsockname()[1], socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        batcher = RedisBatcher(gone)
        echo = gone.register_script(ECHO)
        outcomes = _in_threads(5, lambda i: batcher.script(echo, keys=["n"], args=[str(i)]))
    assert all(isinstance(o, redis_lib.ConnectionError) for o in outcomes), outcomes


def test_commands_of_many_callers_each_get_their_own_replies(held: _HeldRedis) -> None:
    batcher = RedisBatcher(held)
    outcomes = _in_threads(
        30, lambda i: batcher.commands(("SADD", f"set-{i % 3}", str(i)), ("SCARD", f"set-{i % 3}"))
    )
    assert all(added == 1 for added, _count in outcomes)
    assert {held.scard(f"set-{n}") for n in range(3)} == {10}
    assert batcher.commands() == []


def test_a_failing_command_raises_for_its_caller_only(held: _HeldRedis) -> None:
    batcher = RedisBatcher(held)
    held.set("text", "not a set")
    outcomes = _in_threads(
        10,
        lambda i: batcher.commands(("SADD", "text" if i == 3 else f"ok-{i}", "member")),
    )
    assert isinstance(outcomes[3], redis_lib.ResponseError)  # WRONGTYPE, its own
    assert [o for i, o in enumerate(outcomes) if i != 3] == [[1]] * 9


def test_a_caller_that_gives_up_passes_its_turn_on(
    held: _HeldRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    batcher = RedisBatcher(held)
    echo = held.register_script(ECHO)
    assert batcher.script(echo, keys=["n"], args=["load"]) == b"load"
    monkeypatch.setattr("integrator.store.redis_batcher.REPLY_SECONDS", 0.5)
    held.hold = threading.Event()
    first = threading.Thread(target=lambda: batcher.script(echo, keys=["n"], args=["first"]))
    first.start()
    assert held.holding.wait(10)
    gate = held.hold
    assert gate is not None
    # queued behind the held batch, this caller gives up before its turn comes
    with pytest.raises(redis_lib.TimeoutError):
        batcher.script(echo, keys=["n"], args=["impatient"])
    gate.set()
    first.join(10)
    # the flight ended cleanly: the next caller is answered, and the one who left ran nowhere
    assert batcher.script(echo, keys=["n"], args=["later"]) == b"later"
    assert held.get("n") == b"3"


def test_a_sender_killed_mid_batch_fails_its_batch_at_once(
    held: _HeldRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    batcher = RedisBatcher(held)
    echo = held.register_script(ECHO)
    assert batcher.script(echo, keys=["n"], args=["load"]) == b"load"
    monkeypatch.setattr("integrator.store.redis_batcher.REPLY_SECONDS", 15)
    held.batches.clear()
    held.kill_batch = 1  # the batch of the callers queued behind the held one

    outcomes, answered_in = _behind_a_held_batch(
        held,
        batcher,
        lambda: batcher.script(echo, keys=["n"], args=["first"]),
        5,
        lambda i: batcher.script(echo, keys=["n"], args=[str(i)]),
    )

    assert answered_in < 5  # not REPLY_SECONDS: told when the sender died
    assert held.batches == [1, 5]
    assert sum(isinstance(o, _Killed) for o in outcomes) == 1  # the sender itself
    failed = [o for o in outcomes if not isinstance(o, _Killed)]
    assert len(failed) == 4
    assert all(isinstance(o, redis_lib.ConnectionError) for o in failed), failed
    held.kill_batch = None
    assert batcher.script(echo, keys=["n"], args=["later"]) == b"later"  # the flight ended


def test_what_a_function_queues_goes_in_the_batch_and_its_failure_stays_its_own(
    held: _HeldRedis,
) -> None:
    batcher = RedisBatcher(held)

    def work(i: int) -> Any:
        def queue_on(pipe: Any) -> None:
            if i == 4:
                pipe.rpush("list", "half-written")
                raise ValueError("could not build the job")
            pipe.rpush("list", str(i))
            pipe.llen("list")

        return batcher.queued(queue_on)

    # all ten queue behind a held batch, so they share one pipeline
    outcomes, _ = _behind_a_held_batch(held, batcher, lambda: batcher.commands(("PING",)), 10, work)

    assert held.batches == [1, 18]  # nine calls of two commands in one round trip
    assert isinstance(outcomes[4], ValueError)
    assert all(isinstance(o, list) and len(o) == 2 for i, o in enumerate(outcomes) if i != 4)
    # nothing of the failed call was sent; every other call's commands were
    assert sorted(held.lrange("list", 0, -1)) == sorted(
        str(i).encode() for i in range(10) if i != 4
    )
