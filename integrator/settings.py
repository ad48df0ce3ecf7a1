"""Every setting the integrator reads, read once from the environment.

`Settings.from_env()` is the only place that touches `os.environ`; everything else receives a
`Settings`. Each field has a default and a one-line comment; `.env.example` and the README's table
list the same names. A missing secret stops start-up with the variable's name.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SANDBOX_USERNAME = "INTEGRATOR_SYSTEM"
SANDBOX_PASSWORD = "sandbox-password"  # the sandbox's seeded system account; never a real secret
LOCAL_PG_USER = "integrator"  # the superuser role of the private clusters (integrator.localpg)
LOCAL_PG_DATABASE = "integrator"  # the database `make run` creates in its private cluster


def private_database_url(pg_port: int) -> str:
    """The URL of the private PostgreSQL cluster `make run` starts on PG_PORT."""
    return f"postgresql://{LOCAL_PG_USER}@127.0.0.1:{pg_port}/{LOCAL_PG_DATABASE}"


# Punjab reference role-actions (docs/digit.md#roles): who may call payments/_create, each module's
# payments/{module}/_search, and its payments/{module}/_workflow (there is none for WS/SW).
DEFAULT_COLLECT_ROLE_CODES = "EMPLOYEE,SUPERUSER,UC_EMP,TL_*"
DEFAULT_SEARCH_ROLE_CODES = "WS:CITIZEN|WS_CEMP;SW:CITIZEN|SW_CEMP;PT:CITIZEN|CR_PT|EMPLOYEE"
DEFAULT_CANCEL_ROLE_CODES = "PT:CR_PT"

# The rules values are checked against (a value breaking one stops start-up naming it and the rule)
PORT_RANGE = {"at_least": 1, "at_most": 65535}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
WEB_WORKER_CLASSES = ("gevent", "gthread")  # what config/gunicorn.conf.py is written for
TENANT_FORM = r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?"  # pb, pb.amritsar (api/schemas/fields.py)
SERVICE_CODE_FORM = r"[A-Z][A-Z0-9_.-]*"  # a DIGIT businessService: WS, PT, FIRENOC
ROLE_CODE_FORM = r"[A-Z][A-Z0-9_]*\*?"  # a DIGIT role code; a trailing * matches a prefix


class SettingsError(ValueError):
    """Settings are missing or malformed; the message names each variable, and `problems`
    lists every problem found (all of them, not only the first)."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems or (message,)


class _Env(dict[str, str]):
    """The environment being read, and every problem found in it so far: reading goes on with
    the default after a problem, so one start-up (or `integrator check`) names them all."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []


def _problem(env: Mapping[str, str], message: str) -> None:
    """Note a problem while reading `from_env`; elsewhere (a plain mapping) refuse at once."""
    if isinstance(env, _Env):
        env.problems.append(message)
        return
    raise SettingsError(message)


def _str(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def _int(
    env: Mapping[str, str],
    name: str,
    default: int,
    *,
    at_least: int | None = None,
    at_most: int | None = None,
) -> int:
    """An integer; out of `at_least`..`at_most` is a problem naming the variable and the rule."""
    raw = _str(env, name, str(default))
    try:
        value = int(raw)
    except ValueError:
        _problem(env, f"{name} must be an integer, got {raw!r}")
        return default
    if (at_least is not None and value < at_least) or (at_most is not None and value > at_most):
        _problem(env, f"{name} must be {_range(at_least, at_most)}, got {value}")
        return default
    return value


def _range(at_least: int | Decimal | None, at_most: int | None) -> str:
    if at_least is not None and at_most is not None:
        return f"from {at_least} to {at_most}"
    if at_least == 0:
        return "0 or more"
    return f"at least {at_least}" if at_least is not None else f"at most {at_most}"


def _float(env: Mapping[str, str], name: str, default: float, *, positive: bool = True) -> float:
    """A finite number of seconds, more than 0 when `positive` (a wait of 0 or less, or of
    infinity, is never what a timeout or period means here)."""
    raw = _str(env, name, str(default))
    try:
        value = float(raw)
    except ValueError:
        _problem(env, f"{name} must be a number, got {raw!r}")
        return default
    if not math.isfinite(value):
        _problem(env, f"{name} must be a finite number, got {raw!r}")
        return default
    if positive and value <= 0:
        _problem(env, f"{name} must be more than 0, got {raw!r}")
        return default
    return value


def _decimal(
    env: Mapping[str, str], name: str, default: str, *, at_least: Decimal | None = None
) -> Decimal:
    raw = _str(env, name, default)
    try:
        value = Decimal(raw)
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite():  # Decimal reads "NaN" and "Infinity" as numbers
        _problem(env, f"{name} must be a decimal number, got {raw!r}")
        return Decimal(default)
    if at_least is not None and value < at_least:
        _problem(env, f"{name} must be {_range(at_least, None)}, got {raw}")
        return Decimal(default)
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (compared as written there: callers normalise case first)."""
    raw = _str(env, name, default)
    value = raw.upper() if default.isupper() else raw.lower()
    if value not in choices:
        _problem(env, f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return default
    return value


def _listen_address(env: Mapping[str, str], name: str, default: str) -> str:
    """An IP address to listen on (v4 or v6, without brackets or port), or `localhost`."""
    raw = _str(env, name, default)
    if raw == "localhost":
        return raw
    try:
        ipaddress.ip_address(raw)
    except ValueError:
        _problem(
            env,
            f"{name} must be an IP address to listen on (127.0.0.1, 0.0.0.0, ::) or localhost,"
            f" without a port (that is PORT), got {raw!r}",
        )
        return default
    return raw


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str:
    """Empty, or a URL with one of `schemes` and something after it."""
    raw = _str(env, name, "")
    if raw and not any(raw.startswith(f"{s}://") and len(raw) > len(s) + 3 for s in schemes):
        forms = [f"{s}://" for s in schemes]
        _problem(env, f"{name} must be a {', '.join(forms[:-1])} or {forms[-1]} URL")
    return raw


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _str(env, name, "true" if default else "false").lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    _problem(env, f"{name} must be true or false, got {raw!r}")
    return default


def _list(
    env: Mapping[str, str],
    name: str,
    default: str,
    *,
    pattern: str | None = None,
    form: str = "",
) -> tuple[str, ...]:
    """Comma-separated items; with a `pattern` (described by `form`), at least one, each
    matching it."""
    items = tuple(item.strip() for item in _str(env, name, default).split(",") if item.strip())
    if pattern is None:
        return items
    bad = [item for item in items if re.fullmatch(pattern, item) is None]
    if not items or bad:
        _problem(env, f"{name} must list at least one {form}, comma-separated: {bad or items}")
        return _list({}, name, default)
    return items


def _seconds_list(env: Mapping[str, str], name: str, default: str) -> tuple[int, ...]:
    items = _list(env, name, default)
    fallback = tuple(int(item) for item in default.split(","))
    try:
        values = tuple(int(item) for item in items)
    except ValueError:
        _problem(env, f"{name} must be whole seconds, comma-separated: {items!r}")
        return fallback
    if not values or any(v <= 0 for v in values):
        _problem(env, f"{name} must list at least one positive number of seconds")
        return fallback
    return values


def _role_map(env: Mapping[str, str], name: str, default: str) -> dict[str, tuple[str, ...]]:
    """`WS:CITIZEN|WS_CEMP;PT:CR_PT`: DIGIT role codes per module (a code may end in `*`)."""
    result: dict[str, tuple[str, ...]] = {}
    for entry in _str(env, name, default).split(";"):
        if not entry.strip():
            continue
        module, sep, codes = entry.partition(":")
        roles = tuple(c.strip() for c in codes.split("|") if c.strip())
        if not sep or not module.strip() or not roles:
            _problem(env, f"{name} must look like MODULE:ROLE|ROLE;MODULE:ROLE: {entry!r}")
            continue
        result[module.strip()] = roles
    return result


def _zone(env: Mapping[str, str], name: str, default: str) -> ZoneInfo:
    raw = _str(env, name, default)
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        _problem(env, f"{name} is not a known time zone: {raw!r}")
        return ZoneInfo(default)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Typed, immutable settings. Build with `from_env` (or `for_tests`)."""

    # --- DIGIT ---
    digit_base_url: str  # DIGIT's gateway URL; empty means the embedded sandbox
    digit_username: str  # a dedicated EMPLOYEE system account, used by no person
    digit_password: str = field(repr=False)  # its password (never logged)
    digit_tenant_id: str  # tenant the system account logs in to, e.g. pb or pb.amritsar
    digit_state_tenant: str  # state tenant for MDMS masters (default: DIGIT_TENANT_ID's state)
    digit_user_type: str  # EMPLOYEE: citizens may not create payments (docs/digit.md#roles)
    digit_client_id: str  # OAuth client id (DIGIT's default egov-user-client)
    digit_client_secret: str = field(repr=False)  # OAuth client secret (DIGIT's default: empty)
    digit_connect_timeout: float  # seconds to open a connection to DIGIT
    digit_read_timeout: float  # seconds to wait for DIGIT's answer
    digit_call_deadline_seconds: float  # wall-clock limit of one whole exchange, body included
    digit_timezone: ZoneInfo  # the zone of DIGIT's dates
    digit_ca_bundle: str | None  # CA bundle for DIGIT's TLS; verification is always on
    digit_pool_size: int  # pooled connections to DIGIT per process
    digit_proxy_url: str | None  # an HTTP(S) proxy on the way to DIGIT; empty: direct
    token_leeway_seconds: int  # renew the shared token this long before it expires
    mdms_cache_seconds: int  # how long payment rules and tenants from MDMS are kept
    collectable_services: tuple[str, ...]  # businessServices fetched by mobile number
    mdms_search_path: str  # MDMS search endpoint: v1, or /mdms-v2/v1/_search on DIGIT 2.9
    digit_collect_role_codes: tuple[str, ...]  # roles granted payments/_create (Punjab default)
    digit_search_role_codes: dict[str, tuple[str, ...]]  # per module: roles granted its _search
    digit_cancel_role_codes: dict[str, tuple[str, ...]]  # per module: roles granted its _workflow
    bills_deadline_seconds: float  # GET /v1/bills answers within this (by mobile: maybe partial)
    # --- PostgreSQL: the ledger of money ---
    database_url: str = field(repr=False)  # libpq URL of the ledger (may carry a password)
    database_embedded: bool  # derived: true when DATABASE_URL is unset (`make run` starts one)
    database_pool_size: int  # pooled ledger connections per process
    pg_port: int  # port of the private PostgreSQL `make run` starts (PG_PORT)
    # --- Redis: queue, token, caches, rate limits, metrics (no money) ---
    redis_url: str  # the RQ queues, the shared DIGIT token, caches and counters
    redis_embedded: bool  # derived: true when REDIS_URL is unset (`make run` starts one)
    redis_port: int  # port of that private Redis (REDIS_PORT)
    sandbox_port: int  # port of the embedded DIGIT sandbox (SANDBOX_PORT)
    # --- PoS API and payments ---
    registration_budget_seconds: float  # wait this long inline for DIGIT before answering 202
    advance_cap: Decimal  # most a payment may exceed a bill by when advance is allowed
    bill_expiry_margin_seconds: int  # a bill expiring sooner than this is not payable
    snapshot_max_age_seconds: int  # a served bill vouches for a payment this long if DIGIT is down
    # a bill served this recently is paid as served, without re-reading it (0: always re-read)
    served_bill_trust_seconds: int
    device_rate_limit_per_minute: int  # requests per device per minute before 429
    mobile_fetch_concurrency: int  # DIGIT calls in flight per bills-by-mobile request
    lease_ttl_seconds: float  # a registration attempt's lease (> DIGIT read timeout + margin)
    create_settle_seconds: int  # a create with unknown outcome may commit this late: no re-target
    max_body_bytes: int  # larger request bodies are refused with 413
    # --- Registration worker (integrator.jobs) ---
    retry_schedule_seconds: tuple[int, ...]  # waits after each failed attempt; the last repeats
    retry_max_age_seconds: int  # still failing this long after acceptance: NEEDS_ATTENTION
    auth_blocked_retry_seconds: int  # wait while we have no DIGIT token (no attempt spent)
    auth_blocked_max_seconds: int  # blocked on DIGIT authorisation this long: NEEDS_ATTENTION
    sweeper_period_seconds: float  # how often PENDING payments without a live job are re-enqueued
    digit_probe_seconds: float  # how often an unavailable DIGIT is pinged
    registration_job_timeout_seconds: int  # RQ kills a registration job running longer than this
    worker_maintenance_seconds: int  # RQ's own registry clean-up and scheduler take-over period
    worker_fork_per_job: bool  # fork a work horse per job (RQ's default), not run jobs inline
    webhook_retry_seconds: tuple[int, ...]  # waits between webhook delivery attempts, then failed
    webhook_allow_private_targets: bool  # webhooks to loopback/private hosts, http to loopback
    # the sweeper re-enqueues a webhook owed by a move this recent that has no recorded attempt
    webhook_sweep_lookback_seconds: int
    webhook_sweep_grace_seconds: int  # ... and at least this old (the normal path's chance)
    # --- Web ---
    sandbox_mode: bool  # derived: true when DIGIT_BASE_URL is unset (embedded sandbox)
    log_level: str  # DEBUG, INFO, WARNING, ...
    port: int  # the web app's HTTP port (PORT; gunicorn binds it)
    bind: str  # the address gunicorn listens on (BIND): loopback unless said otherwise
    web_workers: int  # gunicorn worker processes (WEB_WORKERS)
    web_threads: int  # threads per gunicorn worker (WEB_THREADS; gthread worker class only)
    web_worker_class: str  # gunicorn worker class: gevent (default) or gthread
    web_connections: int  # concurrent requests per gevent worker (WEB_CONNECTIONS)
    trusted_proxy_count: int  # reverse proxies in front whose X-Forwarded-* we trust (0: none)
    var_dir: str  # where `make run` keeps local state, e.g. var/redis (VAR_DIR)
    # `make run` with the embedded sandbox (in memory, back to its seed each run) empties its
    # private ledger and Redis too, so they agree with it; true keeps them (KEEP_LOCAL_STATE)
    keep_local_state: bool
    # --- Ops console (integrator.ops) ---
    secret_key: str | None = field(repr=False)  # signs ops sessions; required unless sandbox
    ops_users: tuple[str, ...] = field(repr=False)  # name:role:werkzeug-hash, comma-separated
    ops_cookie_secure: bool  # mark the ops session cookie Secure (set true behind TLS)
    ops_login_attempts_per_minute: int  # sign-in attempts per account per minute

    # --- Reports, reconciliation, metrics (integrator.payments.settlement/reconciliation) ---
    settlement_timezone: ZoneInfo  # the zone whose calendar day a settlement report covers
    reconcile_lookback_days: int  # reconciliation re-checks REGISTERED payments this recent
    # --- Cancellations (integrator.payments.cancellation) ---
    cancellation_window_minutes: int  # a device may ask to cancel this long after collecting
    cancellation_dues_poll_seconds: tuple[int, ...]  # waits between looks for the re-opened bill
    # --- Receipts (integrator.payments.receipt_service) ---
    receipt_cache_seconds: int  # DIGIT's tax heads and status of a printed receipt are cached
    receipt_lookups_per_minute: int  # lookups of receipts a device did not collect, per minute
    # --- Offline collection and the collector's cash ---
    offline_batch_max: int  # most payments in one POST /v1/payments/batch
    offline_max_age_seconds: int  # an uploaded payment collected longer ago than this: quarantined
    offline_cash_limit: (
        Decimal  # most offline CASH a device may hold until a hand-over; excess: quarantined
    )
    cash_in_hand_cap: Decimal  # CASH a device may hold before a hand-over (0: no cap)

    @property
    def digit_verify(self) -> str | bool:
        """What `requests` gets as `verify`: a CA bundle path, or True. Never False."""
        return self.digit_ca_bundle or True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Settings:
        """Read every setting once. `.env` in the working directory is honoured. Refuses with
        every problem found (SettingsError.problems), not only the first."""
        settings, problems = cls.read_env(environ, dotenv=dotenv)
        if problems:
            raise SettingsError("; ".join(problems), tuple(problems))
        return settings

    @classmethod
    def read_env(
        cls, environ: Mapping[str, str] | None = None, *, dotenv: bool = True
    ) -> tuple[Settings, list[str]]:
        """Settings with the default in place of each missing or malformed value, and every
        problem found (`integrator check` reports them all; `from_env` refuses on any)."""
        env = _Env()
        if dotenv and environ is None:
            from dotenv import dotenv_values

            env.update({k: v for k, v in dotenv_values(".env").items() if v is not None})
        env.update(os.environ if environ is None else environ)

        base_url = _str(env, "DIGIT_BASE_URL", "")
        sandbox_mode = base_url == ""
        if sandbox_mode:
            base_url = f"http://127.0.0.1:{_int(env, 'SANDBOX_PORT', 8090, **PORT_RANGE)}"
            username = _str(env, "DIGIT_USERNAME", SANDBOX_USERNAME)
            password = _str(env, "DIGIT_PASSWORD", SANDBOX_PASSWORD)
        else:
            username = _str(env, "DIGIT_USERNAME", "")
            password = env.get("DIGIT_PASSWORD", "")
            for name, value in (("DIGIT_USERNAME", username), ("DIGIT_PASSWORD", password)):
                if not value:
                    _problem(env, f"{name} is required when DIGIT_BASE_URL is set")
        if not base_url.startswith(("http://", "https://")):
            _problem(env, f"DIGIT_BASE_URL must be an http(s) URL, got {base_url!r}")

        tenant = _str(env, "DIGIT_TENANT_ID", "pb.amritsar" if sandbox_mode else "")
        if not tenant:
            _problem(env, "DIGIT_TENANT_ID is required when DIGIT_BASE_URL is set")
        state_tenant = _str(env, "DIGIT_STATE_TENANT", tenant.split(".")[0])
        for name, value in (("DIGIT_TENANT_ID", tenant), ("DIGIT_STATE_TENANT", state_tenant)):
            if value and re.fullmatch(TENANT_FORM, value) is None:
                _problem(env, f"{name} must be a DIGIT tenant id like pb or pb.amritsar: {value!r}")
        tz = _zone(env, "DIGIT_TIMEZONE", "Asia/Kolkata")
        ca_bundle = _str(env, "DIGIT_CA_BUNDLE", "") or None
        if ca_bundle is not None and not Path(ca_bundle).is_file():
            _problem(env, f"DIGIT_CA_BUNDLE does not name a file: {ca_bundle!r}")
        user_type = _str(env, "DIGIT_USER_TYPE", "EMPLOYEE").upper()
        if user_type not in {"EMPLOYEE", "SYSTEM", "CITIZEN", "BUSINESS"}:
            _problem(env, f"DIGIT_USER_TYPE must be a DIGIT user type, got {user_type!r}")

        redis_port = _int(env, "REDIS_PORT", 6390, **PORT_RANGE)
        redis_url = _url(env, "REDIS_URL", ("redis", "rediss", "unix"))
        pg_port = _int(env, "PG_PORT", 5440, **PORT_RANGE)
        database_url = _str(env, "DATABASE_URL", "")
        if not database_url and not sandbox_mode:
            _problem(env, "DATABASE_URL is required when DIGIT_BASE_URL is set")
        if database_url and not database_url.startswith(("postgresql://", "postgres://")):
            _problem(env, "DATABASE_URL must be a postgresql:// URL")
        connect_timeout = _float(env, "DIGIT_CONNECT_TIMEOUT", 3.05)
        read_timeout = _float(env, "DIGIT_READ_TIMEOUT", 20.0)
        deadline = _float(env, "DIGIT_CALL_DEADLINE_SECONDS", connect_timeout + read_timeout)
        lease_ttl = _float(env, "LEASE_TTL_SECONDS", 0.0, positive=False) or read_timeout + 10.0
        # A create that is still in flight when its lease lapses would let another attempt look,
        # find nothing yet, and create again: the lease must outlive the whole exchange.
        if lease_ttl <= deadline:
            _problem(
                env,
                f"LEASE_TTL_SECONDS ({lease_ttl:g}) must exceed DIGIT_CALL_DEADLINE_SECONDS "
                f"({deadline:g}): a registration's lease must outlive its DIGIT call",
            )
        mdms_path = _str(env, "MDMS_SEARCH_PATH", "/egov-mdms-service/v1/_search")
        if not mdms_path.startswith("/"):
            _problem(env, f"MDMS_SEARCH_PATH must start with /, got {mdms_path!r}")
        sweep_lookback = _int(env, "WEBHOOK_SWEEP_LOOKBACK_SECONDS", 3 * 86400, at_least=1)
        sweep_grace = _int(env, "WEBHOOK_SWEEP_GRACE_SECONDS", 120, at_least=0)
        if sweep_lookback <= sweep_grace:
            _problem(
                env,
                f"WEBHOOK_SWEEP_LOOKBACK_SECONDS ({sweep_lookback}) must exceed"
                f" WEBHOOK_SWEEP_GRACE_SECONDS ({sweep_grace}): the sweeper would find nothing",
            )
        settings = cls(
            digit_base_url=base_url.rstrip("/"),
            digit_username=username,
            digit_password=password,
            digit_tenant_id=tenant,
            digit_state_tenant=state_tenant,
            digit_user_type=user_type,
            digit_client_id=_str(env, "DIGIT_CLIENT_ID", "egov-user-client"),
            digit_client_secret=env.get("DIGIT_CLIENT_SECRET", ""),
            digit_connect_timeout=connect_timeout,
            digit_read_timeout=read_timeout,
            digit_call_deadline_seconds=deadline,
            digit_timezone=tz,
            digit_ca_bundle=ca_bundle,
            digit_pool_size=_int(env, "DIGIT_POOL_SIZE", 200, at_least=1),
            digit_proxy_url=_url(env, "DIGIT_PROXY_URL", ("http", "https")) or None,
            token_leeway_seconds=_int(env, "DIGIT_TOKEN_LEEWAY_SECONDS", 300, at_least=0),
            mdms_cache_seconds=_int(env, "MDMS_CACHE_SECONDS", 900, at_least=1),
            collectable_services=_list(
                env,
                "COLLECTABLE_SERVICES",
                "WS,SW,PT,TL",
                pattern=SERVICE_CODE_FORM,
                form="DIGIT businessService code (WS, PT)",
            ),
            mdms_search_path=mdms_path,
            digit_collect_role_codes=_list(
                env,
                "DIGIT_COLLECT_ROLE_CODES",
                DEFAULT_COLLECT_ROLE_CODES,
                pattern=ROLE_CODE_FORM,
                form="DIGIT role code (UC_EMP, TL_*)",
            ),
            digit_search_role_codes=_role_map(
                env, "DIGIT_SEARCH_ROLE_CODES", DEFAULT_SEARCH_ROLE_CODES
            ),
            digit_cancel_role_codes=_role_map(
                env, "DIGIT_CANCEL_ROLE_CODES", DEFAULT_CANCEL_ROLE_CODES
            ),
            bills_deadline_seconds=_float(env, "BILLS_DEADLINE_SECONDS", 8.0),
            database_url=database_url or private_database_url(pg_port),
            database_embedded=database_url == "",
            database_pool_size=_int(env, "DATABASE_POOL_SIZE", 20, at_least=1),
            pg_port=pg_port,
            redis_url=redis_url or f"redis://127.0.0.1:{redis_port}/0",
            redis_embedded=redis_url == "",
            redis_port=redis_port,
            sandbox_port=_int(env, "SANDBOX_PORT", 8090, **PORT_RANGE),
            registration_budget_seconds=_float(env, "REGISTRATION_BUDGET_SECONDS", 5.0),
            advance_cap=_decimal(env, "ADVANCE_CAP", "10000", at_least=Decimal(0)),
            bill_expiry_margin_seconds=_int(env, "BILL_EXPIRY_MARGIN_SECONDS", 900, at_least=0),
            snapshot_max_age_seconds=_int(env, "SNAPSHOT_MAX_AGE_SECONDS", 86400, at_least=0),
            served_bill_trust_seconds=_int(env, "SERVED_BILL_TRUST_SECONDS", 600, at_least=0),
            # 0 would refuse every request (store/ratelimit.py)
            device_rate_limit_per_minute=_int(env, "DEVICE_RATE_LIMIT_PER_MINUTE", 600, at_least=1),
            mobile_fetch_concurrency=_int(env, "MOBILE_FETCH_CONCURRENCY", 8, at_least=1),
            lease_ttl_seconds=lease_ttl,
            create_settle_seconds=_int(env, "CREATE_SETTLE_SECONDS", 7200, at_least=0),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 64 * 1024, at_least=1),
            retry_schedule_seconds=_seconds_list(
                env, "RETRY_SCHEDULE_SECONDS", "10,30,120,600,1800,3600"
            ),
            retry_max_age_seconds=_int(env, "RETRY_MAX_AGE_SECONDS", 172800, at_least=1),
            auth_blocked_retry_seconds=_int(env, "AUTH_BLOCKED_RETRY_SECONDS", 60, at_least=1),
            auth_blocked_max_seconds=_int(env, "AUTH_BLOCKED_MAX_SECONDS", 21600, at_least=1),
            sweeper_period_seconds=_float(env, "SWEEPER_PERIOD_SECONDS", 30.0),
            digit_probe_seconds=_float(env, "DIGIT_PROBE_SECONDS", 30.0),
            registration_job_timeout_seconds=_int(
                env, "REGISTRATION_JOB_TIMEOUT_SECONDS", 300, at_least=1
            ),
            worker_maintenance_seconds=_int(env, "WORKER_MAINTENANCE_SECONDS", 120, at_least=1),
            worker_fork_per_job=_bool(env, "WORKER_FORK_PER_JOB", False),
            webhook_retry_seconds=_seconds_list(
                env, "WEBHOOK_RETRY_SECONDS", "10,30,60,300,900,1800,3600,3600"
            ),
            # SSRF guard off: tests and the sandbox only (integrator.webhooks.targets)
            webhook_allow_private_targets=_bool(env, "WEBHOOK_ALLOW_PRIVATE_TARGETS", False),
            webhook_sweep_lookback_seconds=sweep_lookback,
            webhook_sweep_grace_seconds=sweep_grace,
            sandbox_mode=sandbox_mode,
            log_level=_choice(env, "LOG_LEVEL", "INFO", LOG_LEVELS),
            port=_int(env, "PORT", 8000, **PORT_RANGE),
            bind=_listen_address(env, "BIND", "127.0.0.1"),
            # two gevent processes per core: each waits on DIGIT for hundreds of requests, and two
            # per core keep the web app's share of the CPU when other processes need it too
            web_workers=_int(env, "WEB_WORKERS", 2 * (os.cpu_count() or 1), at_least=1),
            web_threads=_int(env, "WEB_THREADS", 32, at_least=1),
            web_worker_class=_choice(env, "WEB_WORKER_CLASS", "gevent", WEB_WORKER_CLASSES),
            web_connections=_int(env, "WEB_CONNECTIONS", 1000, at_least=1),
            trusted_proxy_count=_int(env, "TRUSTED_PROXY_COUNT", 0, at_least=0),
            var_dir=_str(env, "VAR_DIR", "var"),
            keep_local_state=_bool(env, "KEEP_LOCAL_STATE", False),
            secret_key=_str(env, "SECRET_KEY", "") or None,
            ops_users=_list(env, "OPS_USERS", ""),
            ops_cookie_secure=_bool(env, "OPS_COOKIE_SECURE", False),
            ops_login_attempts_per_minute=_int(
                env, "OPS_LOGIN_ATTEMPTS_PER_MINUTE", 10, at_least=1
            ),
            settlement_timezone=_zone(env, "SETTLEMENT_TIMEZONE", "Asia/Kolkata"),
            reconcile_lookback_days=_int(env, "RECONCILE_LOOKBACK_DAYS", 7, at_least=1),
            # 0: devices may not cancel at all
            cancellation_window_minutes=_int(env, "CANCELLATION_WINDOW_MINUTES", 30, at_least=0),
            cancellation_dues_poll_seconds=_seconds_list(
                env, "CANCELLATION_DUES_POLL_SECONDS", "30,60,120,300,600,1800,3600"
            ),
            receipt_cache_seconds=_int(env, "RECEIPT_CACHE_SECONDS", 600, at_least=1),
            # 0: no lookups of receipts a device did not collect
            receipt_lookups_per_minute=_int(env, "RECEIPT_LOOKUPS_PER_MINUTE", 20, at_least=0),
            offline_batch_max=_int(env, "OFFLINE_BATCH_MAX", 50, at_least=1),
            offline_max_age_seconds=_int(env, "OFFLINE_MAX_AGE_SECONDS", 72 * 3600, at_least=1),
            # 0: every offline CASH payment is quarantined
            offline_cash_limit=_decimal(env, "OFFLINE_CASH_LIMIT", "20000", at_least=Decimal(0)),
            cash_in_hand_cap=_decimal(env, "CASH_IN_HAND_CAP", "0", at_least=Decimal(0)),
        )
        return settings, list(dict.fromkeys(env.problems))

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (tests and the CLI use this)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise SettingsError(f"unknown settings: {sorted(unknown)}")
        return replace(self, **changes)
