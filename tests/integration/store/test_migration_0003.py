"""Revision 0003 on a real PostgreSQL: a flag may say DUPLICATE_IN_DIGIT, an acknowledgement is
all of who, when and a note or none of them, a finding is unique per kind and DIGIT payment, and
the revision goes down to 0002 and up again."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from alembic import command

from integrator.store import migrations
from integrator.store.db import Database
from integrator.store.payments import PaymentStore
from integrator.store.reconciliation import ReconciliationStore
from tests.integration.test_reconciliation import store_registered

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def _alembic(url: str, verb: str, target: str) -> None:
    engine = migrations._engine(url)
    try:
        with engine.connect() as connection:
            config = migrations._config()
            config.attributes["connection"] = connection
            getattr(command, verb)(config, target)
            connection.commit()
    finally:
        engine.dispose()


def test_flags_and_findings_keep_their_rules_and_0003_goes_down_and_up(
    db: Database, database_url: str
) -> None:
    payment = store_registered(PaymentStore(db))
    flags = ReconciliationStore(db)
    assert flags.flag(
        payment.id, reason="DUPLICATE_IN_DIGIT", digit_payment_id="DP-2", digit_status="NEW", at=NOW
    )
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "UPDATE reconciliation_flags SET acknowledged_at = now() WHERE payment_id = %s",
            (payment.id,),
        )
    with psycopg.connect(database_url, autocommit=True) as conn:
        insert = (
            "INSERT INTO reconciliation_findings (kind, digit_payment_id, payment_id, tenant_id,"
            " business_service, amount, found_at, checked_at)"
            " VALUES (%s, 'DP-9', 'pay-9', 'pb.amritsar', 'WS', 815, now(), now())"
        )
        conn.execute(insert, ("ORPHAN",))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(insert, ("ORPHAN",))
        conn.execute(insert, ("DUPLICATE",))
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(insert, ("SOMETHING",))
    db.close()

    _alembic(database_url, "downgrade", "0002")
    assert migrations.current_revision(database_url) == "0002"
    with psycopg.connect(database_url) as conn:
        left = conn.execute("SELECT count(*) FROM reconciliation_flags").fetchone()
        assert left == (0,)  # a DUPLICATE_IN_DIGIT flag cannot exist below 0003
    _alembic(database_url, "upgrade", "head")
    assert migrations.current_revision(database_url) == migrations.head_revision()
