"""Reverse reconciliation: what DIGIT holds that the ledger does not explain, and operators'
acknowledgements of every reconciliation flag.

- `reconciliation_flags` (a REGISTERED payment that no longer holds in DIGIT) may now also say
  `DUPLICATE_IN_DIGIT` (two live DIGIT payments carry the payment's id), and carries who
  acknowledged it, when, and their note.
- `reconciliation_findings`: one row per DIGIT payment the walk of DIGIT's payments flagged
  (UNIQUE (kind, digit_payment_id), so a second walk refreshes the row instead of adding one).
  The ledger payment it names may not exist (a DIGIT payment carrying an id the ledger never
  held, e.g. after a restore): no foreign key. A finding a later walk no longer sees is
  `cleared_at`; an acknowledged one keeps its note. Kinds:
    ORPHAN     a live DIGIT payment carrying our id that the ledger does not hold as REGISTERED
    DUPLICATE  one of two or more live DIGIT payments carrying the same id of ours
    DIFFERS    ours, but its amounts or bills differ from what the ledger registered

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

REASONS = "'MISSING', 'CANCELLED', 'DISHONOURED', 'NOT_LIVE', 'DUPLICATE_IN_DIGIT'"
OLD_REASONS = "'MISSING', 'CANCELLED', 'DISHONOURED', 'NOT_LIVE'"
KINDS = "'ORPHAN', 'DUPLICATE', 'DIFFERS'"


def upgrade() -> None:
    op.execute("ALTER TABLE reconciliation_flags DROP CONSTRAINT reconciliation_flags_reason_check")
    op.execute(
        "ALTER TABLE reconciliation_flags ADD CONSTRAINT reconciliation_flags_reason_check"
        f" CHECK (reason IN ({REASONS}))"
    )
    op.execute("""
        ALTER TABLE reconciliation_flags
            ADD COLUMN acknowledged_at timestamptz,
            ADD COLUMN acknowledged_by text,
            ADD COLUMN ack_note text,
            ADD CONSTRAINT reconciliation_flags_ack_complete CHECK (
                (acknowledged_at IS NULL) = (acknowledged_by IS NULL)
                AND (acknowledged_at IS NULL) = (ack_note IS NULL))
    """)
    op.execute(f"""
        CREATE TABLE reconciliation_findings (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind text NOT NULL CHECK (kind IN ({KINDS})),
            digit_payment_id text NOT NULL,
            -- the integrator payment id the DIGIT payment carries (not necessarily in the ledger)
            payment_id text NOT NULL,
            tenant_id text NOT NULL,
            business_service text NOT NULL,
            digit_status text,
            amount numeric NOT NULL,
            receipt_numbers text[] NOT NULL DEFAULT '{{}}',
            bill_ids text[] NOT NULL DEFAULT '{{}}',
            transaction_date timestamptz,
            -- what the ledger holds for payment_id when found: a status, or NULL when unknown
            ledger_status text,
            detail jsonb NOT NULL DEFAULT '{{}}',
            found_at timestamptz NOT NULL,
            checked_at timestamptz NOT NULL,
            cleared_at timestamptz,
            acknowledged_at timestamptz,
            acknowledged_by text,
            ack_note text,
            CONSTRAINT reconciliation_findings_one_per_kind UNIQUE (kind, digit_payment_id),
            CONSTRAINT reconciliation_findings_ack_complete CHECK (
                (acknowledged_at IS NULL) = (acknowledged_by IS NULL)
                AND (acknowledged_at IS NULL) = (ack_note IS NULL))
        )
    """)
    op.execute(
        "CREATE INDEX reconciliation_findings_open ON reconciliation_findings (found_at DESC, id)"
        " WHERE cleared_at IS NULL"
    )
    op.execute(
        "CREATE INDEX reconciliation_findings_by_payment ON reconciliation_findings (payment_id)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE reconciliation_findings")
    op.execute("DELETE FROM reconciliation_flags WHERE reason = 'DUPLICATE_IN_DIGIT'")
    op.execute("""
        ALTER TABLE reconciliation_flags
            DROP CONSTRAINT reconciliation_flags_ack_complete,
            DROP COLUMN acknowledged_at,
            DROP COLUMN acknowledged_by,
            DROP COLUMN ack_note
    """)
    op.execute("ALTER TABLE reconciliation_flags DROP CONSTRAINT reconciliation_flags_reason_check")
    op.execute(
        "ALTER TABLE reconciliation_flags ADD CONSTRAINT reconciliation_flags_reason_check"
        f" CHECK (reason IN ({OLD_REASONS}))"
    )
