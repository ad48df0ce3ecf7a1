"""The decision panel of a payment's console page: the reconciliation flags naming the payment
are read once, for the panel, and a ledger that cannot be asked never breaks the page."""

from __future__ import annotations

from collections.abc import Sequence

from integrator.ops.decide import decide
from integrator.payments.flags import FlagItem
from integrator.payments.models import PaymentStatus
from integrator.payments.registration import Registrar
from tests.unit.payments.payment_factories import NOW, make_payment


def make_flag(*, payment_id: str, kind: str = "CANCELLED") -> FlagItem:
    return FlagItem(
        id=payment_id,
        source="ledger",
        kind=kind,
        payment_id=payment_id,
        digit_payment_id="DIGIT-PAY-1",
        tenant_id=None,
        business_service=None,
        digit_status="CANCELLED",
        ledger_status="REGISTERED",
        amount=None,
        receipt_numbers=(),
        bill_ids=(),
        transaction_date=None,
        why=f"REGISTERED payment's DIGIT payment: {kind}",
        found_at=NOW,
        checked_at=NOW,
        acknowledged_at=None,
        acknowledged_by=None,
        ack_note=None,
        detail={},
    )


def no_registrar() -> Registrar:
    raise AssertionError("DIGIT is asked only about NEEDS_ATTENTION payments")


def test_a_flagged_registered_payment_shows_its_flags_in_the_decision() -> None:
    payment = make_payment(status=PaymentStatus.REGISTERED)
    flags = (make_flag(payment_id=payment.id), make_flag(payment_id=payment.id, kind="ORPHAN"))

    decision = decide(payment, registrar=no_registrar, flags=lambda: flags)

    assert decision.flags == flags and decision.flags_error is None
    assert decision.guidance.endswith("unless reconciliation flagged it (below).")


def test_an_unflagged_registered_payment_has_nothing_to_decide() -> None:
    payment = make_payment(status=PaymentStatus.REGISTERED)

    decision = decide(payment, registrar=no_registrar, flags=lambda: [])

    assert decision.flags == () and decision.flags_error is None
    assert decision.guidance == "Registered in DIGIT: nothing to decide."


def test_flags_that_cannot_be_read_are_said_and_the_rest_is_decided() -> None:
    payment = make_payment(status=PaymentStatus.REGISTERED)

    def unreadable() -> Sequence[FlagItem]:
        raise ConnectionError("ledger down")

    decision = decide(payment, registrar=no_registrar, flags=unreadable)

    assert decision.flags == ()
    assert decision.flags_error is not None and "ConnectionError" in decision.flags_error
    assert decision.guidance == "Registered in DIGIT: nothing to decide."
