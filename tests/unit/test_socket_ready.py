"""The readiness check pools make before reusing a connection: right about data and closes, and
never a switch to gevent's hub (gevent's own poll makes one per check)."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

from integrator.socket_ready import readable_now


def test_nothing_to_read_then_data_then_a_close() -> None:
    ours, theirs = socket.socketpair()
    try:
        assert readable_now(ours) is False
        theirs.sendall(b"+PONG\r\n")
        assert readable_now(ours) is True
        assert ours.recv(64) == b"+PONG\r\n"
        assert readable_now(ours) is False
        theirs.close()
        assert readable_now(ours) is True  # a read would see EOF: not reusable
    finally:
        ours.close()
        theirs.close()


_GEVENT_SWITCHES = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()
    import select, socket, sys
    import gevent
    from integrator.socket_ready import readable_now

    def switches(check):
        ran = []
        gevent.spawn(ran.append, 1)  # runs as soon as this greenlet yields to the hub
        ours, theirs = socket.socketpair()
        for _ in range(3):
            check(ours)
        switched = bool(ran)
        gevent.sleep(0)
        assert ran, "the spawned greenlet never ran"
        return switched

    def gevent_poll(sock):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return poller.poll(0)

    print(switches(gevent_poll), switches(readable_now))
    """
)


def test_a_check_under_gevent_stays_in_the_greenlet() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _GEVENT_SWITCHES], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # gevent's poll yields to the hub (the reason for this module); ours does not
    assert done.stdout.split() == ["True", "False"]
