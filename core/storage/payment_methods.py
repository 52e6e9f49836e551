"""How a payment's method details are kept in ``payments.method_details`` (jsonb).

A bank transfer's details as an object of their own (the column's shape
before redirect wallets); a redirect wallet's as ``{"redirect_wallet": {...}}``;
NULL for cards.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.domain.payment import BankAccount, BankTransferDetails, Payment, RedirectWalletDetails


def bank_transfer_json(details: BankTransferDetails | None) -> dict[str, Any] | None:
    """The column's value (None for payments that are not bank transfers)."""
    if details is None:
        return None
    pay_to = details.pay_to
    return {
        "payer_name": details.payer_name,
        "payer_email": details.payer_email,
        "reference": details.reference,
        "pay_to": None
        if pay_to is None
        else {"iban": pay_to.iban, "bic": pay_to.bic, "holder": pay_to.holder},
    }


def bank_transfer_from_json(data: dict[str, Any] | None) -> BankTransferDetails | None:
    """The details back from the column's value."""
    if not data:
        return None
    pay_to = data.get("pay_to")
    return BankTransferDetails(
        payer_name=data["payer_name"],
        payer_email=data.get("payer_email", ""),
        reference=data.get("reference", ""),
        pay_to=BankAccount(**pay_to) if pay_to else None,
    )


def method_details_json(payment: Payment) -> dict[str, Any] | None:
    """The column's value of ``payment`` (a wallet's page too, while the customer is on it)."""
    wallet = payment.redirect_wallet
    if wallet is None:
        return bank_transfer_json(payment.bank_transfer)
    value: dict[str, Any] = {
        "redirect_wallet": {
            "provider": wallet.provider,
            "return_url": wallet.return_url,
            "scan_qr": wallet.scan_qr,
        }
    }
    action = payment.next_action
    if action is not None:
        value["page"] = {"url": action.target, "expire_time": action.expires_at.isoformat()}
    return value


def method_details_from_json(data: dict[str, Any] | None) -> dict[str, Any]:
    """``Payment``'s fields of the column's value: ``bank_transfer``, or ``redirect_wallet``
    (and its ``next_action`` while the customer is on the wallet's page)."""
    if not data or "redirect_wallet" not in data:
        return {"bank_transfer": bank_transfer_from_json(data)}
    wallet = RedirectWalletDetails(**data["redirect_wallet"])
    fields: dict[str, Any] = {"redirect_wallet": wallet}
    page = data.get("page")
    if page:
        fields["next_action"] = wallet.action(
            page["url"], datetime.fromisoformat(page["expire_time"])
        )
    return fields
