"""Validated inputs of the payment service: what a caller asked for, in domain terms.

The API layer builds these from protobuf requests (rejecting malformed ones
with field violations); the service layer never sees a protobuf message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from core.domain.money import Money
from core.domain.payment import (
    BankTransferDetails,
    CaptureMethod,
    ConfirmationMethod,
    PaymentState,
    RedirectWalletDetails,
    RefundState,
    RiskContext,
)


@dataclass(frozen=True, slots=True)
class CardInput:
    """A full card as submitted; held in memory only for the channel call."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str = ""
    holder_name: str = ""

    def __repr__(self) -> str:
        # Never let a full card number or CVC reach a log through repr().
        return f"CardInput(number='{self.number[:6]}...{self.number[-4:]}', cvc='***')"


@dataclass(frozen=True, slots=True)
class CreatePayment:
    """Create (and by default authorize) a payment."""

    merchant_id: str
    amount: Money
    card: CardInput | None
    """None with a ``card_token``, or with manual confirmation (ConfirmPayment brings the card)."""
    capture_method: CaptureMethod = CaptureMethod.AUTOMATIC
    confirmation_method: ConfirmationMethod = ConfirmationMethod.AUTOMATIC
    customer_id: str = ""
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    card_token: str = ""
    """A card vault token (``tok_...``) instead of ``card``; resolved by the service."""
    risk_context: RiskContext = field(default_factory=RiskContext)
    """Customer signals for risk scoring (email, IP, device)."""
    bank_transfer: BankTransferDetails | None = None
    """Pay by bank transfer (the payer's details) instead of a card."""
    redirect_wallet: RedirectWalletDetails | None = None
    """Pay in a third-party wallet on its own page instead of a card (automatic confirmation)."""
    mandate_id: str = ""
    """A merchant-initiated (off-session) charge under this mandate: it gives the
    card token and the customer (core/domain/mandates.py)."""
    return_url: str = ""
    """Where the customer's browser comes back after a 3-D Secure challenge."""
    mandate_time: datetime | None = None
    """When the mandate's terms (expiry, frequency window) are judged; None: the
    payment's own time. Billing passes its merchant's clock, so that renewals on a
    test clock (a year in seconds) meet a monthly mandate once a month of that clock."""


@dataclass(frozen=True, slots=True)
class ConfirmPayment:
    """Authorize a payment created with manual confirmation."""

    merchant_id: str
    payment_id: str
    card: CardInput | None
    """The card, unless ``card_token`` or ``bank_transfer`` gives the method (exactly one)."""
    card_token: str = ""
    bank_transfer: BankTransferDetails | None = None
    return_url: str = ""
    """Where the customer's browser comes back after a 3-D Secure challenge."""


@dataclass(frozen=True, slots=True)
class TokenizeCard:
    """Store a card in the vault; its CVC is checked by validation and then dropped."""

    merchant_id: str
    card: CardInput
    customer_id: str = ""
    """Whom the card belongs to (a customer id or the merchant's free text); "" for no one."""


@dataclass(frozen=True, slots=True)
class CapturePayment:
    """Capture an authorized payment; ``amount`` None captures all of it."""

    merchant_id: str
    payment_id: str
    amount: Money | None = None


@dataclass(frozen=True, slots=True)
class VerifyPaymentCode:
    """The one-time code the customer of a payment waiting for one entered."""

    merchant_id: str
    payment_id: str
    code: str = field(repr=False)
    """Never printed: a code in a log would be a code anyone reading it could use."""


@dataclass(frozen=True, slots=True)
class CancelPayment:
    """Cancel (void) a payment before capture."""

    merchant_id: str
    payment_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RefundPayment:
    """Refund part or all of a captured payment; ``amount`` None refunds the rest."""

    merchant_id: str
    payment_id: str
    amount: Money | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class UpdatePayment:
    """Change the fields that are not None."""

    merchant_id: str
    payment_id: str
    amount: Money | None = None
    description: str | None = None
    metadata: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class PaymentQuery:
    """Filters and position of one ListPayments page."""

    merchant_id: str
    page_size: int
    states: frozenset[PaymentState] = frozenset()
    customer_id: str = ""
    created_from: datetime | None = None
    created_before: datetime | None = None
    after: tuple[datetime, str] | None = None
    """Keyset cursor: the (created_at, id) of the last payment already returned."""


@dataclass(frozen=True, slots=True)
class RefundQuery:
    """Filters and position of one ListRefunds page."""

    merchant_id: str
    page_size: int
    states: frozenset[RefundState] = frozenset()
    payment_id: str = ""
    after: tuple[datetime, str] | None = None
    """Keyset cursor: the (created_at, id) of the last refund already returned."""


@dataclass(frozen=True, slots=True)
class ReviewRefund:
    """An admin's decision on a refund held for review (ApproveRefund / RejectRefund)."""

    merchant_id: str
    refund_id: str
    reason: str = ""
    """Why it was rejected (RejectRefund only)."""
