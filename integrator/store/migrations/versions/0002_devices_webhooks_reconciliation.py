"""Devices, their webhooks, webhook delivery attempts and reconciliation results, in the ledger
(they were in Redis, which keeps only a short-lived cache of devices by key hash).

The rules, as constraints:
- a device name is unique (UNIQUE), so two operators adding the same name make one device;
- a live key hash opens at most one device (partial UNIQUE index `WHERE revoked_at IS NULL`);
- a device has at least one tenant scope (CHECK);
- a device has at most one webhook (PRIMARY KEY device_id), of a device that exists (FK);
- delivery attempts are append-only (the trigger of 0001) and belong to a payment (FK);
- a payment has at most one reconciliation flag (PRIMARY KEY payment_id), with a known reason.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

REASONS = "'MISSING', 'CANCELLED', 'DISHONOURED', 'NOT_LIVE'"
OUTCOMES = "'delivered', 'retrying', 'failed'"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE devices (
            id text PRIMARY KEY,
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
            tenants text[] NOT NULL CHECK (cardinality(tenants) > 0),
            -- sha256 hex of the device's current key (never the key itself)
            key_hash text NOT NULL CHECK (key_hash ~ '^[0-9a-f]{64}$'),
            created_at timestamptz NOT NULL,
            key_rotated_at timestamptz,
            revoked_at timestamptz,
            CONSTRAINT devices_unique_name UNIQUE (name)
        )
    """)
    op.execute(
        "CREATE UNIQUE INDEX devices_one_live_key_hash ON devices (key_hash)"
        " WHERE revoked_at IS NULL"
    )
    op.execute("""
        CREATE TABLE device_webhooks (
            device_id text PRIMARY KEY REFERENCES devices (id),
            url text NOT NULL,
            -- kept as-is, unlike device keys: every delivery is signed with it
            secret text NOT NULL,
            created_at timestamptz NOT NULL
        )
    """)
    op.execute(f"""
        CREATE TABLE webhook_deliveries (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            payment_id text NOT NULL REFERENCES payments (id),
            delivery_id text NOT NULL,
            event text NOT NULL,
            attempt integer NOT NULL CHECK (attempt >= 1),
            at timestamptz NOT NULL,
            outcome text NOT NULL CHECK (outcome IN ({OUTCOMES})),
            status_code integer,
            error text
        )
    """)
    op.execute("CREATE INDEX webhook_deliveries_by_payment ON webhook_deliveries (payment_id, seq)")
    op.execute(
        "CREATE TRIGGER webhook_deliveries_append_only BEFORE UPDATE OR DELETE"
        " ON webhook_deliveries FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
    )
    op.execute(f"""
        CREATE TABLE reconciliation_flags (
            payment_id text PRIMARY KEY REFERENCES payments (id),
            reason text NOT NULL CHECK (reason IN ({REASONS})),
            digit_payment_id text,
            digit_status text,
            flagged_at timestamptz NOT NULL,
            checked_at timestamptz NOT NULL,
            detail jsonb NOT NULL DEFAULT '{{}}'
        )
    """)
    op.execute(
        "CREATE INDEX reconciliation_flags_by_flagged_at"
        " ON reconciliation_flags (flagged_at DESC, payment_id DESC)"
    )
    op.execute("""
        CREATE TABLE reconciliation_runs (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            saved_at timestamptz NOT NULL DEFAULT now(),
            summary jsonb NOT NULL
        )
    """)


def downgrade() -> None:
    for table in (
        "reconciliation_runs",
        "reconciliation_flags",
        "webhook_deliveries",
        "device_webhooks",
        "devices",
    ):
        op.execute(f"DROP TABLE {table}")
