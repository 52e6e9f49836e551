"""How a payment's bank-transfer details are kept in ``payments.bank_transfer`` (jsonb)."""

from __future__ import annotations

from typing import Any

from core.domain.payment import BankAccount, BankTransferDetails


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
