"""Which payments each cash hand-over settled, so that a payment reversed later is known to be the
collector's money (still in hand) or the cashier's (handed over already).

The rules, as constraints:
- a payment is handed over at most once (PRIMARY KEY payment_id), by one hand-over of the device
  that collected it;
- the record is append-only (the trigger of 0001), like the hand-overs themselves.

Hand-overs recorded before this revision settled "the balance" without naming payments; they are
linked here by time: each payment is taken to have gone with the device's first hand-over of its
city and mode at or after it was accepted, unless it was reversed (cancelled, dishonoured,
refunded) before that hand-over.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE cash_handover_payments (
            payment_id text PRIMARY KEY REFERENCES payments (id),
            handover_id text NOT NULL REFERENCES cash_handovers (id)
        )
    """)
    op.execute(
        "CREATE INDEX cash_handover_payments_by_handover ON cash_handover_payments (handover_id)"
    )
    op.execute(
        "CREATE TRIGGER cash_handover_payments_append_only"
        " BEFORE UPDATE OR DELETE ON cash_handover_payments"
        " FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
    )
    op.execute("""
        INSERT INTO cash_handover_payments (payment_id, handover_id)
        SELECT p.id, first.id
        FROM payments p
        CROSS JOIN LATERAL (
            SELECT c.id, c.at FROM cash_handovers c
            WHERE c.device_id = p.device_id AND c.tenant_id = p.tenant_id
              AND c.payment_mode = p.payment_mode AND c.at >= p.created_at
            ORDER BY c.at, c.id
            LIMIT 1
        ) first
        WHERE p.status <> 'REFUSED'
          AND NOT EXISTS (
            SELECT 1 FROM payment_history h
            WHERE h.payment_id = p.id AND h.at < first.at
              AND (h.to_status IN ('CANCELLED', 'DISHONOURED')
                   OR (h.to_status = 'RESOLVED' AND h.reason = 'REFUNDED'))
          )
    """)


def downgrade() -> None:
    op.execute("DROP TABLE cash_handover_payments")
