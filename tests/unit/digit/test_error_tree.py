"""The exception tree: "no usable answer" vs "answered no" vs "no usable token", and how each
DIGIT answer is classified into it (digest 2.6, 3, 5.4, 13, corrections 10)."""

from __future__ import annotations

import pytest

from integrator.digit.errors import (
    DigitAccountLocked,
    DigitAnswered,
    DigitAuthError,
    DigitAuthLocked,
    DigitError,
    DigitErrorDetail,
    DigitForbidden,
    DigitNoAnswer,
    DigitOutcomeUnknown,
    DigitRejected,
    DigitTokenRefused,
    DigitUnavailable,
)
from integrator.digit.http import Answer, check, rbac_tenants
from tests.unit.digit.digit_unit_helpers import error_res


@pytest.mark.parametrize(
    ("cls", "parents", "not_parents"),
    [
        (DigitUnavailable, (DigitNoAnswer,), (DigitAnswered, DigitAuthError)),
        (DigitOutcomeUnknown, (DigitNoAnswer,), (DigitAnswered, DigitAuthError)),
        (DigitTokenRefused, (DigitAuthError,), (DigitNoAnswer, DigitAnswered)),
        (DigitAuthLocked, (DigitAuthError,), (DigitNoAnswer, DigitAnswered)),
        (DigitAccountLocked, (DigitAuthError,), (DigitNoAnswer, DigitAnswered, DigitAuthLocked)),
        (DigitRejected, (DigitAnswered,), (DigitNoAnswer, DigitAuthError)),
        (DigitForbidden, (DigitAnswered,), (DigitNoAnswer, DigitAuthError, DigitRejected)),
    ],
)
def test_the_tree_is_as_drawn(cls, parents, not_parents):
    assert issubclass(cls, DigitError)
    assert all(issubclass(cls, p) for p in parents)
    assert not any(issubclass(cls, p) for p in not_parents)


def _error_400(code: str, message: str) -> Answer:
    return Answer(
        status=400,
        body={"ResponseInfo": None, "Errors": [{"code": code, "message": message}]},
    )


UNIQUE_VIOLATION = (
    'ERROR: duplicate key value violates unique constraint "uk_egcl_paymentdetail"'
    "  Detail: Key (billid)=(bill-1) already exists."
)


@pytest.mark.parametrize(
    ("answer", "expected", "already_paid"),
    [
        (_error_400("BILL_ALREADY_PAID", "Bill has already been paid"), DigitRejected, True),
        (_error_400("PAYMENT_CREATION_FAILED", UNIQUE_VIOLATION), DigitRejected, True),
        (
            _error_400("PAYMENT_CREATION_FAILED", 'violates primary key "pk_egcl_bill"'),
            DigitRejected,
            True,
        ),
        # a creation failure about anything else may have been written: outcome unknown
        (_error_400("PAYMENT_CREATION_FAILED", "Connection reset"), DigitOutcomeUnknown, None),
        (_error_400("INVALID_PAYMENTDETAIL", "less than amount due"), DigitRejected, False),
        (
            _error_400("RECEIPT_WORKFLOW_INVALID_RECEIPT", "Payment not found"),
            DigitRejected,
            False,
        ),
        (
            _error_400("RECEIPT_WORKFLOW_ACTION_NOT_APPLICABLE", "latest receipt"),
            DigitRejected,
            False,
        ),
        (_error_400("CROSS_TENANT_OP_NOT_ALLOWED", "single tenant"), DigitRejected, False),
        (
            _error_400("PAYMENT_WORKFLOW_SINGLE_ACTION_ALLOWED", "same action"),
            DigitRejected,
            False,
        ),
        (_error_400("CANCEL_RECEIPT_FAILED", "Unable to cancel"), DigitOutcomeUnknown, None),
        (_error_400("COLLECTIONS_KAFKA_PUSH_FAILED", "kafka"), DigitOutcomeUnknown, None),
        (_error_400("NullPointerException", "unhandled"), DigitOutcomeUnknown, None),
        (Answer(status=429, body=None), DigitUnavailable, None),
        (Answer(status=502, body=error_res("ResourceAccessException")), DigitUnavailable, None),
    ],
    ids=[
        "already-paid",
        "unique-detail",
        "pk-bill",
        "creation-other",
        "validation",
        "wf-invalid",
        "wf-not-latest",
        "wf-cross-tenant",
        "wf-single-action",
        "cancel-failed",
        "kafka",
        "npe",
        "429",
        "502",
    ],
)
def test_each_answer_is_classified_once(answer, expected, already_paid):
    with pytest.raises(DigitError) as err:
        check("collection-services/payments/_create", answer, write=True)
    assert type(err.value) is expected
    if already_paid is not None:
        assert isinstance(err.value, DigitRejected)
        assert err.value.bill_already_paid is already_paid


def test_forbidden_names_the_tenants_and_the_endpoint():
    answer = Answer(status=403, body=error_res("CustomException"))
    with pytest.raises(DigitForbidden) as err:
        check("collection-services/payments/WS/_search", answer, tenants=("pb.amritsar",))
    assert err.value.tenants == ("pb.amritsar",)
    assert err.value.endpoint == "collection-services/payments/WS/_search"
    assert "pb.amritsar" in str(err.value)


def test_rbac_tenants_are_every_body_tenant_id_else_the_query_parameter():
    body = {
        "RequestInfo": {"tenantId": "ignored"},
        "PaymentWorkflows": [{"tenantId": "pb.amritsar"}, {"tenantId": "pb.amritsar"}],
        "MdmsCriteria": {"tenantId": ["pb", "null"]},
    }
    assert rbac_tenants(body, {"tenantId": "pb.x"}) == ("pb.amritsar", "pb")
    assert rbac_tenants({"RequestInfo": {}}, {"tenantId": "pb.a,pb.b"}) == ("pb.a", "pb.b")
    assert rbac_tenants(None, None) == ()


def test_bill_already_paid_reads_the_description_too():
    rejected = DigitRejected(
        "no",
        errors=[
            DigitErrorDetail("PAYMENT_CREATION_FAILED", "failed", "constraint pk_egcl_bill"),
        ],
    )
    assert rejected.bill_already_paid
    assert not DigitRejected("no", errors=[DigitErrorDetail("BILL_EXPIRED")]).bill_already_paid


def test_account_locked_carries_when_a_login_may_be_tried():
    err = DigitAccountLocked("locked", retry_at=1_767_225_600.0)
    assert err.retry_at == 1_767_225_600.0
    assert err.retry_at_utc.isoformat() == "2026-01-01T00:00:00+00:00"
