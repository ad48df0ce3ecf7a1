"""What `integrator check` and /readyz say about the ledger: reachable, schema, durability.

A payment is acknowledged only after its transaction commits, so what "committed" means on this
server matters: `fsync` must be on, `synchronous_commit` at least `on`, and for a failover that
loses nothing, a synchronous standby (`synchronous_standby_names`) must be configured and
streaming in `sync` state.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from integrator.store.schema_version import current_revision, head_revision


@dataclass(frozen=True, kw_only=True)
class LedgerHealth:
    reachable: bool
    schema: str | None  # the revision the database is at
    schema_head: str  # the revision this code needs
    fsync: str | None = None
    synchronous_commit: str | None = None
    synchronous_standby_names: str | None = None
    sync_standbys_streaming: int = 0
    in_recovery: bool | None = None  # a standby (read-only) answered instead of the primary
    error: str | None = None

    @property
    def schema_current(self) -> bool:
        return self.schema == self.schema_head

    def problems(self) -> list[str]:
        """What would stop the web app or the worker, or make an acknowledged payment unsafe."""
        found: list[str] = []
        if not self.reachable:
            return [f"the database cannot be reached: {self.error}"]
        if not self.schema_current:
            found.append(
                f"schema at {self.schema or 'nothing'}, needs {self.schema_head}:"
                " run `integrator db upgrade`"
            )
        if self.in_recovery:
            found.append("connected to a standby (read-only): use target_session_attrs=read-write")
        if self.fsync != "on":
            found.append(f"fsync is {self.fsync!r}: a crash can lose acknowledged payments")
        if self.synchronous_commit in {"off", "local"} and self.synchronous_standby_names:
            found.append(
                f"synchronous_commit is {self.synchronous_commit!r}: a failover can lose"
                " acknowledged payments"
            )
        return found

    def warnings(self) -> list[str]:
        if self.reachable and not self.synchronous_standby_names:
            return [
                "no synchronous standby (synchronous_standby_names is empty): a failover to an"
                " asynchronous replica can lose acknowledged payments (docs/scale-out.md)"
            ]
        if self.reachable and self.sync_standbys_streaming == 0:
            return ["a synchronous standby is configured but none is streaming in sync state"]
        return []


def ledger_health(url: str) -> LedgerHealth:
    head = head_revision()
    try:
        with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
            settings: dict[str, str] = dict(
                conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name IN"
                    " ('fsync', 'synchronous_commit', 'synchronous_standby_names')"
                ).fetchall()
            )
            row = conn.execute(
                "SELECT pg_is_in_recovery(),"
                " (SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync')"
            ).fetchone()
        schema = current_revision(url)
    except psycopg.Error as exc:
        return LedgerHealth(reachable=False, schema=None, schema_head=head, error=str(exc))
    assert row is not None
    return LedgerHealth(
        reachable=True,
        schema=schema,
        schema_head=head,
        fsync=settings.get("fsync"),
        synchronous_commit=settings.get("synchronous_commit"),
        synchronous_standby_names=settings.get("synchronous_standby_names") or None,
        sync_standbys_streaming=int(row[1]),
        in_recovery=bool(row[0]),
    )
