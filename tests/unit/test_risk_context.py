"""A payment's risk signals reach the risk engine under the names Transaction uses."""

from __future__ import annotations

import dataclasses

from core.domain.money import Money
from core.domain.payment import RiskContext
from riskengine.features import Transaction


def test_signals_are_every_field_by_name() -> None:
    context = RiskContext("a@b.example", "192.0.2.1", "DE", "device-1")
    assert context.signals() == dataclasses.asdict(context)


def test_signals_fill_a_transaction() -> None:
    context = RiskContext("a@b.example", "192.0.2.1", "DE", "device-1")
    transaction = Transaction(
        "m", Money(100, "EUR"), None, "c", **context.signals(), merchant_initiated=False
    )
    assert (transaction.customer_email, transaction.ip_country) == ("a@b.example", "DE")
    assert transaction.device_id == "device-1"
