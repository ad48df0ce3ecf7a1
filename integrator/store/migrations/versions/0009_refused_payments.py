"""REFUSED payments: DIGIT refused the first create while the device waited for its answer.

The rule, as a constraint: a payment's status (and every history entry's) is one of the state
machine's values, now with REFUSED (CHECK). A REFUSED payment holds no consumer and no bill
(`payment_consumers.open` and `payment_bills.live` are false), like a RESOLVED one.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OLD_STATUSES = "'PENDING', 'REGISTERED', 'NEEDS_ATTENTION', 'RESOLVED', 'CANCELLED', 'DISHONOURED'"
STATUSES = OLD_STATUSES + ", 'REFUSED'"


def _status_checks(statuses: str) -> None:
    op.execute("ALTER TABLE payments DROP CONSTRAINT payments_status_check")
    op.execute(
        f"ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (status IN ({statuses}))"
    )
    for column in ("from_status", "to_status"):
        op.execute(f"ALTER TABLE payment_history DROP CONSTRAINT payment_history_{column}_check")
        op.execute(
            f"ALTER TABLE payment_history ADD CONSTRAINT payment_history_{column}_check"
            f" CHECK ({column} IN ({statuses}))"
        )


def upgrade() -> None:
    _status_checks(STATUSES)


def downgrade() -> None:
    # the ledger never deletes a payment: going back is refused while any REFUSED one exists
    op.execute("""
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM payments WHERE status = 'REFUSED') THEN
            RAISE EXCEPTION 'REFUSED payments exist; the schema cannot go below 0009';
          END IF;
        END $$
    """)
    _status_checks(OLD_STATUSES)
