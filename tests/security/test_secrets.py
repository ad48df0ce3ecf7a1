"""Secrets stay secret: nothing of the device reaches DIGIT, logs hold no secret and no full mobile
number, device keys are stored only as hashes. The whole-run check is tests/support/secrets_guard.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator

import redis as redis_lib
import requests

from integrator import logs
from integrator.services import Services
from integrator.settings import SANDBOX_PASSWORD
from tests.e2e.conftest import Pos, body_of
from tests.support.secrets_guard import SecretsGuard

AMRITSAR = "pb.amritsar"
WS_RAMESH = "WS/107/2019-20/000022"  # 815 due
RAMESH_MOBILE = "9876543210"


def sent_to_digit(sandbox: str, since: int = 0) -> list[dict[str, object]]:
    """What the sandbox recorded after sequence number `since` (its log is a ring buffer: a
    position in the list moves once it is full, a sequence number does not)."""
    found: list[dict[str, object]] = body_of(
        requests.get(f"{sandbox}/_sandbox/requests", params={"since": since}, timeout=10)
    )["requests"]
    return found


def last_seq(sandbox: str) -> int:
    return max((int(str(r["seq"])) for r in sent_to_digit(sandbox)), default=0)


def test_a_full_payment_sends_no_device_key_to_digit_and_logs_masked_mobiles_only(
    pos: Pos,
    sandbox: str,
    captured_logs: Callable[[], list[str]],
    secrets_guard: SecretsGuard,
) -> None:
    before = last_seq(sandbox)
    assert pos.bills(tenantId=AMRITSAR, mobileNumber=RAMESH_MOBILE)
    bill = pos.bills(tenantId=AMRITSAR, businessService="WS", consumerCode=WS_RAMESH)[0]
    paid = pos.pay(
        {
            "tenantId": AMRITSAR,
            "paymentMode": "CASH",
            "paidBy": "Ramesh Kumar",
            "payerName": "Ramesh Kumar",
            "mobileNumber": RAMESH_MOBILE,
            "bills": [{"billId": bill["billId"], "amount": 815}],
        },
        key="flow-1",
    )
    assert paid.status_code in (201, 202), paid.text
    assert pos.get(f"/v1/payments/{body_of(paid)['id']}").status_code == 200

    requests_ = sent_to_digit(sandbox, since=before)
    paths = {str(r["path"]) for r in requests_}
    assert "/collection-services/payments/_create" in paths, paths  # the flow reached DIGIT
    for recorded in requests_:
        text = f"{recorded['query']} {recorded['headers']} {recorded['body']}"
        assert pos.key not in text, recorded["path"]
        assert pos.key[:16] not in text  # not even a prefix of it
        authorization = str(dict(recorded["headers"]).get("Authorization", ""))  # type: ignore[call-overload]
        assert "Bearer" not in authorization  # DIGIT gets its own credentials only

    lines = captured_logs()
    assert lines, "the flow logged nothing: the capture is not working"
    joined = "\n".join(lines)
    assert RAMESH_MOBILE not in joined
    assert "******3210" in joined  # the bills-by-mobile line, masked
    assert pos.key not in joined and SANDBOX_PASSWORD not in joined
    assert pos.key in secrets_guard.secrets  # the guard learned the key from DeviceStore.add


def test_the_guard_learns_every_token_the_sandbox_issued(
    pos: Pos, sandbox: str, secrets_guard: SecretsGuard
) -> None:
    pos.bills(tenantId=AMRITSAR, businessService="WS", consumerCode=WS_RAMESH)
    tokens = body_of(requests.get(f"{sandbox}/_sandbox/tokens", timeout=10))["tokens"]
    assert tokens  # the integrator logged in
    secrets_guard.learn_sandbox(sandbox)
    assert all(secrets_guard.secrets.get(t) == "digit-token" for t in tokens)


def test_the_guard_finds_a_leak_in_a_line() -> None:
    guard = SecretsGuard(mobiles=frozenset({RAMESH_MOBILE}))
    guard.add("a-device-key-0123456789", "device-key")
    guard.add("short", "device-key")  # too short to be told from ordinary text: ignored
    leaks = guard.leaks_in(
        [
            ("l1", "auth with a-device-key-0123456789 ok"),
            ("l2", "mobile 9876543210 and short"),
            ("l3", "mobile ******3210 and 198765432100"),
        ]
    )
    assert [(leak.secret_kind, leak.where) for leak in leaks] == [
        ("device-key", "l1"),
        ("unmasked mobile number", "l2"),
    ]


def test_a_secret_logged_through_the_production_pipeline_is_captured_redacted(
    captured_logs: Callable[[], list[str]],
) -> None:
    secret = "c0ffee00-secret-token-for-the-guard"
    logs.register_secret(secret)
    logging.getLogger("integrator.tests.security").warning(
        "token %s for %s", secret, RAMESH_MOBILE, extra={"password": "pa55word-x"}
    )
    lines = [line for line in captured_logs() if "integrator.tests.security" in line]
    assert len(lines) == 1
    assert secret not in lines[0] and RAMESH_MOBILE not in lines[0]
    assert "pa55word-x" not in lines[0] and "******3210" in lines[0]


def _every_redis_string(client: redis_lib.Redis) -> Iterator[bytes]:
    for key in client.scan_iter(count=1000):
        yield key
        kind = client.type(key).decode()
        if kind == "string":
            yield client.get(key) or b""
        elif kind == "hash":
            for field, value in client.hgetall(key).items():
                yield field
                yield value
        elif kind == "list":
            yield from client.lrange(key, 0, -1)
        elif kind == "set":
            yield from client.smembers(key)
        elif kind == "zset":
            yield from (member for member, _score in client.zrange(key, 0, -1, withscores=True))
        elif kind == "stream":
            for _id, entry in client.xrange(key):
                for field, value in entry.items():
                    yield field
                    yield value
        else:
            raise AssertionError(f"unexpected Redis type {kind} for {key!r}")


def test_device_keys_are_stored_only_as_hashes(
    services: Services, redis: redis_lib.Redis, pos: Pos
) -> None:
    keys = [pos.key]
    for name in ("hash-a", "hash-b"):
        keys.append(services.devices.add(name, ["pb.amritsar"])[1])
    keys.append(services.devices.rotate_key("hash-b"))
    pos.get("/v1/bills", tenantId=AMRITSAR, businessService="WS", consumerCode=WS_RAMESH)

    cached = b"\n".join(_every_redis_string(redis))
    with services.db.transaction() as conn:
        rows = conn.execute("SELECT d::text FROM devices d").fetchall()
    ledger = "\n".join(r[0] for r in rows).encode()
    assert cached and ledger  # devices were written (and the request's device cached)
    for key in keys:
        for stored in (cached, ledger):
            assert key.encode() not in stored
            assert key[:12].encode() not in stored
    assert hashlib.sha256(keys[-1].encode()).hexdigest().encode() in ledger
    assert hashlib.sha256(pos.key.encode()).hexdigest().encode() in cached
