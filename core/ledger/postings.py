"""Posting rules: the journal transactions a payment's change causes.

``postings_for(before, after)`` compares two versions of one payment (``before``
is None for a new one) and returns the money movements between them::

    authorized (manual capture)  hold  clearing -> merchant_pending  (PENDING)
    captured from a hold         post the hold for the captured amount,
                                 releasing the rest              (POST_PENDING)
    canceled from a hold         release the hold                (VOID_PENDING)
    captured at once (automatic) clearing -> merchant_pending    (POSTED)
    refund succeeded             merchant_pending -> clearing    (POSTED)

Which accounts: a card payment moves money from the channel's clearing
account to the merchant's pending balance. Two kinds of payment name a
customer wallet in their metadata (keys only paycore sets; merchants cannot,
see core/api/requests/fields.py):

- ``paycore.wallet_account_id``: a payment FROM the wallet (PayFromWallet):
  the wallet takes the channel's place (its hold reserves the wallet's money);
- ``paycore.top_up_account_id``: a card payment INTO the wallet (TopUpWallet):
  the wallet takes the merchant's place (a top-up is the customer's money).

Fees are not posted here: they are charged at settlement from the fee
schedule (core/ledger/settlement.py), as Adyen's settlement batches do, so a
payment's postings never depend on configuration.

Transaction ids are derived from the payment (``<payment>:hold``,
``<payment>:capture``, ``<payment>:refund:<refund>``): a change saved twice
cannot post twice, PostgreSQL refuses the second primary key.
"""

from __future__ import annotations

from core.domain.payment import TOP_UP_KEY, WALLET_KEY, Payment, PaymentState, RefundState
from core.ledger.accounts import AccountKind, clearing_account_id, system_account_id
from core.ledger.journal import JournalTransaction, Phase, TransactionKind, transfer


def _method(payment: Payment) -> str:
    if WALLET_KEY in payment.metadata:
        return "wallet"
    return payment.method or "other"  # "card", "bank_transfer" (fee rules per method)


def payment_accounts(payment: Payment) -> tuple[str, str]:
    """(source, destination): the accounts a payment's capture debits and credits."""
    currency = payment.currency
    source = payment.metadata.get(WALLET_KEY) or clearing_account_id(payment.channel, currency)
    destination = payment.metadata.get(TOP_UP_KEY) or system_account_id(
        AccountKind.MERCHANT_PENDING, currency
    )
    return source, destination


def _holds(payment: Payment | None) -> bool:
    # An authorized payment keeps its hold while a capture or void is in
    # flight: the state changes only when the channel's answer is applied.
    return payment is not None and payment.state is PaymentState.AUTHORIZED


def postings_for(before: Payment | None, after: Payment) -> list[JournalTransaction]:
    """The journal transactions that turn ``before`` into ``after`` in the ledger (pure).

    Raises ValueError when the two versions are of different payments or
    their amounts changed in a way no lifecycle transition produces.
    """
    if before is not None and (before.id, before.merchant_id) != (after.id, after.merchant_id):
        raise ValueError("postings_for compares two versions of the same payment")
    currency = after.currency
    captured_before = before.amount_captured.amount if before else 0
    refunded_before = before.amount_refunded.amount if before else 0
    captured = after.amount_captured.amount - captured_before
    refunded = after.amount_refunded.amount - refunded_before
    if captured < 0 or refunded < 0:
        raise ValueError("captured and refunded amounts never decrease")
    if captured == 0 and refunded == 0 and _holds(before) == _holds(after):
        return []  # the common case: no money moved (details, markers, reviews)

    def movement(
        suffix: str,
        kind: TransactionKind,
        amount: int,
        phase: Phase = Phase.POSTED,
        pending_id: str = "",
    ) -> JournalTransaction:
        debit, credit = source, destination
        if kind is TransactionKind.REFUND:
            debit, credit = destination, source
        return transfer(
            f"{after.id}:{suffix}",
            after.merchant_id,
            kind,
            debit=debit,
            credit=credit,
            amount=amount,
            currency=currency,
            reference=after.id,
            method=_method(after),
            phase=phase,
            pending_id=pending_id,
        )

    source, destination = payment_accounts(after)
    hold_id = f"{after.id}:hold"
    out: list[JournalTransaction] = []
    if _holds(after) and not _holds(before):
        out.append(
            movement("hold", TransactionKind.AUTHORIZATION, after.amount.amount, Phase.PENDING)
        )
    if _holds(before) and not _holds(after):
        if captured > 0:
            out.append(
                movement("capture", TransactionKind.CAPTURE, captured, Phase.POST_PENDING, hold_id)
            )
        else:
            out.append(
                JournalTransaction(
                    id=f"{after.id}:void",
                    merchant_id=after.merchant_id,
                    kind=TransactionKind.VOID,
                    phase=Phase.VOID_PENDING,
                    pending_id=hold_id,
                    reference=after.id,
                    method=_method(after),
                )
            )
    elif captured > 0:
        out.append(movement("capture", TransactionKind.CAPTURE, captured))
    if refunded:
        settled_before = {
            r.id for r in (before.refunds if before else ()) if r.state is RefundState.SUCCEEDED
        }
        succeeded = [
            r
            for r in after.refunds
            if r.state is RefundState.SUCCEEDED and r.id not in settled_before
        ]
        if sum(r.amount.amount for r in succeeded) != refunded:
            raise ValueError("amount_refunded changed by other than the refunds that succeeded")
        out.extend(
            movement(f"refund:{r.id}", TransactionKind.REFUND, r.amount.amount) for r in succeeded
        )
    return out
