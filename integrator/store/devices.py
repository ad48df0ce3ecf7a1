"""Devices and their API keys in the ledger (PostgreSQL), with a Redis cache for every request.

A key is shown once, when made; only its hash is stored. Why sha256 and not a password hash:
device keys are `secrets.token_urlsafe(32)`, 256 random bits, so there is nothing to guess or
look up in a dictionary; a slow, salted KDF (bcrypt, argon2) only helps low-entropy secrets chosen
by people. An unsalted hash also lets us find the device by its key's hash with one index lookup.

The record of truth is the `devices` table (migrations/versions/0002): a unique name, and a
partial UNIQUE index on the key hash of live devices. `admit` runs on every API request, so it
reads a cache in Redis instead: `device-cache:by-key-hash:{sha256}` = the live device's JSON,
expiring after `CACHE_SECONDS`. The common case is one Redis round trip (read the cache, count the
request in the device's sliding window); a miss (first request, expired entry, Redis flushed)
reads the ledger, then fills the cache and counts in a second round trip. Redis losing every key
loses no device.

Keeping the cache honest:
- only a live device is cached, and only by a fill that read the ledger;
- every change (add, revoke, rotate-key) commits in the ledger first, then deletes the cache
  entries of the key hashes it touched and increments `device-cache:generation`;
- a fill writes only if the generation is the one it saw before reading the ledger, so a fill
  racing a revoke can never put the revoked device back.
If the delete after a commit fails (Redis unreachable at that moment), the change is still made
and a warning is logged; a revoked or rotated-away key can then be admitted for at most
`CACHE_SECONDS` more, until its cache entry expires.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

import redis as redis_lib
from psycopg import errors
from psycopg.rows import dict_row

from integrator.payments.devices import Device, device_name_problem, normalise_scopes
from integrator.payments.models import ConsumerKey
from integrator.payments.ports import OpenMarks
from integrator.store import keys
from integrator.store.codec import as_text, dump_device, load_device
from integrator.store.db import Database
from integrator.store.open_claims import OpenClaimMarks
from integrator.store.ratelimit import (
    SLIDING_WINDOW_LUA,
    WINDOW_MS,
    RateDecision,
    decision,
    new_member,
)
from integrator.store.redis_batcher import RedisBatcher

log = logging.getLogger("integrator.store.devices")

KEY_BYTES: Final = 32  # 256 random bits per key
#: How long a device stays cached by key hash: the longest a revoked key could still be admitted
#: when the cache delete after the revoke failed.
CACHE_SECONDS: Final = 60


class DeviceError(Exception):
    """Base of device-store refusals."""


class DeviceExists(DeviceError):
    pass


class DeviceNotFound(DeviceError):
    pass


class DeviceRevoked(DeviceError):
    pass


def hash_key(key: str) -> str:
    """sha256 hex of a device key (see the module docstring for why this is enough)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _new_key() -> str:
    return secrets.token_urlsafe(KEY_BYTES)


def _valid_name(name: str) -> str:
    cleaned = name.strip()
    problem = device_name_problem(cleaned)
    if problem is not None:
        raise DeviceError(f"not a usable device name: {name!r}: {problem}")
    return cleaned


# --- the cache scripts (KEYS[1] the cache entry, KEYS[2] the generation counter) ---

# The common path of every API request: the cached device and the rate limit in one round trip.
# ARGV: rate key prefix, now ms, window ms, limit, member. KEYS[3], KEYS[4] (optional): a
# consumer's open-payment marks and their completion key (integrator.store.open_claims).
# Reply: {false, generation} on a miss; {doc, allowed, remaining, wait[, marks]} on a hit, marks
# being the mark count, or -1 while the marks are not complete.
_ADMIT = (
    """
local doc = redis.call('GET', KEYS[1])
if not doc then return {false, redis.call('GET', KEYS[2]) or '0'} end
local decoded, device = pcall(cjson.decode, doc)
if not decoded or type(device) ~= 'table' or type(device['id']) ~= 'string' then
  redis.call('DEL', KEYS[1])
  return {false, redis.call('GET', KEYS[2]) or '0'}
end
local rate_key = ARGV[1] .. device['id']
local now = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local member = ARGV[5]
"""
    + SLIDING_WINDOW_LUA
    + """
if #KEYS < 4 then return {doc, allowed, tostring(remaining), tostring(wait)} end
local marks = -1
if redis.call('EXISTS', KEYS[4]) == 1 then marks = redis.call('SCARD', KEYS[3]) end
return {doc, allowed, tostring(remaining), tostring(wait), marks}
"""
)

# Cache a device read from the ledger, unless a change was committed since (generation moved).
_FILL_LUA = """
if (redis.call('GET', KEYS[2]) or '0') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
"""

# ARGV: generation seen, device JSON, TTL ms.
_FILL = _FILL_LUA + "\nreturn 1\n"

# A miss's second round trip: fill, then count. ARGV: generation seen, device JSON, TTL ms,
# rate key of the device, now ms, window ms, limit, member.
_FILL_AND_COUNT = (
    _FILL_LUA
    + """
local rate_key = ARGV[4]
local now = tonumber(ARGV[5])
local window = tonumber(ARGV[6])
local limit = tonumber(ARGV[7])
local member = ARGV[8]
"""
    + SLIDING_WINDOW_LUA
    + """
return {allowed, tostring(remaining), tostring(wait)}
"""
)

_SELECT = "SELECT id, name, tenants, key_hash, created_at, key_rotated_at, revoked_at FROM devices"


def _device(row: dict[str, Any]) -> Device:
    return Device(
        id=row["id"],
        name=row["name"],
        tenants=tuple(row["tenants"]),
        key_hash=row["key_hash"],
        revoked=row["revoked_at"] is not None,
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        key_rotated_at=row["key_rotated_at"],
    )


@functools.lru_cache(maxsize=4096)
def _parsed_device(doc: bytes) -> Device:
    """`load_device`, remembered per cached document: every API request reads its device's
    record, which changes only on revoke or rotate (a new document, parsed anew). Device is
    frozen, so sharing one parsed copy between requests is safe."""
    return load_device(doc)


class DeviceStore:
    """Registered devices: add, get, authenticate, admit, list, revoke, rotate-key."""

    def __init__(
        self,
        db: Database,
        redis: redis_lib.Redis,
        *,
        clock: Callable[[], datetime] | None = None,
        cache_seconds: int = CACHE_SECONDS,
        batcher: RedisBatcher | None = None,
    ) -> None:
        self._db = db
        self._redis = redis
        # the admission of every request, sent with other requests' (a web process's); alone
        # where no batcher is given (a job, a CLI command)
        self._batcher = batcher
        self._clock = clock or (lambda: datetime.now(UTC))
        self._cache_ms = cache_seconds * 1000
        self._admit = redis.register_script(_ADMIT)
        self._fill = redis.register_script(_FILL)
        self._fill_and_count = redis.register_script(_FILL_AND_COUNT)

    # --- changes: the ledger first, then the cache ---

    def add(self, name: str, tenants: list[str] | tuple[str, ...]) -> tuple[Device, str]:
        """A new device and its key. The key is returned once and never stored: show it now.

        DeviceExists when the name is taken (the ledger's UNIQUE constraint decides, so two
        operators adding the same name at once make one device)."""
        key = _new_key()
        device = Device(
            id=str(uuid.uuid4()),
            name=_valid_name(name),
            tenants=normalise_scopes(tenants),
            key_hash=hash_key(key),
            created_at=self._clock(),
        )
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO devices (id, name, tenants, key_hash, created_at)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (
                        device.id,
                        device.name,
                        list(device.tenants),
                        device.key_hash,
                        device.created_at,
                    ),
                )
        except errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "devices_unique_name":
                raise DeviceExists(device.name) from None
            raise
        self._forget(device.key_hash)
        return device, key

    def revoke(self, name: str) -> Device:
        """Revoke a device for good: its key stops working at once. Idempotent."""
        with self._db.transaction() as conn:
            cur = conn.cursor(row_factory=dict_row)
            row = cur.execute(
                "UPDATE devices SET revoked_at = %s WHERE name = %s AND revoked_at IS NULL"
                " RETURNING *",
                (self._clock(), name.strip()),
            ).fetchone()
            if row is None:
                row = cur.execute(_SELECT + " WHERE name = %s", (name.strip(),)).fetchone()
                if row is None:
                    raise DeviceNotFound(name)
                return _device(row)  # revoked already
        revoked = _device(row)
        self._forget(revoked.key_hash)
        return revoked

    def rotate_key(self, name: str) -> str:
        """A new key for the same device (same id: its payments and idempotency keys stay its
        own); the old key stops working at once. Shown once, like `add`'s."""
        key = _new_key()
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT key_hash, revoked_at FROM devices WHERE name = %s FOR UPDATE",
                (name.strip(),),
            ).fetchone()
            if row is None:
                raise DeviceNotFound(name)
            old_hash, revoked_at = row
            if revoked_at is not None:
                raise DeviceRevoked(name)
            conn.execute(
                "UPDATE devices SET key_hash = %s, key_rotated_at = %s WHERE name = %s",
                (hash_key(key), self._clock(), name.strip()),
            )
        self._forget(old_hash, hash_key(key))
        return key

    def _forget(self, *key_hashes: str) -> None:
        """After a commit: drop the cache entries of `key_hashes` and move the generation, so
        no fill that read the ledger before the commit writes. A failure is logged, not raised
        (the change is made; the entry expires within CACHE_SECONDS)."""
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.delete(*(keys.device_cache(h) for h in key_hashes))
            pipe.incr(keys.device_cache_generation())
            pipe.execute()
        except redis_lib.RedisError as exc:
            log.warning(
                "device changed in the ledger but its cache entry could not be deleted;"
                " an old key may still be admitted for up to %s s",
                self._cache_ms // 1000,
                extra={"error": type(exc).__name__},
            )

    # --- reads ---

    def get(self, device_id: str) -> Device | None:
        return self._one("id = %s", device_id)

    def get_by_name(self, name: str) -> Device | None:
        return self._one("name = %s", name.strip())

    def list(self) -> list[Device]:
        """Every device, revoked ones included, by name."""
        with self._db.transaction() as conn:
            rows = conn.cursor(row_factory=dict_row).execute(_SELECT + " ORDER BY name").fetchall()
        return [_device(r) for r in rows]

    def _one(self, where: str, value: str) -> Device | None:
        with self._db.transaction() as conn:
            row = (
                conn.cursor(row_factory=dict_row)
                .execute(_SELECT + " WHERE " + where, (value,))
                .fetchone()
            )
        return None if row is None else _device(row)

    def _live_by_hash(self, digest: str) -> Device | None:
        return self._one("key_hash = %s AND revoked_at IS NULL", digest)

    # --- every request ---

    def authenticate(self, key: str) -> Device | None:
        """The live device holding `key`, or None (unknown, rotated-away or revoked key)."""
        if not key:
            return None
        digest = hash_key(key)
        cache_key = keys.device_cache(digest)
        doc, generation = self._redis.mget([cache_key, keys.device_cache_generation()])
        if doc is not None:
            return _checked(_parsed_device(doc), digest)
        device = self._live_by_hash(digest)
        if device is None:
            return None
        self._fill(
            keys=[cache_key, keys.device_cache_generation()],
            args=[as_text(generation or b"0"), dump_device(device), self._cache_ms],
        )
        return _checked(device, digest)

    def admit(
        self,
        key: str,
        limit_per_minute: int,
        now: datetime,
        *,
        marks_of: ConsumerKey | None = None,
    ) -> Admission:
        """`authenticate(key)` and, for a live device, `RateLimiter.hit`: one Redis round trip
        when the device is cached; on a miss, a ledger read and a second round trip. With
        `marks_of`, the same round trip reads that consumer's open-payment marks (on a hit).

        (None, a refusal) for an unknown, rotated-away or revoked key (nothing counted).
        """
        refused = RateDecision(allowed=False, retry_after=60)
        if not key:
            return Admission(None, refused)
        if limit_per_minute <= 0:
            return Admission(self.authenticate(key), refused)
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        digest = hash_key(key)
        now_ms = int(now.timestamp() * 1000)
        cache_keys = [keys.device_cache(digest), keys.device_cache_generation()]
        marks_keys = (
            []
            if marks_of is None
            else [OpenClaimMarks.key(marks_of), OpenClaimMarks.complete_key()]
        )
        window: list[int | str] = [now_ms, WINDOW_MS, limit_per_minute, new_member(now_ms)]
        admission_keys = [*cache_keys, *marks_keys]
        admission_args = [keys.device_rate(""), *window]
        if self._batcher is None:
            reply = self._admit(keys=admission_keys, args=admission_args)
        else:
            reply = self._batcher.script(self._admit, keys=admission_keys, args=admission_args)
        if reply[0]:
            device = _checked(_parsed_device(reply[0]), digest)
            if device is None:
                return Admission(None, refused)
            marks = None
            if marks_of is not None and len(reply) > 4:
                count = int(reply[4])
                marks = OpenMarks(marks_of, count if count >= 0 else None)
            return Admission(device, decision(reply[1], reply[2], reply[3]), marks)
        found = self._live_by_hash(digest)
        if found is None or _checked(found, digest) is None:
            return Admission(None, refused)
        counted = self._fill_and_count(
            keys=cache_keys,
            args=[
                as_text(reply[1]),
                dump_device(found),
                self._cache_ms,
                keys.device_rate(found.id),
                *window,
            ],
        )
        return Admission(found, decision(counted[0], counted[1], counted[2]))


class Admission(NamedTuple):
    """What `DeviceStore.admit` found: the live device (None: refused), the rate decision, and
    the consumer's open-payment marks when asked for and read in the same round trip."""

    device: Device | None
    decision: RateDecision
    open_marks: OpenMarks | None = None


def _checked(device: Device, digest: str) -> Device | None:
    """`device` if it is live and holds the key with this hash (defence in depth: the cache is
    keyed by the hash, but a stale or corrupt entry must not open another device)."""
    if device.revoked or not secrets.compare_digest(device.key_hash, digest):
        return None
    return device
