"""Settling one channel attempt with a late answer (a status query's or a notification's).

Used inside a transaction of core/storage/status_queries.py. The attempt's
row is locked first and re-checked, so whichever late answer arrives first
settles it and every later one (a duplicate notification, a stale "pending",
a second worker's query) changes nothing.
"""

from __future__ import annotations

import enum
import logging
from datetime import datetime

from core.domain import lifecycle
from core.domain.attempt import Attempt, ChannelResult
from core.ports.status_queries import AttemptSettlement
from core.service.payment_changes import payment_change

log = logging.getLogger(__name__)


class Settled(enum.Enum):
    """What a late answer did."""

    SETTLED = "settled"
    """The attempt and its payment now carry the answer."""
    ALREADY_SETTLED = "already_settled"
    """Someone settled the attempt first; nothing changed."""
    STILL_UNKNOWN = "still_unknown"
    """The answer was not definitive ("pending", or the channel could not tell)."""
    NEEDS_ATTENTION = "needs_attention"
    """The payment no longer matches the attempt: marked for a person."""


async def settle_attempt(
    tx: AttemptSettlement, attempt: Attempt, result: ChannelResult, at: datetime
) -> Settled:
    """Apply ``result`` to ``attempt`` and its payment, once (see the module docstring)."""
    recorded = await tx.lock_unresolved_attempt(attempt.merchant_id, attempt.id)
    if not recorded:
        return Settled.ALREADY_SETTLED
    if not result.outcome.is_final:
        return Settled.STILL_UNKNOWN
    payment = await tx.payments.lock(attempt.merchant_id, attempt.payment_id)
    if payment is None:  # attempts reference their payment; payments are never deleted
        raise LookupError(f"payment {attempt.payment_id} vanished")
    try:
        updated = lifecycle.resolve_attempt(payment, attempt, result, at)
    except ValueError:
        # Never guess with money: a person finds out what happened.
        log.exception("attempt %s cannot be settled automatically", attempt.id)
        await tx.reschedule_attempt(attempt.merchant_id, attempt.id, None)
        return Settled.NEEDS_ATTENTION
    await tx.attempts.complete(attempt.merchant_id, attempt.id, result, at)
    # What the late answer moved (a capture, a refund) and announces, with the payment.
    await tx.payments.save(payment_change(payment, updated))
    log.info(
        "attempt %s on %s settled late: %s (payment %s is %s)",
        attempt.id,
        attempt.channel,
        result.outcome.value,
        payment.id,
        updated.state.value,
    )
    return Settled.SETTLED
