"""The one catalog of paycore's error reasons, and the exceptions built from it.

Every failure a caller can see has exactly one entry in ``CATALOG``: a stable
UPPER_SNAKE reason (sent as ``google.rpc.ErrorInfo.reason``), the gRPC status
code it travels with, whether retrying the same request can help, and a message
template. ``core.api.status`` is the only place that turns these into gRPC
statuses; ``protos/paycore/v1/error_reason.proto`` documents the same reasons
for other languages, and a test keeps the two equal.

The exception tree::

    PaycoreError                       (reason, code, metadata)
    ├── ValidationError                INVALID_ARGUMENT + field violations
    ├── NotFoundError                  NOT_FOUND
    ├── IllegalTransitionError         FAILED_PRECONDITION (a state machine "no")
    ├── RateLimitedError               RESOURCE_EXHAUSTED + QuotaFailure + RetryInfo
    ├── AuthenticationLockedError      RESOURCE_EXHAUSTED + RetryInfo (failed-auth lockout)
    └── ...every other reason          raised as PaycoreError(Reason.X)

This module is pure: it imports nothing from grpc, redis or asyncpg, so the
domain can raise these and be tested without a server.

Why one file over ~400 lines: most of it is the ``Reason`` table, and the
catalog must stay one table (one enum is what lets ``_check_catalog_unique``
refuse two reasons sharing a row, and what the proto documentation is checked
against). The exceptions are built from its rows and the tree above is read
with it in one place. The rest (``FieldViolation``, ``ViolationCollector``)
is the payload and the builder of ``ValidationError``: moved out, it would
import this module while ``ValidationError`` imports it back.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


class Code(enum.Enum):
    """The gRPC status codes paycore uses, by name (mapped to grpc in core.api)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    NOT_FOUND = "NOT_FOUND"
    ABORTED = "ABORTED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


@dataclass(frozen=True, slots=True)
class ReasonSpec:
    """One row of the catalog."""

    code: Code
    retryable: bool
    template: str
    """``str.format`` template over the error's metadata."""
    retry_after_ms: int = 0
    """When retryable, the delay suggested in google.rpc.RetryInfo."""


class Reason(enum.Enum):
    """Stable machine-readable error reasons (google.rpc.ErrorInfo.reason)."""

    # Client mistakes in the request itself.
    VALIDATION_FAILED = ReasonSpec(
        Code.INVALID_ARGUMENT, False, "The request has {violation_count} invalid field(s)."
    )
    INVALID_PAGE_TOKEN = ReasonSpec(
        Code.INVALID_ARGUMENT,
        False,
        "The page token is malformed or belongs to a request with other filters.",
    )
    IDEMPOTENCY_KEY_REUSED = ReasonSpec(
        Code.INVALID_ARGUMENT,
        False,
        "request_id {request_id} was already used for a different {operation} request.",
    )
    CURRENCY_MISMATCH = ReasonSpec(
        Code.INVALID_ARGUMENT,
        False,
        "The amount is in {given}, but the payment is in {expected}.",
    )
    # Identity.
    MERCHANT_IDENTITY_MISSING = ReasonSpec(
        Code.UNAUTHENTICATED,
        False,
        "The call names no merchant: send metadata {header} (letters, digits, _ and -).",
    )
    API_KEY_MISSING = ReasonSpec(
        Code.UNAUTHENTICATED,
        False,
        "The call carries no API key: send metadata 'authorization: Bearer <key>'.",
    )
    API_KEY_INVALID = ReasonSpec(
        Code.UNAUTHENTICATED,
        False,
        "The API key is not valid: unknown, malformed, revoked or expired.",
    )
    AUTHENTICATION_LOCKED = ReasonSpec(
        Code.RESOURCE_EXHAUSTED,
        True,
        "Too many failed authentications from this {subject}; try again after the delay.",
        retry_after_ms=1000,  # the error carries the lock's real remaining time
    )
    PERMISSION_DENIED = ReasonSpec(
        Code.PERMISSION_DENIED,
        False,
        "A {role} key may not call {method}; it needs the {required} role.",
    )
    MERCHANT_MISMATCH = ReasonSpec(
        Code.PERMISSION_DENIED,
        False,
        "This key acts for merchant {key_merchant}; it cannot act for merchant {merchant_id}.",
    )
    RAW_CARD_DATA_NOT_ALLOWED = ReasonSpec(
        Code.PERMISSION_DENIED,
        False,
        "Full card numbers are accepted only by CardVaultService.TokenizeCard for this merchant;"
        " pay with payment_method.card_token.",
    )
    # Resources.
    PAYMENT_NOT_FOUND = ReasonSpec(Code.NOT_FOUND, False, "Payment {payment_id} does not exist.")
    CARD_TOKEN_NOT_FOUND = ReasonSpec(
        Code.NOT_FOUND, False, "Card token {token_id} does not exist."
    )
    MERCHANT_NOT_FOUND = ReasonSpec(Code.NOT_FOUND, False, "Merchant {merchant_id} does not exist.")
    CUSTOMER_NOT_FOUND = ReasonSpec(Code.NOT_FOUND, False, "Customer {customer_id} does not exist.")
    # Mandates (issue 20): a merchant-initiated charge outside what the customer agreed to.
    MANDATE_NOT_FOUND = ReasonSpec(Code.NOT_FOUND, False, "Mandate {mandate_id} does not exist.")
    MANDATE_REVOKED = ReasonSpec(
        Code.FAILED_PRECONDITION, False, "Mandate {mandate_id} was revoked; it allows no charge."
    )
    MANDATE_EXPIRED = ReasonSpec(
        Code.FAILED_PRECONDITION, False, "Mandate {mandate_id} expired at {expire_time}."
    )
    MANDATE_AMOUNT_EXCEEDED = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "{requested} is over the {max_amount} per charge that mandate {mandate_id} allows.",
    )
    MANDATE_CURRENCY_MISMATCH = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Mandate {mandate_id} allows charges in {expected}, not in {given}.",
    )
    MANDATE_ALREADY_USED = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Mandate {mandate_id} is single-use and was used by payment {payment_id}.",
    )
    MANDATE_FREQUENCY_EXCEEDED = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Mandate {mandate_id} allows {allowed} charge(s) per {period}; {made} made already.",
    )
    MANDATE_CUSTOMER_MISMATCH = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Mandate {mandate_id} was given by customer {mandate_customer}, not {customer_id}.",
    )
    CARD_TOKEN_CUSTOMER_MISMATCH = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Card token {token_id} belongs to customer {token_customer}, not {customer_id}.",
    )
    MANDATE_NOT_MULTI_USE = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Mandate {mandate_id} is single-use; a subscription charges under a multi-use one.",
    )
    PAYMENT_METHOD_VERIFICATION_FAILED = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "The payment method could not be verified (payment {payment_id}): {why}",
    )
    # Subscriptions and billing (issue 20).
    PRICE_NOT_FOUND = ReasonSpec(Code.NOT_FOUND, False, "Price {price_id} does not exist.")
    SUBSCRIPTION_NOT_FOUND = ReasonSpec(
        Code.NOT_FOUND, False, "Subscription {subscription_id} does not exist."
    )
    SUBSCRIPTION_STATUS_CONFLICT = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Subscription {subscription_id} is {status}; it cannot be {action}.",
    )
    SUBSCRIPTION_PRICE_MISMATCH = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Price {price_id} has another interval or currency than subscription {subscription_id}.",
    )
    TEST_CLOCK_BACKWARDS = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "The test clock is at {now}; it only moves forward (asked for {to_time}).",
    )
    TEST_CLOCKS_DISABLED = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Test clocks are off on this server (setting billing.test_clocks).",
    )
    API_KEY_NOT_FOUND = ReasonSpec(Code.NOT_FOUND, False, "API key {prefix} does not exist.")
    MERCHANT_ALREADY_EXISTS = ReasonSpec(
        Code.ALREADY_EXISTS, False, "Merchant {merchant_id} already exists."
    )
    API_KEY_REVOKED = ReasonSpec(
        Code.FAILED_PRECONDITION, False, "API key {prefix} is revoked; it cannot be rotated."
    )
    REFUND_NOT_FOUND = ReasonSpec(Code.NOT_FOUND, False, "Refund {refund_id} does not exist.")
    REVIEW_NOT_FOUND = ReasonSpec(
        Code.NOT_FOUND, False, "Payment {payment_id} was never held for risk review."
    )
    RISK_LIST_ENTRY_NOT_FOUND = ReasonSpec(
        Code.NOT_FOUND, False, "Risk list entry {entry_id} does not exist."
    )
    WEBHOOK_ENDPOINT_NOT_FOUND = ReasonSpec(
        Code.NOT_FOUND, False, "Webhook endpoint {endpoint_id} does not exist."
    )
    EVENT_NOT_FOUND = ReasonSpec(Code.NOT_FOUND, False, "Event {event_id} does not exist.")
    WEBHOOK_ENDPOINT_LIMIT_REACHED = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "The merchant already has {limit} webhook endpoints; delete one first.",
    )
    NOTHING_TO_REDELIVER = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Event {event_id} has no finished or dead-lettered delivery{to_endpoint} to send again.",
    )
    ACCOUNT_NOT_FOUND = ReasonSpec(Code.NOT_FOUND, False, "Account {account_id} does not exist.")
    SETTLEMENT_NOT_FOUND = ReasonSpec(
        Code.NOT_FOUND, False, "No {currency} settlement for {business_date} exists."
    )
    BUSINESS_DAY_NOT_CLOSED = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Business day {business_date} is not over: it can be settled from {settleable_from}"
        " (its end in {time_zone} plus the cut-off grace of {grace_s} s).",
    )
    # Ledger: what an account's kind, currency or balance does not allow.
    INSUFFICIENT_FUNDS = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Account {account_id} has {available} available; {requested} cannot be taken from it.",
    )
    ACCOUNT_NOT_TRANSFERABLE = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Account {account_id} is a {kind} account; only customer wallets and the available"
        " balance move by transfer.",
    )
    ACCOUNT_NOT_A_WALLET = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Account {account_id} is a {kind} account; only a customer wallet pays or is topped up.",
    )
    TOP_UP_NOT_REFUNDABLE = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Payment {payment_id} topped up a wallet; its money leaves the wallet, not the card.",
    )
    WITHDRAWAL_NOT_FOUND = ReasonSpec(
        Code.NOT_FOUND, False, "Withdrawal {withdrawal_id} does not exist."
    )
    WITHDRAWAL_NOT_IN_REVIEW = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Withdrawal {withdrawal_id} is {state}; only a withdrawal held for review can be"
        " approved or rejected.",
    )
    DISPUTE_NOT_FOUND = ReasonSpec(Code.NOT_FOUND, False, "Dispute {dispute_id} does not exist.")
    DISPUTE_NOT_RESPONDABLE = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Dispute {dispute_id} is {state}; only a dispute that needs a response takes evidence"
        " or can be accepted.",
    )
    VERIFICATION_NOT_PENDING = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Payment {payment_id} is {state} and waits for no verification code.",
    )
    PAYMENT_DISPUTED = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Payment {payment_id} has dispute {dispute_id} ({state}); it cannot be refunded.",
    )
    BANK_TRANSFER_PENDING = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Payment {payment_id} is a bank transfer the bank has not reported yet; nothing can"
        " be done on it until the money arrives (then it is refundable) or the transfer fails.",
    )
    WALLET_CUSTOMER_PENDING = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Payment {payment_id} waits for its customer's decision in the wallet; nothing can be"
        " done on it until the wallet reports it approved, declined or expired.",
    )
    ACCOUNT_CURRENCY_MISMATCH = ReasonSpec(
        Code.INVALID_ARGUMENT,
        False,
        "The amount is in {given}, but account {account_id} is in {expected}.",
    )
    # Illegal transitions: the payment's state does not allow the operation.
    PAYMENT_NOT_IN_REVIEW = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Payment {payment_id} is {state}; only a payment held for review can be approved"
        " or rejected.",
    )
    PAYMENT_NOT_CONFIRMABLE = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Payment {payment_id} is {state}; only a payment requiring confirmation can be confirmed.",
    )
    PAYMENT_NOT_CAPTURABLE = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Payment {payment_id} is {state}; only an authorized payment can be captured.",
    )
    PAYMENT_NOT_CANCELABLE = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Payment {payment_id} is {state}; only an unconfirmed or authorized one can be canceled.",
    )
    PAYMENT_NOT_REFUNDABLE = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Payment {payment_id} is {state}; only a captured payment can be refunded.",
    )
    AMOUNT_NOT_UPDATABLE = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Payment {payment_id} is {state}; its amount can change only before confirmation.",
    )
    CAPTURE_EXCEEDS_AUTHORIZED = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Capture of {requested} exceeds the authorized {capturable} of payment {payment_id}.",
    )
    REFUND_EXCEEDS_CAPTURED = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Refund of {requested} exceeds the {refundable} still refundable on payment {payment_id}.",
    )
    REFUND_NOT_IN_REVIEW = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "Refund {refund_id} is {state}; only a refund pending review can be approved or rejected.",
    )
    CHANNEL_REFUSED = ReasonSpec(
        Code.FAILED_PRECONDITION,
        False,
        "The channel refused to {operation} payment {payment_id}: {channel_message}",
    )
    # Concurrency and infrastructure.
    PAYMENT_OPERATION_IN_PROGRESS = ReasonSpec(
        Code.ABORTED,
        True,
        "Payment {payment_id} has a {operation} in progress at its channel; retry shortly.",
        retry_after_ms=1000,
    )
    REQUEST_IN_PROGRESS = ReasonSpec(
        Code.ABORTED,
        True,
        "A request with request_id {request_id} is still executing; retry it shortly.",
        retry_after_ms=500,
    )
    RATE_LIMITED = ReasonSpec(
        Code.RESOURCE_EXHAUSTED,
        True,
        "Merchant {merchant_id} is over its {rpc_class} limit of {limit}; retry later.",
        retry_after_ms=1000,
    )
    SERVICE_UNAVAILABLE = ReasonSpec(
        Code.UNAVAILABLE,
        True,
        "paycore cannot reach {dependency} right now; retry with the same request_id.",
        retry_after_ms=1000,
    )
    INTERNAL_ERROR = ReasonSpec(
        Code.INTERNAL, False, "An unexpected error happened; it was logged."
    )

    @property
    def spec(self) -> ReasonSpec:
        """The catalog row of this reason."""
        value: ReasonSpec = self.value
        return value


def _check_catalog_unique() -> None:
    # enum.Enum silently turns a member whose value equals an earlier one into
    # an alias, which would make two reasons indistinguishable on the wire.
    # Refuse that at import time, like asyncpg's error registry does.
    names = list(Reason.__members__)
    canonical = [member.name for member in Reason]
    if names != canonical:
        aliases = sorted(set(names) - set(canonical))
        raise RuntimeError(f"error catalog has reasons that share a spec: {aliases}")


_check_catalog_unique()


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One invalid field of a request (google.rpc.BadRequest.FieldViolation).

    ``field`` is a path in the request message, e.g. ``amount.currency_code`` or
    ``payment_method.card.number``.
    """

    field: str
    description: str


MESSAGE_BUDGET = 400
"""Characters of field descriptions a validation message carries; past it, fields are only named."""


def describe_violations(violations: Sequence[FieldViolation]) -> str:
    """``field: what to fix; ...`` naming every violation, short enough for a status line.

    Descriptions are included while they fit in ``MESSAGE_BUDGET``; the fields
    after that are listed by name (BadRequest still carries every description).
    """
    described: list[str] = []
    named: list[str] = []
    used = 0
    for violation in violations:
        text = f"{violation.field or '(request)'}: {violation.description}"
        if not named and used + len(text) <= MESSAGE_BUDGET:
            described.append(text)
            used += len(text) + 2
        else:
            named.append(violation.field or "(request)")
    if named:
        described.append("also invalid: " + ", ".join(named))
    return "; ".join(described)


class PaycoreError(Exception):
    """A failure that has a catalog reason. Everything callers see is one of these."""

    def __init__(self, reason: Reason, /, **metadata: object) -> None:
        self.reason = reason
        self.metadata: Mapping[str, str] = {k: str(v) for k, v in metadata.items()}
        try:
            message = reason.spec.template.format(**self.metadata)
        except (KeyError, IndexError):
            message = reason.spec.template
        self.message = message
        super().__init__(message)

    @property
    def code(self) -> Code:
        """The status code the reason travels with."""
        return self.reason.spec.code

    @property
    def retryable(self) -> bool:
        """Whether repeating the same request may succeed."""
        return self.reason.spec.retryable

    @property
    def retry_after_ms(self) -> int:
        """The delay to suggest in google.rpc.RetryInfo (0: none)."""
        return self.reason.spec.retry_after_ms if self.retryable else 0


class ValidationError(PaycoreError):
    """The request is malformed; ``violations`` names every bad field."""

    def __init__(
        self, violations: list[FieldViolation], reason: Reason = Reason.VALIDATION_FAILED
    ) -> None:
        if not violations:
            raise ValueError("a ValidationError needs at least one violation")
        self.violations = tuple(violations)
        super().__init__(reason, violation_count=len(violations))
        # The status message is all that grpcurl, buf curl and logs show without
        # decoding BadRequest, so it names every bad field and what to fix.
        self.message = f"{self.message.removesuffix('.')}: {describe_violations(self.violations)}"
        self.args = (self.message,)


class RateLimitedError(PaycoreError):
    """The merchant spent its request budget; ``retry_after_ms`` says when it refills."""

    def __init__(self, merchant_id: str, rpc_class: str, limit: str, retry_after_ms: int) -> None:
        super().__init__(
            Reason.RATE_LIMITED, merchant_id=merchant_id, rpc_class=rpc_class, limit=limit
        )
        self._retry_after_ms = max(1, retry_after_ms)
        self.quota_subject = f"merchant:{merchant_id}:{rpc_class}"

    @property
    def retry_after_ms(self) -> int:
        """Exactly how long until the next request of this class would be allowed."""
        return self._retry_after_ms


class AuthenticationLockedError(PaycoreError):
    """Too many failed authentications from a peer or key prefix; locked for ``retry_after_ms``."""

    def __init__(self, subject: str, retry_after_ms: int) -> None:
        super().__init__(Reason.AUTHENTICATION_LOCKED, subject=subject)
        self._retry_after_ms = max(1, retry_after_ms)

    @property
    def retry_after_ms(self) -> int:
        """How long the lock still holds."""
        return self._retry_after_ms


class NotFoundError(PaycoreError):
    """The resource does not exist for the caller's merchant."""


class IllegalTransitionError(PaycoreError):
    """The state machine refused an operation in the payment's current state."""


@dataclass(slots=True)
class ViolationCollector:
    """Gathers field violations so a request reports all its mistakes at once."""

    violations: list[FieldViolation] = field(default_factory=list)

    def add(self, field_path: str, description: str) -> None:
        """Record one violation."""
        self.violations.append(FieldViolation(field_path, description))

    def raise_if_any(self, reason: Reason = Reason.VALIDATION_FAILED) -> None:
        """Raise a ValidationError when anything was recorded."""
        if self.violations:
            raise ValidationError(self.violations, reason)
