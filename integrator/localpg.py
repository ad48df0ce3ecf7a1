"""Private PostgreSQL clusters for `make run`, the tests, the chaos run and the benchmark.

Development and test tooling only: the web app and the worker never import this module (they are
given a DATABASE_URL). Every part of the project gets its OWN cluster on its own port and
directory, as it gets its own redis-server; the machine's system cluster (5432) is never used.

    cluster = PrivateCluster(Path("var/pg"), 5440, name="run-local")
    cluster.init()                       # initdb once (no-op when already initialised)
    cluster.start()                      # pg_ctl start, then wait_ready()
    cluster.ensure_database("integrator")
    url = cluster.url("integrator")      # postgresql://integrator@127.0.0.1:5440/integrator
    cluster.stop()                       # fast shutdown;  cluster.kill(): SIGKILL, a crash

Replication (the chaos run and tests/integration/test_localpg.py):

    standby = make_standby(primary, Path(".../standby"), 5441, application_name="standby1")
    standby.start()
    set_synchronous_standby(primary, "standby1")    # every commit now waits for the standby
    primary.kill(); standby.promote()
    multi_host_url([primary, standby], "integrator") # target_session_attrs=read-write

Layout of a cluster's directory (`data_dir`), all of it owned by the server's user:

    data_dir/pgdata/          PGDATA (what initdb and pg_basebackup fill)
    data_dir/socket/          the Unix socket (never /var/run/postgresql, the system cluster's)
    data_dir/postgresql.log   the server's log (pg_ctl -l)

Keeping the socket and the log beside PGDATA rather than in it keeps pg_basebackup's copy clean.

Who runs the server: the current user; when that is root (initdb and pg_ctl refuse root), the
system user `postgres` (Debian's package creates it), else `integrator-pg`, created on first use.
Authentication is `trust`, for the Unix socket and 127.0.0.1 only, and the server listens on
127.0.0.1 only: these clusters hold test and demo data, never production's.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import re
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql

from integrator.settings import LOCAL_PG_USER

FALLBACK_SYSTEM_USER = "integrator-pg"  # created when running as root and `postgres` is absent
START_TIMEOUT_SECONDS = 60
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes; ".s.PGSQL.NNNNN" must fit after the directory
_APPLICATION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# libpq reads these from the environment; a developer's PGPORT or PGDATA must never steer a
# private cluster's tools towards the system cluster
_LIBPQ_ENV = re.compile(r"^PG[A-Z]+$")


class LocalPostgresError(RuntimeError):
    """A private cluster could not be set up, started, stopped or queried; says why."""


class PostgresNotInstalled(LocalPostgresError):
    """No initdb/pg_ctl under /usr/lib/postgresql/*/bin or on PATH (bin/ensure-postgres)."""


def find_bindir() -> Path:
    """The newest /usr/lib/postgresql/N/bin with initdb and pg_ctl, else the one on PATH."""
    candidates: list[tuple[int, Path]] = []
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        for version_dir in root.iterdir():
            bindir = version_dir / "bin"
            if version_dir.name.isdigit() and _has_tools(bindir):
                candidates.append((int(version_dir.name), bindir))
    if candidates:
        return max(candidates)[1]
    on_path = shutil.which("pg_ctl")
    if on_path is not None and _has_tools(Path(on_path).parent):
        return Path(on_path).parent
    raise PostgresNotInstalled(
        "PostgreSQL's initdb/pg_ctl were not found under /usr/lib/postgresql/*/bin or on PATH; "
        "run bin/ensure-postgres (make does it) to install Debian's postgresql package"
    )


def _has_tools(bindir: Path) -> bool:
    return all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres"))


@dataclass(frozen=True)
class ServerUser:
    """The OS account the server runs as; `switch` when we are root and must drop to it."""

    name: str
    uid: int
    gid: int
    switch: bool

    @property
    def groups(self) -> list[int]:
        return os.getgrouplist(self.name, self.gid)


def server_user() -> ServerUser:
    """The current user, or when root a system user that initdb accepts (created if needed)."""
    euid = os.geteuid()
    if euid != 0:
        me = pwd.getpwuid(euid)
        return ServerUser(me.pw_name, me.pw_uid, me.pw_gid, switch=False)
    for name in ("postgres", FALLBACK_SYSTEM_USER):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return ServerUser(entry.pw_name, entry.pw_uid, entry.pw_gid, switch=True)
    subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            FALLBACK_SYSTEM_USER,
        ],
        check=True,
        capture_output=True,
    )
    entry = pwd.getpwnam(FALLBACK_SYSTEM_USER)
    return ServerUser(entry.pw_name, entry.pw_uid, entry.pw_gid, switch=True)


def scratch_dir(prefix: str, *, user: ServerUser | None = None) -> Path:
    """A new private temporary directory the server's user owns, for throw-away clusters.

    Under the system's temp dir, not pytest's: when we are root, pytest's /tmp/pytest-of-root is
    mode 0700 and the server's user could not reach a cluster inside it. Remove it when done.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    owner = user or server_user()
    if owner.switch:
        os.chown(path, owner.uid, owner.gid)
    return path


class PrivateCluster:
    """One PostgreSQL cluster of our own: a directory, a port on 127.0.0.1, a name for logs.

    `durable=False` is for test clusters only: initdb --no-sync and fsync=off (a crash of the
    machine may corrupt it; a crash of the server does not). Commits still wait for a
    synchronous standby either way (synchronous_commit=on).
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        name: str,
        durable: bool = True,
        bindir: Path | None = None,
        user: ServerUser | None = None,
    ) -> None:
        self.data_dir = data_dir.absolute()
        self.port = port
        self.name = name
        self.durable = durable
        self.bindir = bindir or find_bindir()
        self.user = user or server_user()
        self.superuser = LOCAL_PG_USER  # the role initdb creates; every URL connects as it

    def __repr__(self) -> str:
        return f"PrivateCluster({self.name!r}, port={self.port}, data_dir={str(self.data_dir)!r})"

    # --- layout ---
    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.data_dir / "socket"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "postgresql.log"

    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").is_file()

    # --- life cycle ---
    def init(self) -> None:
        """initdb: UTF8, C collation, trust for the socket and 127.0.0.1 only. Once only."""
        if self.initialised():
            return
        self._prepare_dirs()
        args = [
            str(self.bindir / "initdb"),
            "--pgdata",
            str(self.pgdata),
            "--username",
            self.superuser,
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--auth",
            "trust",
        ]
        if not self.durable:
            args.append("--no-sync")
        self._run(args, what="initdb")
        # replace initdb's pg_hba.conf: no ::1, nothing beyond this machine's loopback
        self._write_as_user(
            self.pgdata / "pg_hba.conf",
            "# written by integrator.localpg: trust, on this machine only\n"
            "local   all          all                 trust\n"
            "host    all          all   127.0.0.1/32  trust\n"
            "local   replication  all                 trust\n"
            "host    replication  all   127.0.0.1/32  trust\n",
        )

    def server_options(self) -> list[str]:
        """The settings the server starts with (`pg_ctl start -o`), as `-c name=value` pairs."""
        socket_dir = str(self.socket_dir)
        if len(socket_dir) + len(f"/.s.PGSQL.{self.port}") > SOCKET_PATH_MAX:
            socket_dir = ""  # too long for a Unix socket: TCP only (the tools all use TCP)
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": socket_dir,
            "fsync": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
            "synchronous_commit": "on",
            "wal_level": "replica",
            "max_wal_senders": "10",
            "wal_keep_size": "256MB",  # a standby stopped for a while can still catch up
            "hot_standby": "on",
            "max_connections": "200",
            "cluster_name": self.name,
            "logging_collector": "off",
            "log_line_prefix": "%m [%p] %q%a ",
        }
        options: list[str] = []
        for key, value in settings.items():
            options += ["-c", f"{key}={value}"]
        return options

    def start(self, *, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """pg_ctl start with `server_options()`, then wait until it takes connections."""
        if not self.initialised():
            raise LocalPostgresError(f"{self.name}: {self.pgdata} is not initialised (init())")
        self._remove_stale_pid_file()
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "start",
                "--pgdata",
                str(self.pgdata),
                "--log",
                str(self.log_path),
                "--wait",
                "--timeout",
                str(int(timeout)),
                "-o",
                shlex.join(self.server_options()),
            ],
            what="pg_ctl start",
        )
        self.wait_ready(timeout=timeout)

    def wait_ready(self, *, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Block until `SELECT 1` answers (a standby answers too: hot_standby=on)."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.Error as exc:
                last = exc
                time.sleep(0.1)
        raise LocalPostgresError(
            f"{self.name} on port {self.port} not ready after {timeout:.0f}s: {last}"
            f"{self.log_tail()}"
        )

    def stop(self, *, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Fast shutdown (open transactions are rolled back); no-op when it is not running."""
        if self.postmaster_pid() is None:
            return
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "stop",
                "--pgdata",
                str(self.pgdata),
                "--mode",
                "fast",
                "--wait",
                "--timeout",
                str(int(timeout)),
            ],
            what="pg_ctl stop",
        )

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends, as a crash would, and wait until gone.

        The next start() runs crash recovery from the WAL, as after a power cut (on a durable
        cluster nothing committed is lost).
        """
        pid = self.postmaster_pid()
        if pid is None:
            return
        victims = [pid, *_descendants(pid)]
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while any(_alive(victim) for victim in victims):
            if time.monotonic() > deadline:
                raise LocalPostgresError(f"{self.name}: processes {victims} survived SIGKILL")
            time.sleep(0.02)

    def promote(self, *, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Turn this standby into a primary (pg_ctl promote) and wait until it takes writes."""
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "promote",
                "--pgdata",
                str(self.pgdata),
                "--wait",
                "--timeout",
                str(int(timeout)),
            ],
            what="pg_ctl promote",
        )
        deadline = time.monotonic() + timeout
        while self.in_recovery():
            if time.monotonic() > deadline:
                raise LocalPostgresError(f"{self.name}: still in recovery after promote")
            time.sleep(0.05)

    # --- state ---
    def postmaster_pid(self) -> int | None:
        """The running postmaster's pid (from postmaster.pid), or None."""
        try:
            first = (self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first)
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def running(self) -> bool:
        return self.postmaster_pid() is not None

    def in_recovery(self) -> bool:
        """True on a standby (read-only, replaying the primary's WAL)."""
        with psycopg.connect(self.url("postgres"), connect_timeout=5) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        return bool(row and row[0])

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return f"\n--- last lines of {self.log_path}:\n" + "\n".join(text)

    # --- databases ---
    def url(self, dbname: str = "postgres") -> str:
        """A libpq URL: postgresql://integrator@127.0.0.1:PORT/dbname."""
        return f"postgresql://{quote(self.superuser)}@127.0.0.1:{self.port}/{quote(dbname)}"

    def ensure_database(self, name: str, *, template: str | None = None) -> bool:
        """CREATE DATABASE `name` (from `template` if given) unless it exists; True if created."""
        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is not None:
                return False
            statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template is not None:
                statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            conn.execute(statement)
        return True

    def drop_database(self, name: str) -> None:
        """DROP DATABASE IF EXISTS `name`, closing its connections first (WITH (FORCE))."""
        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    # --- plumbing ---
    def _prepare_dirs(self) -> None:
        for path in (self.data_dir, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
            if self.user.switch:
                os.chown(path, self.user.uid, self.user.gid)
            path.chmod(0o700)
        _check_reachable(self.data_dir, self.user)

    def _remove_stale_pid_file(self) -> None:
        # after kill() the lock files stay behind, naming a dead postmaster; postgres takes a
        # pid that still exists as a live postmaster, and a dead process whose parent has not
        # reaped it yet (pg_ctl's postmaster is an orphan: init reaps it, maybe late) still
        # exists, so it would refuse to start. We know better: a zombie is dead.
        for lock in [self.pgdata / "postmaster.pid", *self.socket_dir.glob(".s.PGSQL.*.lock")]:
            try:
                pid = int(lock.read_text().split("\n", 1)[0])
            except (OSError, ValueError):
                continue
            if not _alive(pid):
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()

    def _write_as_user(self, path: Path, text: str) -> None:
        path.write_text(text)
        if self.user.switch:
            os.chown(path, self.user.uid, self.user.gid)
        path.chmod(0o600)

    def _run(self, args: Sequence[str], *, what: str) -> None:
        done = run_as(self.user, args, cwd=self.data_dir)
        if done.returncode != 0:
            raise LocalPostgresError(
                f"{self.name}: {what} failed ({done.returncode}): {done.stdout.strip()}"
                f"{self.log_tail()}"
            )


def run_as(
    user: ServerUser, args: Sequence[str], *, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool as the server's user, without libpq's PG* environment variables."""
    env = {k: v for k, v in os.environ.items() if not _LIBPQ_ENV.match(k)}
    env["LC_ALL"] = "C"
    if user.switch:
        env["HOME"] = str(cwd or "/")
        env["USER"] = env["LOGNAME"] = user.name
    return subprocess.run(
        list(args),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        check=False,
        user=user.uid if user.switch else None,
        group=user.gid if user.switch else None,
        extra_groups=user.groups if user.switch else None,
    )


def make_standby(
    primary: PrivateCluster,
    data_dir: Path,
    port: int,
    *,
    application_name: str,
    name: str | None = None,
) -> PrivateCluster:
    """A new standby of `primary` (pg_basebackup -R, WAL streamed), not started yet.

    It connects to the primary as `application_name`, which is how `set_synchronous_standby`
    names it. The primary's synchronous_standby_names is cleared in the copy, so that a
    promoted standby does not wait for a standby of its own that does not exist.
    """
    if not _APPLICATION_NAME.match(application_name):
        raise LocalPostgresError(
            f"application_name must be lower-case letters, digits and _: {application_name!r}"
        )
    standby = PrivateCluster(
        data_dir,
        port,
        name=name or application_name,
        durable=primary.durable,
        bindir=primary.bindir,
        user=primary.user,
    )
    if standby.initialised():
        raise LocalPostgresError(f"{standby.name}: {standby.pgdata} already holds a cluster")
    standby._prepare_dirs()
    conninfo = (
        f"host=127.0.0.1 port={primary.port} user={primary.superuser} "
        f"application_name={application_name}"
    )
    args = [
        str(primary.bindir / "pg_basebackup"),
        "--pgdata",
        str(standby.pgdata),
        "--dbname",
        conninfo,
        "--write-recovery-conf",
        "--wal-method",
        "stream",
        "--checkpoint",
        "fast",
    ]
    if not primary.durable:
        args.append("--no-sync")
    standby._run(args, what="pg_basebackup")
    auto_conf = standby.pgdata / "postgresql.auto.conf"
    with auto_conf.open("a") as fh:
        # pg_basebackup -R wrote a primary_conninfo; restate it with our application_name
        # (later lines win) and start without the primary's synchronous standby list
        fh.write(f"primary_conninfo = '{conninfo}'\nsynchronous_standby_names = ''\n")
    return standby


def set_synchronous_standby(
    primary: PrivateCluster, application_name: str, *, timeout: float = 30.0
) -> None:
    """Make every commit on `primary` wait for `application_name`'s flush, and check it does.

    ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (name)', reload, then wait until
    pg_stat_replication reports that standby with sync_state = 'sync'.
    """
    if not _APPLICATION_NAME.match(application_name):
        raise LocalPostgresError(f"not a standby application_name: {application_name!r}")
    with psycopg.connect(primary.url("postgres"), autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}").format(
                sql.Literal(f"FIRST 1 ({application_name})")
            )
        )
        conn.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + timeout
        state: str | None = None
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s",
                (application_name,),
            ).fetchone()
            state = row[0] if row else None
            if state == "sync":
                return
            time.sleep(0.05)
    raise LocalPostgresError(
        f"{primary.name}: standby {application_name!r} is not synchronous after {timeout:.0f}s "
        f"(sync_state {state!r}){primary.log_tail()}"
    )


def multi_host_url(
    clusters: Iterable[PrivateCluster],
    dbname: str,
    *,
    target_session_attrs: str = "read-write",
    connect_timeout: int | None = 2,
) -> str:
    """One libpq URL over several clusters: libpq tries them in order and keeps the first that
    matches `target_session_attrs` (read-write: the primary, wherever it is now)."""
    members = list(clusters)
    if not members:
        raise LocalPostgresError("multi_host_url needs at least one cluster")
    users = {c.superuser for c in members}
    if len(users) != 1:
        raise LocalPostgresError(f"clusters disagree on the user: {sorted(users)}")
    hosts = ",".join(f"127.0.0.1:{c.port}" for c in members)
    params: dict[str, str] = {"target_session_attrs": target_session_attrs}
    if connect_timeout is not None:
        params["connect_timeout"] = str(connect_timeout)
    return f"postgresql://{quote(users.pop())}@{hosts}/{quote(dbname)}?{urlencode(params)}"


def reachable_dir(preferred: Path, *, user: ServerUser | None = None) -> Path:
    """`preferred` when the server's user can reach it; else a directory of its own under
    /var/tmp/integrator-pg (named after `preferred`, so the same caller finds the same cluster
    again). When we are root the server runs as another user, who cannot enter a checkout under a
    private directory (/root, or a 0700 temporary directory)."""
    owner = user or server_user()
    try:
        _check_reachable(preferred, owner)
        return preferred
    except LocalPostgresError:
        pass
    digest = hashlib.sha256(str(preferred.resolve()).encode()).hexdigest()[:12]
    # only reached as root (the server runs as another user); a directory someone else made, or
    # a symlink, is refused rather than trusted
    base = Path("/var/tmp/integrator-pg")  # noqa: S108
    base.mkdir(mode=0o755, exist_ok=True)
    st = base.lstat()
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid():
        raise LocalPostgresError(f"{base} is not a directory of ours; remove it or set VAR_DIR")
    elsewhere = base / f"{preferred.name}-{digest}"
    elsewhere.mkdir(mode=0o700, exist_ok=True)
    if owner.switch:
        os.chown(elsewhere, owner.uid, owner.gid)
    return elsewhere


def _check_reachable(path: Path, user: ServerUser) -> None:
    """The server's user must be able to traverse every directory above its data directory."""
    if not user.switch:
        return
    groups = set(user.groups)
    for ancestor in path.parents:
        if not ancestor.exists():
            continue
        st = ancestor.stat()
        if st.st_uid == user.uid:
            bit = stat.S_IXUSR
        elif st.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            raise LocalPostgresError(
                f"the PostgreSQL server runs as {user.name}, which cannot reach {path}: "
                f"{ancestor} is mode {stat.filemode(st.st_mode)} (put the cluster elsewhere, "
                f"for example under /tmp or /var/tmp, or chmod o+x {ancestor})"
            )


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            # "pid (comm) S ...": a zombie (Z) has exited; only its parent has not reaped it
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                for child in fh.read().split():
                    found += [int(child), *_descendants(int(child))]
    return found
