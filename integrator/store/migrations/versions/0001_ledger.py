"""The payments ledger: payments, the bills they pay, consumer claims, targeted bills, history,
idempotency records; registration leases and fencing tokens live in the payment's row.

The ledger's rules are constraints here, not conventions in code:
- money is `numeric`, positive and whole rupees where DIGIT requires it (CHECK);
- a status is one of the state machine's values (CHECK);
- one payment per (device, Idempotency-Key) (UNIQUE);
- one open payment per consumer (partial UNIQUE index on `payment_consumers ... WHERE open`);
- a bill id is paid by at most one live payment (partial UNIQUE index on
  `payment_bills ... WHERE live`);
- history and targeted bill ids are append-only (triggers refuse UPDATE and DELETE).

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = "'PENDING', 'REGISTERED', 'NEEDS_ATTENTION', 'RESOLVED'"


def upgrade() -> None:
    op.execute(f"""
        CREATE TABLE payments (
            id text PRIMARY KEY,
            device_id text NOT NULL,
            idempotency_key text NOT NULL,
            fingerprint text NOT NULL,
            status text NOT NULL CHECK (status IN ({STATUSES})),
            tenant_id text NOT NULL,
            payment_mode text NOT NULL,
            paid_by text NOT NULL,
            payer_name text,
            mobile_number text,
            mobile_last4 text,
            instrument_number text,
            instrument_date date,
            transaction_number text,
            collected_at timestamptz,
            created_at timestamptz NOT NULL,
            provisional boolean NOT NULL DEFAULT false,
            registered_at timestamptz,
            attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            last_error text,
            create_sent boolean NOT NULL DEFAULT false,
            digit_payment_id text,
            needs_attention_reason text,
            resolution text,
            total_amount numeric NOT NULL
                CHECK (total_amount > 0 AND total_amount = trunc(total_amount)),
            version integer NOT NULL DEFAULT 0,
            history_length integer NOT NULL DEFAULT 0,
            -- the registration lease: only the attempt holding `fence` may write while
            -- lease_until is in the future; every acquisition increments the fence
            fence bigint NOT NULL DEFAULT 0,
            lease_until timestamptz,
            CONSTRAINT payments_one_per_idempotency_key UNIQUE (device_id, idempotency_key),
            CONSTRAINT payments_registered_has_time
                CHECK (status <> 'REGISTERED' OR registered_at IS NOT NULL)
        )
    """)
    op.execute("CREATE INDEX payments_by_created ON payments (created_at DESC, id DESC)")
    op.execute("CREATE INDEX payments_by_status ON payments (status, created_at DESC, id DESC)")
    op.execute("CREATE INDEX payments_by_idempotency_key ON payments (idempotency_key)")
    op.execute(
        "CREATE INDEX payments_by_mobile_last4 ON payments (mobile_last4)"
        " WHERE mobile_last4 IS NOT NULL"
    )
    op.execute("""
        CREATE TABLE payment_bills (
            payment_id text NOT NULL REFERENCES payments (id),
            position smallint NOT NULL CHECK (position >= 0),
            bill_id text NOT NULL,
            bill_number text NOT NULL,
            consumer_code text NOT NULL,
            business_service text NOT NULL,
            amount numeric NOT NULL CHECK (amount > 0 AND amount = trunc(amount)),
            total_due numeric NOT NULL CHECK (total_due >= 0),
            receipt_number text,
            receipt_date timestamptz,
            retargeted_from text,
            balance_left numeric,
            live boolean NOT NULL DEFAULT true,
            PRIMARY KEY (payment_id, position)
        )
    """)
    op.execute(
        "CREATE UNIQUE INDEX payment_bills_one_live_payment_per_bill"
        " ON payment_bills (bill_id) WHERE live"
    )
    op.execute("CREATE INDEX payment_bills_by_bill ON payment_bills (bill_id)")
    op.execute("CREATE INDEX payment_bills_by_retargeted ON payment_bills (retargeted_from)")
    op.execute("CREATE INDEX payment_bills_by_consumer ON payment_bills (consumer_code)")
    op.execute(
        "CREATE INDEX payment_bills_by_receipt ON payment_bills (receipt_number)"
        " WHERE receipt_number IS NOT NULL"
    )
    op.execute("""
        CREATE TABLE payment_consumers (
            payment_id text NOT NULL REFERENCES payments (id),
            tenant_id text NOT NULL,
            business_service text NOT NULL,
            consumer_code text NOT NULL,
            open boolean NOT NULL DEFAULT true,
            PRIMARY KEY (payment_id, tenant_id, business_service, consumer_code)
        )
    """)
    op.execute(
        "CREATE UNIQUE INDEX payment_consumers_one_open_payment"
        " ON payment_consumers (tenant_id, business_service, consumer_code) WHERE open"
    )
    op.execute("""
        CREATE TABLE payment_targets (
            payment_id text NOT NULL REFERENCES payments (id),
            bill_id text NOT NULL,
            PRIMARY KEY (payment_id, bill_id)
        )
    """)
    op.execute("CREATE INDEX payment_targets_by_bill ON payment_targets (bill_id)")
    op.execute(f"""
        CREATE TABLE payment_history (
            payment_id text NOT NULL REFERENCES payments (id),
            seq integer NOT NULL CHECK (seq >= 0),
            at timestamptz NOT NULL,
            actor text NOT NULL,
            event text NOT NULL,
            from_status text CHECK (from_status IN ({STATUSES})),
            to_status text CHECK (to_status IN ({STATUSES})),
            reason text,
            codes text[] NOT NULL DEFAULT '{{}}',
            latency_ms integer,
            detail jsonb NOT NULL DEFAULT '{{}}',
            PRIMARY KEY (payment_id, seq)
        )
    """)
    op.execute("""
        CREATE TABLE idempotency_keys (
            device_id text NOT NULL,
            key text NOT NULL,
            fingerprint text NOT NULL,
            payment_id text REFERENCES payments (id),
            claim_token text,
            claimed_at timestamptz,
            PRIMARY KEY (device_id, key)
        )
    """)
    op.execute("""
        CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'raise_exception';
        END
        $$
    """)
    for table in ("payment_history", "payment_targets"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
        )


def downgrade() -> None:
    for table in (
        "idempotency_keys",
        "payment_history",
        "payment_targets",
        "payment_consumers",
        "payment_bills",
        "payments",
    ):
        op.execute(f"DROP TABLE {table}")
    op.execute("DROP FUNCTION ledger_append_only()")
