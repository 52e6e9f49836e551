"""Ledger amounts and entry kinds as API values, shared by the wallet and settlement RPCs."""

from __future__ import annotations

from google.type import money_pb2

from core.domain.money import Money
from core.ledger.journal import TransactionKind
from core.wire import convert
from paycore.v1 import account_service_pb2 as account_svc

ENTRY_KIND = {
    TransactionKind.AUTHORIZATION: account_svc.AccountEntry.KIND_AUTHORIZATION,
    TransactionKind.CAPTURE: account_svc.AccountEntry.KIND_CAPTURE,
    TransactionKind.VOID: account_svc.AccountEntry.KIND_VOID,
    TransactionKind.REFUND: account_svc.AccountEntry.KIND_REFUND,
    TransactionKind.TRANSFER: account_svc.AccountEntry.KIND_TRANSFER,
    TransactionKind.SETTLEMENT: account_svc.AccountEntry.KIND_SETTLEMENT,
    TransactionKind.ADJUSTMENT: account_svc.AccountEntry.KIND_ADJUSTMENT,
    TransactionKind.WITHDRAWAL: account_svc.AccountEntry.KIND_WITHDRAWAL,
    TransactionKind.DISPUTE: account_svc.AccountEntry.KIND_DISPUTE,
}
"""A journal transaction's kind as its API value."""


def signed_money(amount: int, currency: str) -> money_pb2.Money:
    """Signed minor units as google.type.Money (a negative amount: units and nanos both <= 0)."""
    wire = convert.money_to_proto(Money(abs(amount), currency))
    if amount < 0:
        wire.units, wire.nanos = -wire.units, -wire.nanos
    return wire
