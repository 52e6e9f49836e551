"""How a request pays: a full card, a vault token, a bank transfer or a redirect wallet.

Shared by the payment requests, TokenizeCard, TopUpWallet (through
CreatePayment's checks) and ScoreTransaction.
"""

from __future__ import annotations

import re
from datetime import date

from core.api.requests import fields
from core.api.requests.digits import digits
from core.domain.cards import is_expired, luhn_valid
from core.domain.commands import CardInput
from core.domain.errors import ViolationCollector
from core.domain.payment import BankTransferDetails, RedirectWalletDetails
from paycore.v1 import payment_pb2 as pb

MAX_HOLDER_NAME = 200
_PROVIDER = re.compile(r"[A-Za-z0-9_]{1,64}")


def payment_method(
    v: ViolationCollector, field: str, method: pb.PaymentMethodData, today: date
) -> tuple[CardInput | None, str]:
    """(card, "") for a full card, (None, token id) for a vault token (cards only)."""
    card_input, token, transfer = any_payment_method(v, field, method, today)
    if transfer is not None:
        v.add(f"{field}.bank_transfer", "not accepted here: a card or card_token is required")
    return card_input, token


def any_payment_method(
    v: ViolationCollector, field: str, method: pb.PaymentMethodData, today: date
) -> tuple[CardInput | None, str, BankTransferDetails | None]:
    """(card, token id, bank transfer): the one the request gave is set."""
    kind = method.WhichOneof("kind")
    if kind == "card_token":
        fields.token_id(v, f"{field}.card_token", method.card_token)
        return None, method.card_token, None
    if kind == "bank_transfer":
        return None, "", bank_transfer(v, f"{field}.bank_transfer", method.bank_transfer)
    if kind != "card":
        v.add(field, "required: a payment method (card, card_token or bank_transfer)")
        return None, "", None
    return card(v, f"{field}.card", method.card, today), "", None


WALLET_KINDS = frozenset({"redirect_wallet", "qr_wallet"})
"""The payment methods a customer approves on a wallet's page (CreatePayment only)."""


def wallet(
    v: ViolationCollector, field: str, method: pb.PaymentMethodData, return_url: str
) -> RedirectWalletDetails:
    """A redirect wallet (which needs ``return_url``) or a QR wallet (which takes none)."""
    kind = method.WhichOneof("kind")
    scan_qr = kind == "qr_wallet"
    provider = method.qr_wallet.provider if scan_qr else method.redirect_wallet.provider
    if not _PROVIDER.fullmatch(provider):
        v.add(f"{field}.{kind}.provider", "must be 1 to 64 letters, digits and underscores")
    if not scan_qr and not return_url:
        v.add("return_url", "required with a redirect wallet: where its page sends the customer")
    return RedirectWalletDetails(provider, "" if scan_qr else return_url, scan_qr=scan_qr)


def bank_transfer(
    v: ViolationCollector, field: str, transfer: pb.BankTransferData
) -> BankTransferDetails:
    """The payer of a bank transfer: a name, and an email address if given."""
    name = transfer.payer_name.strip()
    if not name:
        v.add(f"{field}.payer_name", "required: the payer's name as on their bank account")
    else:
        fields.text(v, f"{field}.payer_name", name, MAX_HOLDER_NAME)
    email = transfer.payer_email.strip()
    if email and not fields.is_email(email):
        v.add(
            f"{field}.payer_email",
            f"must be an email address of at most {fields.MAX_EMAIL} characters",
        )
    return BankTransferDetails(payer_name=name, payer_email=email.lower())


def card(v: ViolationCollector, field: str, data: pb.CardData, today: date) -> CardInput | None:
    """A full card: a Luhn-valid number, an expiry not past ``today``, a CVC if given."""
    ok = True
    number_field = f"{field}.number"
    if not digits(
        v,
        number_field,
        data.number,
        min_length=12,
        max_length=19,
        shape="12 to 19 digits without spaces",
    ):
        ok = False
    elif not luhn_valid(data.number):
        v.add(number_field, "is not a valid card number (Luhn check failed)")
        ok = False
    month_ok = 1 <= data.exp_month <= 12
    if not month_ok:
        v.add(f"{field}.exp_month", "must be 1 to 12")
        ok = False
    if not 2000 <= data.exp_year <= 2100:
        v.add(f"{field}.exp_year", "must be a four-digit year")
        ok = False
    elif month_ok and is_expired(data.exp_month, data.exp_year, today):
        v.add(f"{field}.exp_year", "the card has expired")
        ok = False
    if data.cvc and not digits(
        v, f"{field}.cvc", data.cvc, min_length=3, max_length=4, shape="3 or 4 digits"
    ):
        ok = False
    holder_violations = len(v.violations)
    fields.text(v, f"{field}.holder_name", data.holder_name, MAX_HOLDER_NAME)
    if len(v.violations) > holder_violations:
        ok = False
    if not ok:
        return None
    return CardInput(data.number, data.exp_month, data.exp_year, data.cvc, data.holder_name)
