"""Operator actions, done and refused: who tried what on which payment, from the console or the
CLI, and what came of it. A refusal changes no payment, so the payment's own history cannot hold
it; this table does (append-only, like the history).

Also indexes for the ops list's filters by NEEDS_ATTENTION reason and by resolution (partial:
most payments have neither) and by device, newest first like the list.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE operator_actions (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at timestamptz NOT NULL,
            operator text NOT NULL,
            via text NOT NULL CHECK (via IN ('console', 'cli')),
            action text NOT NULL,
            -- no foreign key: a refusal may name a payment that does not exist
            payment_id text,
            outcome text NOT NULL CHECK (outcome IN ('done', 'refused')),
            code text,
            message text,
            detail jsonb NOT NULL DEFAULT '{}'
        )
    """)
    op.execute("CREATE INDEX operator_actions_by_payment ON operator_actions (payment_id, seq)")
    op.execute("CREATE INDEX operator_actions_by_at ON operator_actions (at DESC)")
    op.execute(
        "CREATE TRIGGER operator_actions_append_only BEFORE UPDATE OR DELETE"
        " ON operator_actions FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
    )

    op.execute(
        "CREATE INDEX payments_by_reason ON payments (needs_attention_reason, created_at DESC)"
        " WHERE needs_attention_reason IS NOT NULL"
    )
    op.execute(
        "CREATE INDEX payments_by_resolution ON payments (resolution, created_at DESC)"
        " WHERE resolution IS NOT NULL"
    )
    op.execute("CREATE INDEX payments_by_device ON payments (device_id, created_at DESC, id DESC)")


def downgrade() -> None:
    op.execute("DROP INDEX payments_by_device")
    op.execute("DROP INDEX payments_by_resolution")
    op.execute("DROP INDEX payments_by_reason")
    op.execute("DROP TABLE operator_actions")
