"""Building the payment method of a request: a card, a stored card, a redirect or QR wallet."""

from __future__ import annotations

from paycore.v1.payment_pb2 import CardData, PaymentMethodData, QrWallet, RedirectWallet


def card(
    number: str,
    exp_month: int,
    exp_year: int,
    cvc: str = "",
    holder_name: str = "",
) -> PaymentMethodData:
    """A card as the ``payment_method`` of CreatePayment or ConfirmPayment.

    ``number`` is 12 to 19 digits without spaces, ``exp_year`` has four digits.
    The client does not validate the card; paycore does, and answers
    INVALID_ARGUMENT with a field violation per bad field.
    """
    return PaymentMethodData(
        card=CardData(
            number=number,
            exp_month=exp_month,
            exp_year=exp_year,
            cvc=cvc,
            holder_name=holder_name,
        )
    )


def card_token(token_id: str) -> PaymentMethodData:
    """A stored card (``tok_...`` from ``tokenize_card``) as the ``payment_method`` to pay with."""
    return PaymentMethodData(card_token=token_id)


def redirect_wallet(provider: str) -> PaymentMethodData:
    """A third-party wallet the customer approves the payment in, on the wallet's page.

    Give CreatePayment a ``return_url`` too: the payment is then
    STATE_REQUIRES_ACTION; send the customer to
    ``payment.next_action.redirect_to_url.url``. The wallet's notification
    settles the payment (poll ``get_payment`` or listen to webhooks).
    """
    return PaymentMethodData(redirect_wallet=RedirectWallet(provider=provider))


def qr_wallet(provider: str) -> PaymentMethodData:
    """A wallet app the customer pays in by scanning a QR code you show them.

    The payment is then STATE_REQUIRES_ACTION: show
    ``payment.next_action.display_qr_code`` (``image_png`` or ``image_svg``, or
    draw ``payload`` yourself). The wallet's notification settles the payment.
    """
    return PaymentMethodData(qr_wallet=QrWallet(provider=provider))
