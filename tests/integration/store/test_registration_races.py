"""Registration races against a real ledger and a fake DIGIT that commits when a slow create
finishes (found by review: the lease must cover the whole create, duplicates must surface, an
operator's retry must reach DIGIT)."""

import threading
import time
import types
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from integrator.digit.errors import DigitAuthError, DigitErrorDetail, DigitRejected
from integrator.digit.models import DigitPayment, DigitPaymentDetail
from integrator.jobs import context as job_context
from integrator.jobs import registration as job_registration
from integrator.jobs.policy import RetryPolicy
from integrator.payments import states
from integrator.payments.models import PaymentStatus
from integrator.payments.operations import PaymentOperations
from integrator.payments.registration import (
    BILL_EXPIRED_SUCCESSOR_TAKEN,
    AttemptResult,
    Registrar,
    unsettled_create_since,
)
from integrator.store.leases import LeaseStore
from integrator.store.payments import PaymentStore
from tests.unit.payments.payment_factories import make_line, make_payment


class FakeDigit:
    """DIGIT that validates on arrival and commits when the (slow) create finishes."""

    def __init__(self, *, first_search_delay=0.0, create_delay=0.0, refuse=None):
        self.lock = threading.Lock()
        self.committed: list[DigitPayment] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.creates = 0
        self.searches = 0
        self.first_search_delay = first_search_delay
        self.create_delay = create_delay
        self.refuse = refuse

    def ensure_token(self):
        pass

    def search_payments(self, *, tenant_id, module, bill_ids=(), **_):
        with self.lock:
            self.searches += 1
            first = self.searches == 1
        if first:
            time.sleep(self.first_search_delay)
        with self.lock:
            return [p for p in self.committed if {d.bill_id for d in p.details} & set(bill_ids)]

    def create_payment(self, req):
        with self.lock:
            self.creates += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            paid = {d.bill_id for p in self.committed for d in p.details}
            if self.refuse:
                self.in_flight -= 1
                raise DigitRejected("no", errors=(DigitErrorDetail(code=self.refuse),))
            if paid & {line.bill_id for line in req.lines}:
                self.in_flight -= 1
                raise DigitRejected("paid", errors=(DigitErrorDetail(code="BILL_ALREADY_PAID"),))
        time.sleep(self.create_delay)
        n = len(self.committed) + 1
        dp = DigitPayment(
            id=f"dp-{n}",
            tenant_id=req.tenant_id,
            payment_mode=req.payment_mode,
            payment_status="NEW",
            instrument_status="APPROVED",
            total_amount_paid=req.total_amount,
            transaction_number=req.transaction_number,
            transaction_date=None,
            paid_by=req.paid_by,
            payer_name=req.payer_name,
            mobile_number=req.mobile_number,
            additional_details=dict(req.additional_details),
            details=tuple(
                DigitPaymentDetail(
                    id=f"pd-{n}-{i}",
                    bill_id=line.bill_id,
                    business_service=line.business_service,
                    receipt_number=f"RCPT-{n}-{i}",
                    receipt_date=None,
                    total_due=line.total_due,
                    amount_paid=line.amount,
                )
                for i, line in enumerate(req.lines)
            ),
        )
        with self.lock:
            self.committed.append(dp)
            self.in_flight -= 1
        return dp


def _registrar(db, digit, ttl):
    return Registrar(
        payments=PaymentStore(db),
        leases=LeaseStore(db),
        digit=digit,
        lease_ttl_seconds=ttl,
        timezone=UTC,
        clock=lambda: datetime.now(UTC),
    )


def _pending_with_create_sent(store, bill_id):
    p = make_payment(bills=(make_line(bill_id=bill_id),), created_at=datetime.now(UTC))
    store.create(p)
    p = store.get(p.id)
    # an earlier attempt sent a create that timed out; DIGIT never committed it
    return store.save(
        states.mark_create_sent(p, p.bill_ids, actor="t", at=datetime.now(UTC)), fence=None
    )


def test_a_slow_look_does_not_shorten_the_lease_the_create_runs_under(db):
    """The look-up takes most of the lease; the create is still covered by a full lease (renewed
    right before it), so a second attempt arriving meanwhile is BUSY: one create, one payment."""
    store = PaymentStore(db)
    p = _pending_with_create_sent(store, "bill-A")
    # scaled: LEASE_TTL 1 s; a look of 0.8 s; a create of 0.6 s (< the lease, as read timeouts are)
    digit = FakeDigit(first_search_delay=0.8, create_delay=0.6)
    reg = _registrar(db, digit, ttl=1.0)
    results = {}

    def run(name):
        results[name] = reg.attempt(p.id, actor=name).result

    a = threading.Thread(target=run, args=("A",))
    a.start()
    time.sleep(1.1)  # past the lease A took before its look-up
    b = threading.Thread(target=run, args=("B",))
    b.start()
    a.join()
    b.join()

    assert results == {"A": AttemptResult.REGISTERED, "B": AttemptResult.BUSY}
    assert digit.max_in_flight == 1 and len(digit.committed) == 1


def test_two_payments_of_ours_in_digit_need_attention_instead_of_being_adopted(db):
    store = PaymentStore(db)
    p = _pending_with_create_sent(store, "bill-D")
    digit = FakeDigit()
    reg = _registrar(db, digit, ttl=5)
    request = reg.digit_request(p)
    digit.committed = []
    digit.create_payment(request)
    digit.committed.append(replace(digit.committed[0], id="dp-twin"))  # a double commit

    outcome = reg.attempt(p.id, actor="worker")

    assert outcome.result is AttemptResult.NEEDS_ATTENTION
    assert outcome.payment.needs_attention_reason == "DUPLICATE_IN_DIGIT"
    assert digit.creates == 1  # nothing more was sent


def test_an_operator_retry_of_an_old_payment_reaches_digit(db):
    """NEEDS_ATTENTION older than RETRY_MAX_AGE_SECONDS: the operator's retry starts a fresh
    round of attempts instead of being given up at once."""
    store = PaymentStore(db)
    leases = LeaseStore(db)
    old = datetime.now(UTC) - timedelta(days=3)
    p = make_payment(bills=(make_line(bill_id="bill-B"),), created_at=old)
    store.create(p)
    digit = FakeDigit(refuse="INVALID_PAYMENTDETAIL")
    reg = _registrar(db, digit, ttl=5)
    assert reg.attempt(p.id, actor="worker").result is AttemptResult.NEEDS_ATTENTION
    digit.refuse = None  # the operator fixed the cause in DIGIT

    ops = PaymentOperations(
        payments=store,
        finder=None,
        leases=leases,
        lease_ttl_seconds=5,
        digit=lambda: digit,
        registrar=lambda: reg,
        scheduler=lambda: types.SimpleNamespace(schedule=lambda *a, **k: None),
        clock=lambda: datetime.now(UTC),
    )
    assert ops.retry(p.id, operator="alice").status is PaymentStatus.PENDING
    policy = RetryPolicy(
        schedule_seconds=(10,), max_age_seconds=172800, auth_blocked_seconds=60, lease_ttl_seconds=5
    )
    job_context._context = types.SimpleNamespace(
        clock=lambda: datetime.now(UTC),
        payments=store,
        policy=policy,
        registrar=reg,
        outage=types.SimpleNamespace(note=lambda *a, **k: None),
    )
    try:
        job_registration.register_payment(p.id)
    finally:
        job_context._context = None

    after = store.get(p.id)
    assert digit.creates == 2  # the refused one, then the retry's
    assert after.status is PaymentStatus.REGISTERED


class _SearchRefusesOurAccount(FakeDigit):
    """DIGIT whose searches refuse our account (locked, digest corrections 5) until `unlocked`."""

    def __init__(self) -> None:
        super().__init__()
        self.unlocked = False

    def search_payments(self, **kwargs):
        if not self.unlocked:
            raise DigitAuthError("Account locked", endpoint="/collection-services/payments")
        return super().search_payments(**kwargs)


def _sent_and_died(store, bill_id, ttl):
    """A payment whose attempt recorded "create sent" under its lease, sent the create and
    died before recording any outcome (the create may still commit in DIGIT)."""
    p = make_payment(bills=(make_line(bill_id=bill_id),), created_at=datetime.now(UTC))
    store.create(p)
    fence, p = LeaseStore(store._db).acquire_pending(p.id, ttl_seconds=ttl)
    sent_at = datetime.now(UTC)
    store.save(states.mark_create_sent(p, p.bill_ids, actor="dead", at=sent_at), fence=fence)
    time.sleep(ttl + 0.1)  # its lease runs out: the next attempt may look
    return p.id, sent_at


def test_a_create_whose_attempt_died_stays_unknown_after_a_refused_look_up(db):
    """The next attempt's look-up is refused (account locked) and records an attempt: that
    says nothing about the dead attempt's create, which must stay unknown, or a BILL_EXPIRED
    later would move the payment onto the successor bill at once while the create may still
    commit on the old one (found by review)."""
    store = PaymentStore(db)
    payment_id, sent_at = _sent_and_died(store, "bill-U", ttl=0.3)
    digit = _SearchRefusesOurAccount()
    reg = _registrar(db, digit, ttl=0.3)

    outcome = reg.attempt(payment_id, actor="worker")

    assert outcome.result is AttemptResult.AUTH_BLOCKED
    stored = store.get(payment_id)
    assert [e.event for e in stored.history][-2:] == ["create_unanswered", "attempt"]
    assert unsettled_create_since(stored) == sent_at
    assert reg.create_may_commit_until(stored) is not None
    assert digit.creates == 0


def test_giving_up_after_a_dead_attempt_keeps_its_create_unknown(db):
    """Giving up when DIGIT cannot be asked: the operator must not be let refund the money
    while the dead attempt's create may still commit (found by review)."""
    store = PaymentStore(db)
    payment_id, sent_at = _sent_and_died(store, "bill-V", ttl=0.3)
    reg = _registrar(db, _SearchRefusesOurAccount(), ttl=0.3)

    outcome = reg.give_up(payment_id, actor="worker")

    assert outcome.result is AttemptResult.NEEDS_ATTENTION
    stored = store.get(payment_id)
    assert unsettled_create_since(stored) == sent_at
    assert reg.create_may_commit_until(stored) is not None


def test_an_inline_attempt_that_starts_after_its_lease_ran_out_sends_nothing(db):
    """The inline pool queued the attempt past its lease and a worker holds the payment now:
    the late inline attempt must not send a second create (found by review)."""
    store = PaymentStore(db)
    p = make_payment(bills=(make_line(bill_id="bill-W"),), created_at=datetime.now(UTC))
    p = states.mark_create_sent(p, p.bill_ids, actor="inline", at=datetime.now(UTC))
    created = store.create(p, lease_seconds=1.1)
    leased_at = time.monotonic()
    time.sleep(1.2)  # past the lease and FIRST_CREATE_SLACK_SECONDS
    assert LeaseStore(db).acquire_pending(p.id, ttl_seconds=30) is not None  # the worker's
    digit = FakeDigit()
    reg = _registrar(db, digit, ttl=0.3)

    outcome = reg.first_attempt(store.get(p.id), fence=created.fence, leased_at=leased_at)

    assert outcome.result is AttemptResult.BUSY
    assert digit.creates == 0


def test_an_inline_attempt_that_starts_late_renews_its_lease_before_the_create(db):
    store = PaymentStore(db)
    p = make_payment(bills=(make_line(bill_id="bill-X"),), created_at=datetime.now(UTC))
    p = states.mark_create_sent(p, p.bill_ids, actor="inline", at=datetime.now(UTC))
    created = store.create(p, lease_seconds=2.0)
    digit = FakeDigit()
    reg = _registrar(db, digit, ttl=30.0)

    outcome = reg.first_attempt(
        store.get(p.id), fence=created.fence, leased_at=time.monotonic() - 1.5
    )

    assert outcome.result is AttemptResult.REGISTERED
    assert digit.creates == 1


class _BillExpiredOnto(FakeDigit):
    """DIGIT that refuses every create BILL_EXPIRED and serves `successor` as the current bill."""

    def __init__(self, successor_id: str) -> None:
        super().__init__(refuse="BILL_EXPIRED")
        self.successor_id = successor_id

    def fetch_bills(self, **_):
        return [types.SimpleNamespace(id=self.successor_id, bill_number="B-2", total_amount=1200)]


def test_a_successor_bill_held_by_another_payment_needs_attention(db):
    """BILL_EXPIRED, and the consumer's current bill is already another live payment's: the
    move is refused by the ledger, so the payment goes to NEEDS_ATTENTION with a reason of its
    own instead of failing the job again and again (found by review)."""
    store = PaymentStore(db)
    holder = make_payment(
        bills=(make_line(bill_id="bill-next", consumer_code="WS-OTHER"),),
        created_at=datetime.now(UTC),
    )
    store.create(holder)
    p = make_payment(bills=(make_line(bill_id="bill-old"),), created_at=datetime.now(UTC))
    store.create(p)
    digit = _BillExpiredOnto("bill-next")
    reg = _registrar(db, digit, ttl=5)

    outcome = reg.attempt(p.id, actor="worker")

    assert outcome.result is AttemptResult.NEEDS_ATTENTION
    stored = store.get(p.id)
    assert stored.needs_attention_reason == BILL_EXPIRED_SUCCESSOR_TAKEN
    assert stored.bill_ids == ("bill-old",)
    assert digit.creates == 1
