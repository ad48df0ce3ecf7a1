"""Redis calls of many requests, sent together in one round trip.

Under gevent a Redis round trip costs a web process far more CPU than the commands in it (a send,
a wait in the event loop, a read), and a device request makes several: its admission (device
cache and rate limit), a payment's Idempotency-Key claim, its consumers' marks, its metrics. A
busy process has dozens of requests at each of those points at once, so they share round trips:
a caller that finds no batch in flight sends its call at once, itself (no hand-off: an idle
process pays nothing for the batching); callers arriving while a batch is in flight queue, and
when it returns the first of them sends everything queued as one pipeline and hands each caller
its own replies or error.

A caller sees what a direct call would give it: its replies, the `ResponseError` of its own call
(other calls of the batch are not affected), or the `RedisError` that failed the whole batch
(Redis unreachable: every caller of that batch gets it, as each would have alone).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import redis as redis_lib
from redis.client import Pipeline
from redis.commands.core import Script
from redis.exceptions import NoScriptError

log = logging.getLogger(__name__)

#: Longest a caller waits for its batch: beyond the client's own socket timeout, so a stuck
#: Redis fails the batch first; this only guards against a sender that is gone.
REPLY_SECONDS = 30.0

Command = tuple[Any, ...]


class _Call:
    """One caller's part of a batch: a script call, commands (each a tuple of arguments), or
    whatever a function queues on the batch's pipeline."""

    __slots__ = (
        "args",
        "commands",
        "done",
        "error",
        "keys",
        "promoted",
        "queue_on",
        "replies",
        "script",
        "size",
    )

    def __init__(
        self,
        *,
        script: Script | None = None,
        keys: Sequence[Any] = (),
        args: Sequence[Any] = (),
        commands: Sequence[Command] = (),
        queue_on: Callable[[Pipeline], object] | None = None,
    ) -> None:
        self.script = script
        self.keys = keys
        self.args = args
        self.commands = commands
        self.queue_on = queue_on
        self.size = 0  # how many commands of the batch's pipeline are this call's
        self.done = threading.Event()
        self.replies: list[Any] = []
        self.error: BaseException | None = None
        self.promoted = False  # woken to send the next batch (its own call is in it)


def add_command(pipe: Pipeline, command: Command) -> None:
    """Queue `command` (a tuple of arguments, e.g. ("SADD", key, member)) on `pipe`."""
    pipe.execute_command(*command)  # type: ignore[no-untyped-call]


def pipelined(redis: redis_lib.Redis, *commands: Command) -> list[Any]:
    """`commands` in one pipelined round trip, without a batcher; raises the first error."""
    pipe = redis.pipeline(transaction=False)
    for command in commands:
        add_command(pipe, command)
    return pipe.execute()


class RedisBatcher:
    def __init__(self, redis: redis_lib.Redis) -> None:
        self._redis = redis
        self._lock = threading.Lock()
        self._queued: list[_Call] = []
        self._in_flight = False

    def script(self, script: Script, *, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """`script(keys=keys, args=args)`, sent with the other calls queued meanwhile."""
        return self._wait(_Call(script=script, keys=keys, args=args))[0]

    def commands(self, *commands: Command) -> list[Any]:
        """Each command's reply, in order; the first error among them is raised."""
        if not commands:
            return []
        return self._wait(_Call(commands=commands))

    def queued(self, queue_on: Callable[[Pipeline], object]) -> list[Any]:
        """The replies of the commands `queue_on(pipeline)` queues (e.g. a library's own
        writes, given the pipeline to queue them on); the first error among them is raised."""
        return self._wait(_Call(queue_on=queue_on))

    def _wait(self, call: _Call) -> list[Any]:
        with self._lock:
            self._queued.append(call)
            leads = not self._in_flight
            self._in_flight = True
        try:
            if leads:
                self._send_next()
            while True:
                if not call.done.wait(REPLY_SECONDS):
                    raise redis_lib.TimeoutError("no reply from the batched Redis round trip")
                if not call.promoted:
                    break
                call.promoted = False
                call.done.clear()
                self._send_next()
        except BaseException:  # a timeout, or the greenlet killed while it waited
            self._give_up(call)
            raise
        if call.error is not None:
            raise call.error
        return call.replies

    def _give_up(self, call: _Call) -> None:
        """A caller that stops waiting leaves the queue; a turn it was given passes on, so the
        callers behind it are not left without a sender."""
        with self._lock:
            if call in self._queued:
                self._queued.remove(call)
                if call.promoted:
                    self._pass_turn()

    def _pass_turn(self) -> None:
        # under the lock: the first queued call sends next, or the flight ends
        if self._queued:
            following = self._queued[0]
            following.promoted = True
            following.done.set()
        else:
            self._in_flight = False

    def _send_next(self) -> None:
        """Send everything queued (the caller's own call among it), then pass the turn to the
        first call queued meanwhile, or end the flight."""
        with self._lock:
            batch, self._queued = self._queued, []
        try:
            self._send(batch)
        finally:
            with self._lock:
                self._pass_turn()

    def _send(self, batch: list[_Call]) -> None:
        try:
            pipe = self._redis.pipeline(transaction=False)
            for call in batch:
                _add(pipe, call)
            replies = pipe.execute(raise_on_error=False)
            start = 0
            for call in batch:
                own, start = replies[start : start + call.size], start + call.size
                if call.done.is_set():  # failed while its commands were queued
                    continue
                try:
                    self._settle(call, own)
                except Exception as error:
                    call.error = error
                call.done.set()
        except Exception as error:  # the sender must outlive any batch: callers wait on it
            _fail_unsettled(batch, error)
        except BaseException:
            # the sending greenlet is killed (GreenletExit, gevent.Timeout at worker shutdown):
            # the other callers hear it now rather than after REPLY_SECONDS
            _fail_unsettled(batch, redis_lib.ConnectionError("the batch's sender stopped"))
            raise

    @staticmethod
    def _settle(call: _Call, replies: list[Any]) -> None:
        if call.script is not None and isinstance(replies[0], NoScriptError):
            # Redis lost its scripts (a restart, SCRIPT FLUSH): this one call loads it again
            replies = [call.script(keys=call.keys, args=call.args)]
        call.error = next((r for r in replies if isinstance(r, Exception)), None)
        call.replies = replies


def _add(pipe: Pipeline, call: _Call) -> None:
    """Queue `call`'s commands on `pipe`; a `queue_on` that fails fails its own call only."""
    before = len(pipe.command_stack)
    try:
        if call.script is not None:
            pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
        for command in call.commands:
            add_command(pipe, command)
        if call.queue_on is not None:
            call.queue_on(pipe)
    except Exception as error:
        del pipe.command_stack[before:]
        call.error = error
        call.done.set()
    call.size = len(pipe.command_stack) - before


def _fail_unsettled(batch: list[_Call], error: BaseException) -> None:
    for call in batch:
        if not call.done.is_set():
            call.error = error
            call.done.set()
