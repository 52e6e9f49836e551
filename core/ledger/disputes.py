"""Posting rules of chargebacks (pure): what opening, winning and losing one moves.

::

    chargeback opened   merchant_pending -> dispute      the disputed amount
                        merchant_pending -> fee_revenue  the dispute fee
    won                 dispute -> merchant_pending      the amount (the fee stays)
    lost (or accepted)  dispute -> clearing.<channel>    the amount, final: the channel
                                                         paid it back to the issuer

The money leaves the pending balance, as a refund's does: that balance may go
below zero (settled earlier), available never does. Inquiries move nothing.
Transaction ids are derived from the dispute (``<dispute>:open``, ``:fee``,
``:won``, ``:lost``): a step posted twice is refused by the primary key.
"""

from __future__ import annotations

from core.domain.dispute_status import DisputeStatus
from core.domain.disputes import Dispute, DisputeKind
from core.ledger.accounts import AccountKind, clearing_account_id, system_account_id
from core.ledger.journal import JournalTransaction, TransactionKind, transfer


def dispute_account_id(currency: str) -> str:
    """The merchant's dispute account in ``currency``."""
    return system_account_id(AccountKind.DISPUTE, currency)


def _move(dispute: Dispute, step: str, debit: str, credit: str, amount: int) -> JournalTransaction:
    return transfer(
        f"{dispute.id}:{step}",
        dispute.merchant_id,
        TransactionKind.DISPUTE,
        debit=debit,
        credit=credit,
        amount=amount,
        currency=dispute.amount.currency,
        reference=dispute.payment_id,
        description=f"dispute {dispute.id} {step}",
    )


def _withdraws(dispute: Dispute | None) -> bool:
    return dispute is not None and dispute.kind is DisputeKind.CHARGEBACK


def postings_for_dispute(before: Dispute | None, after: Dispute) -> list[JournalTransaction]:
    """The journal transactions that turn ``before`` (None: new) into ``after`` (pure)."""
    if before is not None and before.id != after.id:
        raise ValueError("postings_for_dispute compares two versions of the same dispute")
    currency = after.amount.currency
    pending = system_account_id(AccountKind.MERCHANT_PENDING, currency)
    held = dispute_account_id(currency)
    out: list[JournalTransaction] = []
    if _withdraws(after) and not _withdraws(before):
        out.append(_move(after, "open", pending, held, after.amount.amount))
        if after.fee.amount:
            fee_revenue = system_account_id(AccountKind.FEE_REVENUE, currency)
            out.append(_move(after, "fee", pending, fee_revenue, after.fee.amount))
    was = before.status if before is not None and _withdraws(before) else None
    if _withdraws(after) and after.status is not was:
        if after.status is DisputeStatus.WON:
            out.append(_move(after, "won", held, pending, after.amount.amount))
        elif after.status is DisputeStatus.LOST:
            clearing = clearing_account_id(after.channel, currency)
            out.append(_move(after, "lost", held, clearing, after.amount.amount))
    return out
