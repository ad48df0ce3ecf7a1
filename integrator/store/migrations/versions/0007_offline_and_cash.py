"""Offline uploads, per-device limits, cash hand-overs and day closes.

The rules, as constraints:
- a payment is marked offline at most once (PRIMARY KEY payment_id), with when the device took
  the money and when it reached us;
- a device has at most one row of limit overrides (PRIMARY KEY device_id); a NULL column keeps
  the setting's default;
- a hand-over is append-only (the trigger of 0001); a counted amount different from what the
  ledger expected carries a reason (CHECK); the difference is computed, never typed;
- a day is closed once per device or city (PRIMARY KEY scope, scope_id, day), and a closed day's
  stored figures never change (append-only trigger).

Revision ID: 0007
Revises: 0002
"""

from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE offline_payments (
            payment_id text PRIMARY KEY REFERENCES payments (id),
            device_id text NOT NULL,
            -- the fingerprint of the request as the device sent it (the payment's own may be of
            -- the request re-targeted onto a successor bill)
            request_fingerprint text NOT NULL,
            collected_at timestamptz NOT NULL,
            uploaded_at timestamptz NOT NULL,
            quarantined boolean NOT NULL DEFAULT false,
            detail jsonb NOT NULL DEFAULT '{}',
            CONSTRAINT offline_payments_collected_before_upload
                CHECK (collected_at <= uploaded_at + interval '5 minutes')
        )
    """)
    op.execute(
        "CREATE INDEX offline_payments_by_device ON offline_payments (device_id, uploaded_at)"
    )
    op.execute("""
        CREATE TABLE device_limits (
            device_id text PRIMARY KEY REFERENCES devices (id),
            offline_max_age_seconds integer CHECK (offline_max_age_seconds > 0),
            offline_cash_limit numeric CHECK (offline_cash_limit >= 0),
            cash_in_hand_cap numeric CHECK (cash_in_hand_cap >= 0),
            updated_at timestamptz NOT NULL
        )
    """)
    op.execute("""
        CREATE TABLE cash_handovers (
            id text PRIMARY KEY,
            device_id text NOT NULL REFERENCES devices (id),
            tenant_id text NOT NULL,
            payment_mode text NOT NULL,
            expected numeric NOT NULL,
            counted numeric NOT NULL CHECK (counted >= 0),
            difference numeric GENERATED ALWAYS AS (counted - expected) STORED,
            reason text,
            cashier text NOT NULL,
            at timestamptz NOT NULL,
            CONSTRAINT cash_handovers_difference_has_reason
                CHECK (counted = expected OR length(btrim(coalesce(reason, ''))) > 0)
        )
    """)
    op.execute("CREATE INDEX cash_handovers_by_device ON cash_handovers (device_id, at)")
    op.execute("CREATE INDEX cash_handovers_by_tenant ON cash_handovers (tenant_id, at)")
    op.execute(
        "CREATE TRIGGER cash_handovers_append_only BEFORE UPDATE OR DELETE ON cash_handovers"
        " FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
    )
    op.execute("""
        CREATE TABLE day_closes (
            scope text NOT NULL CHECK (scope IN ('device', 'city')),
            scope_id text NOT NULL,
            day date NOT NULL,
            closed_at timestamptz NOT NULL,
            closed_by text NOT NULL,
            figures jsonb NOT NULL,
            PRIMARY KEY (scope, scope_id, day)
        )
    """)
    op.execute(
        "CREATE TRIGGER day_closes_append_only BEFORE UPDATE OR DELETE ON day_closes"
        " FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
    )
    # cash in hand and the day's figures sum a device's payments by mode: the index
    # payments_by_device (revision 0008) serves them


def downgrade() -> None:
    for table in ("day_closes", "cash_handovers", "device_limits", "offline_payments"):
        op.execute(f"DROP TABLE {table}")
