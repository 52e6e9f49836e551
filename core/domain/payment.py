"""The payment aggregate: a Payment, its Refunds, and what they carry.

All values are frozen; a change is a new value made by ``core.domain.lifecycle``,
the only module that decides which transitions are legal.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import MappingProxyType

from core.domain.authentication import Authentication, DisplayQrCode, NextAction, RedirectToUrl
from core.domain.dispute_status import DisputeStatus
from core.domain.money import Money


class PaymentState(enum.Enum):
    """Lifecycle states; see protos/paycore/v1/payment.proto for the diagram."""

    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_REVIEW = "requires_review"
    """Held by a REVIEW risk decision until an admin approves or rejects it."""
    PENDING = "pending"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CANCELED = "canceled"
    DECLINED = "declined"
    FAILED = "failed"
    REQUIRES_ACTION = "requires_action"
    """The customer must act first (``Payment.next_action``: a 3-D Secure challenge).

    Listed last: the encoding tests' samples number the states in this order.
    """

    @property
    def is_terminal(self) -> bool:
        """No operation can leave this state."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {PaymentState.REFUNDED, PaymentState.CANCELED, PaymentState.DECLINED, PaymentState.FAILED}
)


class CaptureMethod(enum.Enum):
    """When an authorized payment is captured."""

    AUTOMATIC = "automatic"
    MANUAL = "manual"


class ConfirmationMethod(enum.Enum):
    """Whether creation also authorizes."""

    AUTOMATIC = "automatic"
    MANUAL = "manual"


class RefundState(enum.Enum):
    """Lifecycle of one refund.

    ::

        PENDING_REVIEW --approve--> PENDING --channel--> SUCCEEDED | FAILED
              |
              +--reject--> REJECTED

    A refund is created PENDING (sent to the channel at once) or, when it
    needs a person's look first, PENDING_REVIEW (not sent). Both reserve
    their amount; SUCCEEDED spends it; FAILED and REJECTED free it.
    """

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING_REVIEW = "pending_review"
    REJECTED = "rejected"

    @property
    def reserves_amount(self) -> bool:
        """Whether a refund in this state counts against what may still be refunded."""
        return self in (RefundState.PENDING, RefundState.PENDING_REVIEW)


class RiskDecision(enum.Enum):
    """The risk engine's verdict."""

    APPROVE = "approve"
    STEP_UP = "step_up"
    """Let through only once the customer authenticates (a challenge or a code)."""
    REVIEW = "review"
    DECLINE = "decline"


@dataclass(frozen=True, slots=True)
class CardSummary:
    """A card as paycore keeps it: masked, never the full number or the CVC."""

    brand: str
    bin: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str


@dataclass(frozen=True, slots=True)
class BankAccount:
    """An account a customer sends a bank transfer to (the bank's collection account)."""

    iban: str
    bic: str
    holder: str


@dataclass(frozen=True, slots=True)
class BankTransferDetails:
    """A payment by bank transfer: who pays, and (once the bank registered it) how.

    ``reference`` and ``pay_to`` come from the bank's answer to the
    authorization; until then they are empty.
    """

    payer_name: str
    payer_email: str = ""
    reference: str = ""
    """What the customer quotes in the transfer (the bank's reference of it)."""
    pay_to: BankAccount | None = None


@dataclass(frozen=True, slots=True)
class RedirectWalletDetails:
    """A payment through a third-party wallet the customer approves on the wallet's own page.

    The wallet's answer to the authorization is a page to send the customer
    to (the payment's ``next_action``); they come back to ``return_url``, and
    the wallet's notification (or a status query) settles the payment.
    """

    provider: str
    """The wallet, as the merchant names it to the customer (e.g. "sandbox_pay")."""
    return_url: str
    """Where the wallet sends the customer's browser back once they decided."""
    scan_qr: bool = False
    """A merchant-presented QR code instead of a redirect: the merchant shows the
    wallet's page as a QR code, the customer scans it and decides on their phone
    (no ``return_url``)."""

    def action(self, page_url: str, expires_at: datetime) -> NextAction:
        """What the customer must do to reach the wallet's page ``page_url``."""
        if self.scan_qr:
            return NextAction(None, expires_at, DisplayQrCode(page_url))
        return NextAction(RedirectToUrl(page_url, self.return_url), expires_at)


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    """Score 0-100, decision and the ids of the rules that fired."""

    score: int
    decision: RiskDecision
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RiskContext:
    """What the merchant tells the risk engine about the customer (all optional)."""

    customer_email: str = ""
    ip_address: str = ""
    ip_country: str = ""
    """ISO 3166-1 alpha-2, upper case, as the merchant's edge geolocated ``ip_address``."""
    device_id: str = ""

    def signals(self) -> dict[str, str]:
        """The fields by name (``dataclasses.asdict`` without its deep copy: all are str)."""
        return {name: getattr(self, name) for name in _RISK_SIGNALS}


_RISK_SIGNALS = tuple(f.name for f in fields(RiskContext))


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a payment was declined or failed: a lower_snake code and a message."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund of part or all of a captured payment."""

    id: str
    payment_id: str
    amount: Money
    state: RefundState
    reason: str
    created_at: datetime
    channel_reference: str = ""
    rejection_reason: str = ""
    """Why an admin rejected the refund (REJECTED only; may be empty)."""
    failure: Failure | None = None
    """Why the channel refused the refund (FAILED only)."""


@dataclass(frozen=True, slots=True)
class RoutingRecord:
    """How a payment was routed: the candidate channels in order, and each strategy's note."""

    candidates: tuple[str, ...]
    steps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One call paycore made to a channel for a payment, as recorded (read-only history)."""

    id: str
    operation: str
    channel: str
    amount: Money
    outcome: str
    """"started", "succeeded", "declined", "failed" or "unknown"."""
    created_at: datetime
    failure_code: str = ""
    channel_reference: str = ""
    refund_id: str = ""
    completed_at: datetime | None = None
    needs_attention: bool = False
    """Status queries could not settle it: a person must find out what happened."""


WALLET_KEY = "paycore.wallet_account_id"
"""Metadata naming the wallet a payment is paid from."""
TOP_UP_KEY = "paycore.top_up_account_id"
"""Metadata naming the wallet a card payment tops up."""
RESERVED_PREFIX = "paycore."
"""Metadata keys paycore sets itself; a merchant's request may not use them.

The ledger's posting rules read them (core/ledger/postings.py).
"""


def _frozen_metadata(metadata: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(metadata))


@dataclass(frozen=True, slots=True)
class PaymentDispute:
    """One dispute of a payment, as the payment shows it (the dispute is DisputeService's)."""

    id: str
    status: DisputeStatus
    amount: Money


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment of one merchant.

    ``amount_captured`` and ``amount_refunded`` are in the payment's currency;
    the invariant ``0 <= amount_refunded <= amount_captured <= amount`` holds
    for every value the lifecycle produces (and PostgreSQL checks it again).
    """

    id: str
    merchant_id: str
    state: PaymentState
    amount: Money
    amount_captured: Money
    amount_refunded: Money
    capture_method: CaptureMethod
    confirmation_method: ConfirmationMethod
    card: CardSummary | None
    created_at: datetime
    updated_at: datetime
    customer_id: str = ""
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    risk: RiskAssessment | None = None
    failure: Failure | None = None
    channel: str = ""
    channel_reference: str = ""
    refunds: tuple[Refund, ...] = ()
    operation_in_flight: str = ""
    """Name of the channel operation currently running on this payment, if any.

    Set (and committed) before paycore talks to a channel, cleared when the
    answer is committed. While set, no other operation may start: this is what
    makes a capture racing a cancel end in exactly one legal outcome. If the
    process dies in between, the marker stays and the payment is resolved by a
    status query to the channel rather than by a second attempt.
    """
    routing: RoutingRecord | None = None
    """The routing decision, set when the payment was sent to a channel."""
    attempts: tuple[AttemptRecord, ...] = ()
    """Every channel call made for the payment, oldest first (read from storage, never saved)."""
    bank_transfer: BankTransferDetails | None = None
    """Set when the payment method is a bank transfer (then ``card`` is None)."""
    next_action: NextAction | None = None
    """What the customer must do (REQUIRES_ACTION only)."""
    authentication: Authentication | None = None
    """The card's 3-D Secure result (None: the card takes no part in 3-D Secure)."""
    disputes: tuple[PaymentDispute, ...] = ()
    """The payment's disputes, oldest first (read from storage, never saved: a dispute
    changes no state of the payment)."""
    redirect_wallet: RedirectWalletDetails | None = None
    """Set when the payment method is a redirect wallet (None for every other method)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "metadata", _frozen_metadata(self.metadata))
        currency = self.amount.currency
        if not (self.amount_captured.currency == self.amount_refunded.currency == currency):
            raise ValueError("a payment's amounts must share its currency")
        if not (
            0 <= self.amount_refunded.amount <= self.amount_captured.amount <= self.amount.amount
        ):
            raise ValueError("payment amounts break refunded <= captured <= amount")

    @property
    def currency(self) -> str:
        """The payment's ISO 4217 currency code."""
        return self.amount.currency

    @property
    def method(self) -> str:
        """The payment method as routing names it: "card", "bank_transfer", "redirect_wallet",
        "qr_wallet" ("": none yet)."""
        if self.bank_transfer is not None:
            return "bank_transfer"
        if self.redirect_wallet is not None:
            return "qr_wallet" if self.redirect_wallet.scan_qr else "redirect_wallet"
        return "card" if self.card is not None else ""

    @property
    def awaits_bank_transfer(self) -> bool:
        """A bank transfer the bank registered and has not reported yet (the money is on its way).

        Nothing may start on it: the customer may be sending the money right now.
        """
        return (
            self.bank_transfer is not None
            and self.state is PaymentState.PENDING
            and bool(self.bank_transfer.reference)
        )

    @property
    def amount_capturable(self) -> Money:
        """What CapturePayment may still take."""
        if self.state is PaymentState.AUTHORIZED:
            return self.amount
        return Money.zero(self.currency)

    @property
    def amount_refundable(self) -> Money:
        """What RefundPayment may still return.

        Refunds still PENDING at the channel count as spent: if they succeed
        they are refunded, and a second refund must not have counted on them.
        So do refunds waiting in PENDING_REVIEW: an approval must never find
        the money already promised to another refund.
        """
        pending = sum(r.amount.amount for r in self.refunds if r.state.reserves_amount)
        return self.amount_captured - self.amount_refunded - Money(pending, self.currency)
