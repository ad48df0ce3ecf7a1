"""Receipt prints: how many times each payment's receipt was printed, and each print.

Every print after the first is marked DUPLICATE, so the count must never go backwards nor let
two concurrent prints both be "the first":
- `receipt_print_counts` holds one row per payment (PRIMARY KEY payment_id) whose `prints` is
  raised by one `INSERT ... ON CONFLICT DO UPDATE` (the row lock serialises concurrent prints);
- `receipt_prints` is the append-only log of prints (the trigger of 0001): which print number,
  which device, which format, when; (payment_id, print_number) is unique.

Revision ID: 0005
Revises: 0002
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

FORMATS = "'json', 'text', 'pdf'"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE receipt_print_counts (
            payment_id text PRIMARY KEY REFERENCES payments (id),
            prints integer NOT NULL CHECK (prints >= 1),
            last_printed_at timestamptz NOT NULL
        )
    """)
    op.execute(f"""
        CREATE TABLE receipt_prints (
            payment_id text NOT NULL REFERENCES payments (id),
            print_number integer NOT NULL CHECK (print_number >= 1),
            device_id text NOT NULL,
            format text NOT NULL CHECK (format IN ({FORMATS})),
            printed_at timestamptz NOT NULL,
            PRIMARY KEY (payment_id, print_number)
        )
    """)
    op.execute(
        "CREATE TRIGGER receipt_prints_append_only BEFORE UPDATE OR DELETE"
        " ON receipt_prints FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TABLE receipt_prints")
    op.execute("DROP TABLE receipt_print_counts")
