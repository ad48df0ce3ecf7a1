"""Payments' status changes by time: what the webhook sweeper reads to find deliveries owed by
recent moves (integrator.store.webhooks `WebhookStore.owed`) without scanning every payment.

No rule changes: an index only. History entries that are not transitions (e.g. attempts) have no
`to_status` and are left out; the columns the sweeper reads of a transition are in the index, so
the moves of the look-back that report no event (e.g. to PENDING) are skipped without reading the
table.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX payment_history_transitions_by_at ON payment_history (at)"
        " INCLUDE (payment_id, seq, to_status) WHERE to_status IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX payment_history_transitions_by_at")
