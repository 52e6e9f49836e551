"""The error catalog: one row per reason, and the exceptions built from it."""

from __future__ import annotations

import enum
import re
import string

import pytest

from core.domain import errors
from core.domain.errors import (
    Code,
    FieldViolation,
    IllegalTransitionError,
    NotFoundError,
    PaycoreError,
    Reason,
    ReasonSpec,
    ValidationError,
    ViolationCollector,
)
from core.domain.money import Money

ALL_REASONS = list(Reason)


def placeholders(template: str) -> list[str | None]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


# --- the catalog --------------------------------------------------------------


def test_every_reason_has_its_own_spec() -> None:
    specs = [reason.spec for reason in Reason]
    assert len(set(specs)) == len(specs)
    # No member is an alias of another (enum merges members with equal values).
    assert list(Reason.__members__) == [reason.name for reason in Reason]


def test_every_reason_name_is_upper_snake_case() -> None:
    bad = [r.name for r in Reason if not re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*", r.name)]
    assert not bad


@pytest.mark.parametrize("reason", ALL_REASONS, ids=lambda r: r.name)
def test_every_reason_has_a_code_and_a_message_template(reason: Reason) -> None:
    assert isinstance(reason.spec, ReasonSpec)
    assert isinstance(reason.spec.code, Code)
    assert reason.spec.template.strip()


@pytest.mark.parametrize("reason", ALL_REASONS, ids=lambda r: r.name)
def test_every_template_formats_with_named_metadata_only(reason: Reason) -> None:
    names = placeholders(reason.spec.template)
    assert all(name and name.isidentifier() for name in names), names
    metadata = {name: f"<{name}>" for name in names if name}
    message = PaycoreError(reason, **metadata).message
    for value in metadata.values():
        assert value in message
    assert "{" not in message
    assert "}" not in message


@pytest.mark.parametrize("reason", ALL_REASONS, ids=lambda r: r.name)
def test_retryable_reasons_suggest_a_delay_and_others_do_not(reason: Reason) -> None:
    if reason.spec.retryable:
        assert reason.spec.retry_after_ms > 0
    else:
        assert reason.spec.retry_after_ms == 0


def test_retryable_reasons_are_the_transient_ones() -> None:
    retryable = {r for r in Reason if r.spec.retryable}
    assert retryable == {
        Reason.PAYMENT_OPERATION_IN_PROGRESS,
        Reason.REQUEST_IN_PROGRESS,
        Reason.RATE_LIMITED,
        Reason.AUTHENTICATION_LOCKED,
        Reason.SERVICE_UNAVAILABLE,
    }
    assert all(
        r.spec.code in {Code.ABORTED, Code.UNAVAILABLE, Code.RESOURCE_EXHAUSTED} for r in retryable
    )


def test_client_mistakes_travel_as_invalid_argument_and_state_refusals_as_failed_precondition() -> (
    None
):
    assert Reason.VALIDATION_FAILED.spec.code is Code.INVALID_ARGUMENT
    assert Reason.CURRENCY_MISMATCH.spec.code is Code.INVALID_ARGUMENT
    assert Reason.PAYMENT_NOT_FOUND.spec.code is Code.NOT_FOUND
    assert Reason.MERCHANT_IDENTITY_MISSING.spec.code is Code.UNAUTHENTICATED
    for reason in (
        Reason.PAYMENT_NOT_CONFIRMABLE,
        Reason.PAYMENT_NOT_CAPTURABLE,
        Reason.PAYMENT_NOT_CANCELABLE,
        Reason.PAYMENT_NOT_REFUNDABLE,
        Reason.AMOUNT_NOT_UPDATABLE,
        Reason.CAPTURE_EXCEEDS_AUTHORIZED,
        Reason.REFUND_EXCEEDS_CAPTURED,
    ):
        assert reason.spec.code is Code.FAILED_PRECONDITION, reason
    assert Reason.INTERNAL_ERROR.spec.code is Code.INTERNAL


def test_catalog_check_refuses_two_reasons_with_the_same_spec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = ReasonSpec(Code.INTERNAL, False, "same")

    class Duplicated(enum.Enum):
        FIRST = spec
        SECOND = spec  # silently an alias of FIRST

    monkeypatch.setattr(errors, "Reason", Duplicated)
    with pytest.raises(RuntimeError, match="SECOND"):
        errors._check_catalog_unique()


# --- PaycoreError -------------------------------------------------------------


def test_paycore_error_formats_its_template_with_metadata() -> None:
    error = PaycoreError(Reason.PAYMENT_NOT_FOUND, payment_id="pay_123")
    assert error.message == "Payment pay_123 does not exist."
    assert str(error) == error.message
    assert error.reason is Reason.PAYMENT_NOT_FOUND
    assert error.code is Code.NOT_FOUND
    assert error.retryable is False


def test_paycore_error_metadata_values_become_strings() -> None:
    error = PaycoreError(
        Reason.CAPTURE_EXCEEDS_AUTHORIZED,
        payment_id="pay_1",
        requested=Money(1050, "USD"),
        capturable=Money(1000, "USD"),
    )
    assert dict(error.metadata) == {
        "payment_id": "pay_1",
        "requested": "10.50 USD",
        "capturable": "10.00 USD",
    }
    assert (
        error.message == "Capture of 10.50 USD exceeds the authorized 10.00 USD of payment pay_1."
    )


def test_paycore_error_with_missing_metadata_still_has_a_message() -> None:
    error = PaycoreError(Reason.PAYMENT_NOT_FOUND)
    assert error.message == Reason.PAYMENT_NOT_FOUND.spec.template


def test_retryable_paycore_error_says_so() -> None:
    error = PaycoreError(
        Reason.PAYMENT_OPERATION_IN_PROGRESS, payment_id="pay_1", operation="capture"
    )
    assert error.retryable is True
    assert error.code is Code.ABORTED
    assert error.message == (
        "Payment pay_1 has a capture in progress at its channel; retry shortly."
    )


def test_specialised_errors_are_paycore_errors() -> None:
    not_found = NotFoundError(Reason.PAYMENT_NOT_FOUND, payment_id="pay_1")
    illegal = IllegalTransitionError(
        Reason.PAYMENT_NOT_CAPTURABLE, payment_id="pay_1", state="CAPTURED"
    )
    assert isinstance(not_found, PaycoreError)
    assert isinstance(illegal, PaycoreError)
    assert illegal.code is Code.FAILED_PRECONDITION
    assert "CAPTURED" in illegal.message


# --- ValidationError ----------------------------------------------------------


def test_validation_error_requires_at_least_one_violation() -> None:
    with pytest.raises(ValueError, match="at least one violation"):
        ValidationError([])


def test_validation_error_keeps_every_violation_in_order() -> None:
    violations = [
        FieldViolation("amount.currency_code", "must be an ISO 4217 code"),
        FieldViolation("payment_method.card.number", "fails the Luhn check"),
    ]
    error = ValidationError(violations)
    assert error.violations == tuple(violations)
    assert error.reason is Reason.VALIDATION_FAILED
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message == (
        "The request has 2 invalid field(s): amount.currency_code: must be an ISO 4217 code; "
        "payment_method.card.number: fails the Luhn check"
    )
    assert str(error) == error.message
    assert error.metadata["violation_count"] == "2"


def test_validation_message_names_every_field_even_when_descriptions_do_not_fit() -> None:
    violations = [FieldViolation(f"metadata.key{i}", "x" * 60) for i in range(20)]
    message = ValidationError(violations).message
    assert all(f"metadata.key{i}" in message for i in range(20))
    assert "also invalid: " in message
    assert len(message) < errors.MESSAGE_BUDGET + 20 * len("metadata.keyNN, ") + 80


def test_validation_message_names_the_whole_request_when_it_cannot_be_parsed() -> None:
    error = ValidationError([FieldViolation("", "not a valid paycore.v1.CreatePaymentRequest")])
    assert error.message.endswith(": (request): not a valid paycore.v1.CreatePaymentRequest")


def test_invalid_page_token_message_says_what_to_do() -> None:
    error = ValidationError(
        [FieldViolation("page_token", "malformed: pass next_page_token unchanged")],
        Reason.INVALID_PAGE_TOKEN,
    )
    assert error.message.endswith("page_token: malformed: pass next_page_token unchanged")


def test_validation_error_is_not_changed_by_later_edits_of_the_list() -> None:
    violations = [FieldViolation("amount", "required")]
    error = ValidationError(violations)
    violations.append(FieldViolation("request_id", "required"))
    assert len(error.violations) == 1


def test_violation_collector_raises_nothing_when_empty() -> None:
    ViolationCollector().raise_if_any()


def test_violation_collector_reports_all_mistakes_at_once() -> None:
    collector = ViolationCollector()
    collector.add("amount", "required")
    collector.add("request_id", "required")
    with pytest.raises(ValidationError) as raised:
        collector.raise_if_any()
    assert [v.field for v in raised.value.violations] == ["amount", "request_id"]
    assert raised.value.metadata["violation_count"] == "2"


def test_violation_collector_can_raise_another_invalid_argument_reason() -> None:
    collector = ViolationCollector()
    collector.add("page_token", "malformed")
    with pytest.raises(ValidationError) as raised:
        collector.raise_if_any(Reason.INVALID_PAGE_TOKEN)
    assert raised.value.reason is Reason.INVALID_PAGE_TOKEN
