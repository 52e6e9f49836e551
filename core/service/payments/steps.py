"""Steps the payment plans share: the locked payment, a channel attempt, a refusal as error,
and the loop of a sweep (a customer's step left past its deadline)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from core.domain import ids
from core.domain.attempt import Attempt, AttemptOutcome, ChannelOperation, ChannelResult
from core.domain.errors import NotFoundError, PaycoreError, Reason
from core.domain.money import Money
from core.domain.payment import Failure, Payment
from core.ports.repository import PaymentTransaction

log = logging.getLogger(__name__)


async def locked_payment(tx: PaymentTransaction, merchant_id: str, payment_id: str) -> Payment:
    """The payment under its row lock; NOT_FOUND for unknown ids and other merchants' payments."""
    payment = await tx.payments.lock(merchant_id, payment_id)
    if payment is None:
        raise NotFoundError(Reason.PAYMENT_NOT_FOUND, payment_id=payment_id)
    return payment


def channel_attempt(payment: Payment, operation: ChannelOperation, amount: Money) -> Attempt:
    """A new attempt of ``operation`` on the channel that holds ``payment`` (not authorize)."""
    return Attempt(
        id=ids.new_id(ids.ATTEMPT),
        merchant_id=payment.merchant_id,
        payment_id=payment.id,
        operation=operation,
        channel=payment.channel,
        amount=amount,
        channel_reference=payment.channel_reference,
    )


def refused_or(payment: Payment, result: ChannelResult, operation: str) -> Payment | PaycoreError:
    """The payment, or CHANNEL_REFUSED when the channel said no to a capture or void."""
    if result.outcome in (AttemptOutcome.DECLINED, AttemptOutcome.FAILED):
        failure = result.failure or Failure("refused", "The channel refused the operation.")
        return PaycoreError(
            Reason.CHANNEL_REFUSED,
            operation=operation,
            payment_id=payment.id,
            channel_message=failure.message,
        )
    return payment


async def sweep_every(
    interval_s: float, stopping: asyncio.Event, sweep: Callable[[], Awaitable[int]], what: str
) -> None:
    """Run ``sweep`` every ``interval_s`` until ``stopping`` is set.

    A failed sweep is logged and the next one retries: what it would have
    ended waits a little longer, nothing is lost.
    """
    while not stopping.is_set():
        try:
            await sweep()
        except Exception:
            log.exception("%s sweep failed", what)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval_s)
