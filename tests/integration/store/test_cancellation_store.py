"""Revision 0004 and the cancellation store on a real ledger: the maker-checker rule and one live
request per payment are constraints; the revision downgrades and upgrades again; a reversal
whose dues are re-opening is marked on its consumers in Redis."""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest
import redis as redis_lib
from alembic import command

from integrator.payments import states
from integrator.payments.cancellation import (
    Action,
    CancellationRequest,
    DuesState,
    RequestChanged,
    RequestExists,
    RequestState,
)
from integrator.payments.models import PaymentStatus
from integrator.store import migrations
from integrator.store.cancellations import CancellationStore
from integrator.store.db import Database
from integrator.store.open_claims import OpenClaimMarks
from integrator.store.payments import PaymentStore
from tests.unit.payments.payment_factories import NOW, make_payment


def _registered(store: PaymentStore) -> str:
    payment = make_payment()
    store.create(payment)
    store.save(
        states.transition(payment, PaymentStatus.REGISTERED, actor="w", reason="ok", at=NOW),
        fence=None,
    )
    return payment.id


def _request(payment_id: str, request_id: str = "can-1") -> CancellationRequest:
    return CancellationRequest(
        id=request_id,
        payment_id=payment_id,
        action=Action.CANCEL,
        reason="wrong consumer",
        requested_by="device:dev-1",
        requested_at=NOW,
    )


def test_requests_round_trip_and_saves_compare_the_version(db: Database) -> None:
    payment_id = _registered(PaymentStore(db))
    store = CancellationStore(db)
    store.add(_request(payment_id))
    with pytest.raises(RequestExists):
        store.add(_request(payment_id, "can-2"))  # one live request per payment

    done = store.save(
        replace(
            _request(payment_id),
            state=RequestState.DONE,
            decided_by="operator:asha",
            decided_at=NOW,
            completed_at=NOW,
            digit_answer={"paymentStatus": "CANCELLED"},
            successor_bills={"bill-1": "bill-9"},
            bills_before=("bill-1",),
        )
    )

    assert store.get("can-1") == done and done.version == 1
    with pytest.raises(RequestChanged):
        store.save(replace(done, version=0))
    assert store.completed_between(NOW, NOW.replace(year=NOW.year + 1)) == [done]


def test_the_decider_is_never_the_requester(db: Database) -> None:
    payment_id = _registered(PaymentStore(db))
    store = CancellationStore(db)
    store.add(_request(payment_id))
    with pytest.raises(psycopg.errors.CheckViolation):
        store.save(
            replace(
                _request(payment_id),
                state=RequestState.REJECTED,
                decided_by="device:dev-1",
                decided_at=NOW,
            )
        )


def test_a_cancelled_payment_is_stored_and_found_among_the_day_s_reversals(db: Database) -> None:
    payments = PaymentStore(db)
    payment_id = _registered(payments)
    stored = payments.get(payment_id)
    assert stored is not None
    payments.save(
        states.transition(stored, PaymentStatus.CANCELLED, actor="op", reason="x", at=NOW),
        fence=None,
    )

    assert payments.reversals_between(NOW, NOW.replace(year=NOW.year + 1)) == [(payment_id, NOW)]
    assert payments.reversals_between(NOW.replace(year=NOW.year - 1), NOW) == []
    again = payments.get(payment_id)
    assert again is not None and again.status is PaymentStatus.CANCELLED


def test_the_revision_goes_down_to_0002_and_up_again(db: Database, database_url: str) -> None:
    _registered(PaymentStore(db))
    engine = migrations._engine(database_url)
    with engine.connect() as connection:
        config = migrations._config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
        assert migrations.current_revision(database_url) == "0002"
        command.upgrade(config, "head")
    engine.dispose()
    assert migrations.current_revision(database_url) == migrations.head_revision()


def _done_following(request: CancellationRequest) -> CancellationRequest:
    return replace(
        request,
        state=RequestState.DONE,
        decided_by="operator:asha",
        decided_at=NOW,
        completed_at=NOW,
        dues_state=DuesState.FOLLOWING,
    )


def test_a_reversal_is_marked_on_its_consumers_while_its_dues_are_reopening(
    db: Database, redis: redis_lib.Redis
) -> None:
    marks = OpenClaimMarks(redis)
    payment_id = _registered(PaymentStore(db, claim_marks=marks))
    payment = PaymentStore(db).get(payment_id)
    assert payment is not None
    [consumer] = payment.consumer_keys
    assert redis.smembers(marks.key(consumer)) == set()  # the payment's claim is closed
    store = CancellationStore(db, claim_marks=marks)
    store.add(_request(payment_id))
    member = OpenClaimMarks.reversal_member("can-1")

    following = store.save(_done_following(_request(payment_id)))

    assert redis.smembers(marks.key(consumer)) == {member.encode()}
    assert store.reopening_marks() == [(*consumer, member)]
    checked = store.save(replace(following, dues_checked_at=NOW))  # still FOLLOWING
    assert redis.smembers(marks.key(consumer)) == {member.encode()}
    store.save(replace(checked, dues_state=DuesState.REOPENED))
    assert redis.smembers(marks.key(consumer)) == set()
    assert store.reopening_marks() == []


def test_a_reversal_is_saved_when_redis_cannot_take_its_mark(db: Database) -> None:
    payment_id = _registered(PaymentStore(db))
    down = OpenClaimMarks(redis_lib.Redis(host="127.0.0.1", port=1))
    store = CancellationStore(db, claim_marks=down)
    store.add(_request(payment_id))

    saved = store.save(_done_following(_request(payment_id)))

    # DIGIT reversed it: the ledger says so; only the hint beside a bill is missing
    assert store.get("can-1") == saved and saved.dues_state is DuesState.FOLLOWING
