"""Domain payments for tests that need no server: ``domain_payment`` and ``new_claim``.

``domain_payment`` builds a ``core.domain.payment.Payment`` from safe defaults that
any field overrides; ``new_claim`` is a new payment's first transaction as the group
commit takes it (``core.ports.repository.NewClaim``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.domain import ids
from core.domain.attempt import Attempt, ChannelOperation
from core.domain.money import Money
from core.domain.payment import CaptureMethod, ConfirmationMethod, Payment, PaymentState
from core.ports.repository import NewClaim, RequestKey
from core.service.payment_changes import payment_change

AT = datetime(2026, 6, 1, 12, tzinfo=UTC)
"""When the payments of this module are made (unless a test says otherwise)."""


def domain_payment(
    state: PaymentState = PaymentState.REQUIRES_CONFIRMATION, /, **fields: object
) -> Payment:
    """Payment ``pay_1`` of merchant ``m_1`` for 10.00 USD in ``state``.

    Nothing captured or refunded (in the amount's currency), captured and confirmed
    automatically, no card, made and last changed at ``AT``; ``fields`` set any field
    of Payment (``state`` too).
    """
    amount = fields.get("amount", Money(1000, "USD"))
    assert isinstance(amount, Money)
    values: dict[str, object] = {
        "id": "pay_1",
        "merchant_id": "m_1",
        "state": state,
        "amount": amount,
        "amount_captured": Money.zero(amount.currency),
        "amount_refunded": Money.zero(amount.currency),
        "capture_method": CaptureMethod.AUTOMATIC,
        "confirmation_method": ConfirmationMethod.AUTOMATIC,
        "card": None,
        "created_at": AT,
        "updated_at": AT,
    }
    values.update(fields)
    return Payment(**values)  # type: ignore[arg-type]


def new_claim(merchant_id: str, request_id: str, *, answered: bool = False) -> NewClaim:
    """A new payment in flight (with its attempt), or one answered at once (no attempt)."""
    payment = domain_payment(
        PaymentState.FAILED if answered else PaymentState.PENDING,
        id=ids.new_id(ids.PAYMENT),
        merchant_id=merchant_id,
        amount=Money(700, "EUR"),
        metadata={"order": request_id},
        channel="" if answered else "sandbox",
        operation_in_flight="" if answered else "authorize",
    )
    attempt = Attempt(
        id=ids.new_id(ids.ATTEMPT),
        merchant_id=merchant_id,
        payment_id=payment.id,
        operation=ChannelOperation.AUTHORIZE,
        channel="sandbox",
        amount=payment.amount,
    )
    return NewClaim(
        key=RequestKey(merchant_id, "CreatePayment", request_id),
        fingerprint=request_id.encode(),
        at=AT,
        lease_until=AT + timedelta(seconds=60),
        change=payment_change(None, payment),
        attempt=None if answered else attempt,
        reply=(True, b"answered") if answered else None,
    )
