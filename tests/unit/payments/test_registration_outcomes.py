"""The one table from a DIGIT error to what a registration attempt does."""

from __future__ import annotations

import pytest

from integrator.digit.errors import (
    NO_USABLE_ANSWER,
    DigitAccountLocked,
    DigitAnswered,
    DigitAuthLocked,
    DigitError,
    DigitErrorDetail,
    DigitForbidden,
    DigitOutcomeUnknown,
    DigitRejected,
    DigitTokenRefused,
    DigitUnavailable,
)
from integrator.payments import reconciliation, service
from integrator.payments.registration import (
    ON_DIGIT_OUTCOME,
    STAYS_PENDING,
    Action,
    AttemptResult,
    DigitOutcome,
    classify,
)


def rejected(*codes: str) -> DigitRejected:
    return DigitRejected("refused", errors=[DigitErrorDetail(code=c) for c in codes])


@pytest.mark.parametrize(
    ("error", "outcome", "action"),
    [
        (DigitUnavailable("timeout"), DigitOutcome.NO_ANSWER, Action.RETRY_LATER),
        (DigitOutcomeUnknown("400 NPE"), DigitOutcome.NO_ANSWER, Action.RETRY_LATER),
        (DigitTokenRefused("token"), DigitOutcome.NOT_AUTHORISED, Action.WAIT_FOR_AUTH),
        (DigitAuthLocked("locked"), DigitOutcome.NOT_AUTHORISED, Action.WAIT_FOR_AUTH),
        (
            DigitAccountLocked("locked", retry_at=0),
            DigitOutcome.NOT_AUTHORISED,
            Action.WAIT_FOR_AUTH,
        ),
        (DigitForbidden("403"), DigitOutcome.NOT_AUTHORISED, Action.WAIT_FOR_AUTH),
        (rejected("BILL_ALREADY_PAID"), DigitOutcome.ALREADY_PAID, Action.LOOK),
        (rejected("BILL_EXPIRED"), DigitOutcome.BILL_EXPIRED, Action.RETARGET),
        (rejected("INVALID_PAYMENTMODE"), DigitOutcome.REJECTED, Action.REFUSE),
    ],
)
def test_each_digit_error_has_one_outcome_and_one_action(
    error: DigitError, outcome: DigitOutcome, action: Action
) -> None:
    assert classify(error) is outcome
    assert ON_DIGIT_OUTCOME[outcome] is action


def test_an_error_outside_digits_tree_is_not_classified_so_it_is_raised() -> None:
    assert classify(DigitAnswered("something new")) is None


def test_already_paid_wins_over_expired_when_digit_names_both() -> None:
    assert classify(rejected("BILL_EXPIRED", "BILL_ALREADY_PAID")) is DigitOutcome.ALREADY_PAID


def test_only_no_answer_spends_an_attempt_while_the_payment_stays_pending() -> None:
    assert STAYS_PENDING == {
        Action.RETRY_LATER: (AttemptResult.RETRY_LATER, True),
        Action.WAIT_FOR_AUTH: (AttemptResult.AUTH_BLOCKED, False),
    }


def test_every_outcome_has_an_action() -> None:
    assert set(ON_DIGIT_OUTCOME) == set(DigitOutcome)


def test_the_checks_and_reconciliation_share_digits_no_usable_answer_list() -> None:
    assert service.NO_ANSWER is NO_USABLE_ANSWER
    # reconciliation stops on what DIGIT answers nobody; a refused search (DigitForbidden) is
    # one city's and module's, and the run goes on past it
    assert set(reconciliation.STOP_ON) == set(NO_USABLE_ANSWER) - {DigitForbidden}
