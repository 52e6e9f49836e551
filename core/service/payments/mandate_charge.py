"""CreatePayment under a mandate (issue 20): the mandate check step of its plan.

A merchant-initiated charge names a mandate instead of a card: the mandate,
locked for the request's transaction, must allow it (core/domain/mandates.py
says why not, each broken term with its own reason, and nothing is created);
it then gives the card token, the customer and the agreement id the channel
is told about (core/service/payments/authorize.py).
"""

from __future__ import annotations

from datetime import datetime

from core.domain import mandates as rules
from core.domain.commands import CreatePayment
from core.domain.errors import NotFoundError, Reason
from core.domain.mandates import MandateCharge
from core.domain.payment import Payment
from core.ports.repository import PaymentTransaction
from core.service.requests import Plan


async def charge_under_mandate(
    tx: PaymentTransaction, command: CreatePayment, at: datetime
) -> MandateCharge:
    """The charge ``command`` may make under its mandate; refused with the term it breaks.

    The mandate's row stays locked until the payment commits, so concurrent
    charges of one mandate (and its revocation) take turns: a single-use
    mandate pays once, a frequency is never exceeded by a race.
    """
    mandate = await tx.mandates.lock(command.merchant_id, command.mandate_id)
    if mandate is None:
        raise NotFoundError(Reason.MANDATE_NOT_FOUND, mandate_id=command.mandate_id)
    window = mandate.scope.frequency.window()
    history = await tx.mandates.history(
        mandate.merchant_id, mandate.id, None if window is None else at - window
    )
    rules.check_charge(
        mandate, customer_id=command.customer_id, amount=command.amount, at=at, history=history
    )
    return MandateCharge(mandate.id, mandate.customer_id, mandate.card_token, mandate.agreement_id)


async def check_still_in_force(
    tx: PaymentTransaction, merchant_id: str, mandate_id: str, at: datetime
) -> None:
    """Refuse to send a held charge whose mandate was revoked (or expired) while it waited.

    A merchant-initiated charge held for review was checked against its
    mandate when it was created; the customer may have withdrawn consent
    since. Approving it then would charge without consent, so the approval
    is refused (nothing changes; the admin rejects the held payment instead).
    The row lock orders this against a concurrent revocation.
    """
    mandate = await tx.mandates.lock(merchant_id, mandate_id)
    if mandate is None:  # mandates are never deleted; a charge names an existing one
        raise NotFoundError(Reason.MANDATE_NOT_FOUND, mandate_id=mandate_id)
    rules.check_in_force(mandate, at)


async def record_mandate_charge(
    tx: PaymentTransaction, charge: MandateCharge, planned: Plan[Payment], at: datetime
) -> None:
    """Note the payment under its mandate, unless it never got past risk or routing.

    A payment declined by risk or left unroutable asked the customer's bank
    for nothing: nothing is noted. One sent to the channel (or held for
    review) is noted now, before its answer; if it then ends declined or
    failed it counts for nothing (``rules.UNUSED_BY``: the history leaves it
    out), so a declined charge retried later does not exhaust the mandate.
    """
    payment = planned.result
    assert payment is not None  # the authorization path always decides a payment
    if payment.state in rules.UNUSED_BY:
        return
    await tx.mandates.record_charge(payment.merchant_id, charge.mandate_id, payment.id, at)
