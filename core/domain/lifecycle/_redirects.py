"""Redirect and QR wallets: a payment waiting while its customer decides on the wallet's page.

The customer reaches the page by a redirect, or (a merchant-presented QR code,
``RedirectWalletDetails.scan_qr``) by scanning the code the merchant shows.

::

    PENDING --wallet answers "pending" with its page--> REQUIRES_ACTION (AUTHORIZE in flight)
    REQUIRES_ACTION --approved---------------------> CAPTURED (automatic) / AUTHORIZED (manual)
    REQUIRES_ACTION --declined---------------------> DECLINED
    REQUIRES_ACTION --expired undecided------------> CANCELED (``customer_abandoned``)

Unlike a 3-D Secure challenge (``_customer_action``) the channel already holds
the attempt: the customer's decision reaches paycore as the wallet's answer to
it, by notification or status query (``resolve_attempt``), so every late or
repeated answer is ordered by the attempt's row lock like any channel answer.
The wallet owns the expiry: past it, it answers the attempt as abandoned.
"""

from __future__ import annotations

from datetime import datetime

from core.domain.attempt import CUSTOMER_ABANDONED, ChannelOperation, CustomerRedirect
from core.domain.evolve import evolve
from core.domain.payment import Failure, Payment, PaymentState

S = PaymentState


def awaits_wallet_customer(payment: Payment) -> bool:
    """Whether ``payment`` waits for its customer's decision on a wallet's page."""
    return (
        payment.state is S.REQUIRES_ACTION
        and payment.operation_in_flight == ChannelOperation.AUTHORIZE.value
    )


def redirect_to_wallet(payment: Payment, redirect: CustomerRedirect, at: datetime) -> Payment:
    """The wallet took the authorization and has a page for the customer: REQUIRES_ACTION
    (``next_action``: a redirect to it, or its QR code to show).

    The authorization stays in flight: nothing else may start on the payment
    until the wallet's answer settles it.
    """
    if payment.redirect_wallet is None:
        raise ValueError(f"payment {payment.id} is not a redirect wallet payment")
    action = payment.redirect_wallet.action(redirect.url, redirect.expires_at)
    return evolve(payment, state=S.REQUIRES_ACTION, next_action=action, updated_at=at)


def unanswered_state(payment: Payment, failure: Failure, otherwise: PaymentState) -> PaymentState:
    """The state of a wallet payment whose attempt ended without money (else ``otherwise``).

    An attempt the customer never decided on cancels the payment (nothing was
    taken); a decline or an error keeps ``otherwise``.
    """
    if payment.redirect_wallet is not None and failure.code == CUSTOMER_ABANDONED:
        return S.CANCELED
    return otherwise
