"""Devices and their API keys in Redis. A key is shown once, when made; only its hash is stored.

Why sha256 and not a password hash: device keys are `secrets.token_urlsafe(32)`, 256 random bits,
so there is nothing to guess or look up in a dictionary; a slow, salted KDF (bcrypt, argon2) only
helps low-entropy secrets chosen by people. An unsalted hash also lets us find the device by its
key's hash in one HGET, without holding any key.

Layout (see `store.keys`): `device:{id}` = codec JSON; hash `devices:by-name` name -> id; hash
`devices:by-key-hash` sha256(key) -> id (only live keys: revoke and rotate remove the old hash).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import redis as redis_lib

from integrator.payments.devices import Device, normalise_scopes
from integrator.store import keys
from integrator.store.codec import as_opt_text, as_text, dump_device, load_device
from integrator.store.ratelimit import (
    SLIDING_WINDOW_LUA,
    WINDOW_MS,
    RateDecision,
    decision,
    new_member,
)

KEY_BYTES = 32  # 256 random bits per key


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
    if not cleaned or len(cleaned) > 100 or any(ord(ch) < 32 for ch in cleaned):
        raise DeviceError(f"not a usable device name: {name!r}")
    return cleaned


_ADD = """
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[2])
return 1
"""

# Replace a device's document and its key-hash entry, only if the document is still `expected`.
_UPDATE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
if redis.call('HGET', KEYS[2], ARGV[3]) == ARGV[5] then redis.call('HDEL', KEYS[2], ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], ARGV[4], ARGV[5]) end
return 1
"""


# KEYS[1] devices:by-key-hash; ARGV[1] the key's hash, ARGV[2] the device key prefix.
# (The device key is built inside the script, which a Redis Cluster would refuse; the integrator
# runs on one Redis primary. Device ids are uuids, so the prefix needs no escaping.)
_AUTHENTICATE = """
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
return redis.call('GET', ARGV[2] .. id)
"""


# authenticate + the per-device rate limit in one round trip (every API request comes here).
# KEYS[1] devices:by-key-hash; ARGV: key hash, device key prefix, rate key prefix, now ms,
# window ms, limit, member. A revoked device is not counted.
_ADMIT = (
    """
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return {false, 0, '0', '0'} end
local doc = redis.call('GET', ARGV[2] .. id)
if not doc then return {false, 0, '0', '0'} end
local decoded, device = pcall(cjson.decode, doc)
if decoded and device['revoked'] then return {doc, 0, '0', '0'} end
local rate_key = ARGV[3] .. id
local now = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local limit = tonumber(ARGV[6])
local member = ARGV[7]
"""
    + SLIDING_WINDOW_LUA
    + """
return {doc, allowed, tostring(remaining), tostring(wait)}
"""
)


@functools.lru_cache(maxsize=4096)
def _parsed_device(doc: bytes) -> Device:
    """`load_device`, remembered per stored document: every API request reads its device's
    record, which changes only on revoke or rotate (a new document, parsed anew). Device is
    frozen, so sharing one parsed copy between requests is safe."""
    return load_device(doc)


class DeviceStore:
    """Registered devices: add, authenticate, list, revoke, rotate-key."""

    def __init__(
        self, redis: redis_lib.Redis, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._redis = redis
        self._clock = clock or (lambda: datetime.now(UTC))
        self._add = redis.register_script(_ADD)
        self._update = redis.register_script(_UPDATE)
        self._authenticate = redis.register_script(_AUTHENTICATE)
        self._admit = redis.register_script(_ADMIT)

    def add(self, name: str, tenants: list[str] | tuple[str, ...]) -> tuple[Device, str]:
        """A new device and its key. The key is returned once and never stored: show it now."""
        key = _new_key()
        device = Device(
            id=str(uuid.uuid4()),
            name=_valid_name(name),
            tenants=normalise_scopes(tenants),
            key_hash=hash_key(key),
            created_at=self._clock(),
        )
        added = self._add(
            keys=[keys.device(device.id), keys.devices_by_name(), keys.devices_by_key_hash()],
            args=[device.name, device.id, dump_device(device), device.key_hash],
        )
        if not added:
            raise DeviceExists(device.name)
        return device, key

    def get(self, device_id: str) -> Device | None:
        doc = self._redis.get(keys.device(device_id))
        return None if doc is None else load_device(doc)

    def get_by_name(self, name: str) -> Device | None:
        device_id = as_opt_text(self._redis.hget(keys.devices_by_name(), name.strip()))
        return None if device_id is None else self.get(device_id)

    def authenticate(self, key: str) -> Device | None:
        """The live device holding `key`, or None (unknown, rotated-away or revoked key)."""
        if not key:
            return None
        digest = hash_key(key)
        # key hash -> id -> record in one round trip (every API request comes through here)
        doc = self._authenticate(keys=[keys.devices_by_key_hash()], args=[digest, keys.device("")])
        if doc is None:
            return None
        device = load_device(doc)
        if device.revoked:
            return None
        if not secrets.compare_digest(device.key_hash, digest):
            return None
        return device

    def admit(
        self, key: str, limit_per_minute: int, now: datetime
    ) -> tuple[Device | None, RateDecision]:
        """`authenticate(key)` and, for a live device, `RateLimiter.hit` in one round trip.

        (None, a refusal) for an unknown, rotated-away or revoked key (nothing counted).
        """
        refused = RateDecision(allowed=False, retry_after=60)
        if not key:
            return None, refused
        if limit_per_minute <= 0:
            return self.authenticate(key), refused
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        digest = hash_key(key)
        now_ms = int(now.timestamp() * 1000)
        reply = self._admit(
            keys=[keys.devices_by_key_hash()],
            args=[
                digest,
                keys.device(""),
                keys.device_rate(""),
                now_ms,
                WINDOW_MS,
                limit_per_minute,
                new_member(now_ms),
            ],
        )
        if not reply[0]:
            return None, refused
        device = _parsed_device(reply[0])
        if device.revoked or not secrets.compare_digest(device.key_hash, digest):
            return None, refused
        return device, decision(reply[1], reply[2], reply[3])

    def list(self) -> list[Device]:
        """Every device, revoked ones included, by name."""
        by_name = self._redis.hgetall(keys.devices_by_name())
        ids = [as_text(by_name[n]) for n in sorted(by_name, key=as_text)]
        if not ids:
            return []
        docs = self._redis.mget([keys.device(i) for i in ids])
        return [load_device(d) for d in docs if d is not None]

    def _replace(self, old: Device, new: Device, *, new_hash: str | None) -> None:
        ok = self._update(
            keys=[keys.device(old.id), keys.devices_by_key_hash()],
            args=[dump_device(old), dump_device(new), old.key_hash, new_hash or "", old.id],
        )
        if not ok:
            raise DeviceError(f"device {old.name} changed meanwhile; try again")

    def revoke(self, name: str) -> Device:
        """Revoke a device for good: its key stops working at once. Idempotent."""
        device = self.get_by_name(name)
        if device is None:
            raise DeviceNotFound(name)
        if device.revoked:
            return device
        revoked = replace(device, revoked=True, revoked_at=self._clock())
        self._replace(device, revoked, new_hash=None)
        return revoked

    def rotate_key(self, name: str) -> str:
        """A new key for the same device (same id: its payments and idempotency keys stay its
        own); the old key stops working at once. Shown once, like `add`'s."""
        device = self.get_by_name(name)
        if device is None:
            raise DeviceNotFound(name)
        if device.revoked:
            raise DeviceRevoked(name)
        key = _new_key()
        rotated = replace(device, key_hash=hash_key(key), key_rotated_at=self._clock())
        self._replace(device, rotated, new_hash=rotated.key_hash)
        return key
