"""Reversals: CANCELLED and DISHONOURED payments, and the requests that lead to them.

The rules, as constraints:
- a payment's status (and every history entry's) is one of the state machine's values, now with
  CANCELLED and DISHONOURED (CHECK);
- a request names a payment of the ledger (FK), an action DIGIT knows (CANCEL, DISHONOUR; never
  REMIT, which billing reverses like a cancellation) and a reason (CHECK);
- whoever decides a request is not who asked for it (CHECK: maker-checker);
- a payment has at most one request under way or done (partial UNIQUE index): a rejected or
  refused request may be followed by a new one, two live ones never coexist;
- a decided request names who decided and when (CHECK).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OLD_STATUSES = "'PENDING', 'REGISTERED', 'NEEDS_ATTENTION', 'RESOLVED'"
STATUSES = OLD_STATUSES + ", 'CANCELLED', 'DISHONOURED'"
REQUEST_STATES = "'REQUESTED', 'REJECTED', 'SENDING', 'UNKNOWN', 'REFUSED', 'DONE'"
LIVE_STATES = "'REQUESTED', 'SENDING', 'UNKNOWN', 'DONE'"
DUES_STATES = "'FOLLOWING', 'REOPENED', 'NONE_DUE', 'GAVE_UP'"


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
    # the settlement report reads a day's reversals from the history
    op.execute(
        "CREATE INDEX payment_history_reversals ON payment_history (at)"
        " WHERE to_status IN ('CANCELLED', 'DISHONOURED')"
    )
    op.execute(f"""
        CREATE TABLE cancellation_requests (
            id text PRIMARY KEY,
            payment_id text NOT NULL REFERENCES payments (id),
            action text NOT NULL CHECK (action IN ('CANCEL', 'DISHONOUR')),
            reason text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 500),
            -- "device:<id>" or "operator:<name>"
            requested_by text NOT NULL,
            requested_at timestamptz NOT NULL,
            state text NOT NULL CHECK (state IN ({REQUEST_STATES})),
            decided_by text,
            decided_at timestamptz,
            decision_note text,
            -- DIGIT's answer: its Errors[].code on a refusal, the updated payment on success
            digit_codes text[] NOT NULL DEFAULT '{{}}',
            digit_message text,
            digit_answer jsonb,
            sent_at timestamptz,
            completed_at timestamptz,
            -- the consumers' bill ids DIGIT showed just before the reversal was sent (a bill
            -- among them is not the successor), and after it: old bill id -> successor bill id
            bills_before jsonb NOT NULL DEFAULT '[]',
            dues_state text CHECK (dues_state IN ({DUES_STATES})),
            successor_bills jsonb NOT NULL DEFAULT '{{}}',
            dues_checked_at timestamptz,
            version integer NOT NULL DEFAULT 0,
            CONSTRAINT cancellation_requests_checker_is_not_maker
                CHECK (decided_by IS NULL OR decided_by <> requested_by),
            CONSTRAINT cancellation_requests_decided_has_decider
                CHECK (state IN ('REQUESTED') OR (decided_by IS NOT NULL
                                                  AND decided_at IS NOT NULL)),
            CONSTRAINT cancellation_requests_done_has_time
                CHECK (state <> 'DONE' OR completed_at IS NOT NULL)
        )
    """)
    op.execute(
        "CREATE UNIQUE INDEX cancellation_requests_one_live_per_payment"
        f" ON cancellation_requests (payment_id) WHERE state IN ({LIVE_STATES})"
    )
    op.execute(
        "CREATE INDEX cancellation_requests_by_state"
        " ON cancellation_requests (state, requested_at DESC)"
    )
    op.execute(
        "CREATE INDEX cancellation_requests_by_completed ON cancellation_requests (completed_at)"
        " WHERE completed_at IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP TABLE cancellation_requests")
    op.execute("DROP INDEX payment_history_reversals")
    _status_checks(OLD_STATUSES)
