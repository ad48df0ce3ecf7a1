"""Reconciliation flags may say REMITTED: one of our CASH, CHEQUE or DD payments was remitted in
DIGIT, which billing consumes like a cancellation (the dues re-open although we collected).

The rule, as a constraint: a flag's reason is one of the reconciliation verdicts (CHECK).

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OLD_REASONS = "'MISSING', 'CANCELLED', 'DISHONOURED', 'NOT_LIVE', 'DUPLICATE_IN_DIGIT'"
REASONS = OLD_REASONS + ", 'REMITTED'"


def _reason_check(reasons: str) -> None:
    op.execute("ALTER TABLE reconciliation_flags DROP CONSTRAINT reconciliation_flags_reason_check")
    op.execute(
        "ALTER TABLE reconciliation_flags ADD CONSTRAINT reconciliation_flags_reason_check"
        f" CHECK (reason IN ({reasons}))"
    )


def upgrade() -> None:
    _reason_check(REASONS)


def downgrade() -> None:
    # flags are the ops record of what DIGIT did: going back is refused while one says REMITTED
    op.execute("""
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM reconciliation_flags WHERE reason = 'REMITTED') THEN
            RAISE EXCEPTION 'REMITTED flags exist; the schema cannot go below 0010';
          END IF;
        END $$
    """)
    _reason_check(OLD_REASONS)
