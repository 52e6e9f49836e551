"""A payment as the values of its row in ``payments`` (the jsonb columns as Python values).

Shared by every statement writing payment rows: the one-at-a-time writes of
core/storage/payments.py and the batched first transactions of
core/storage/claim_batch.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from core.domain.payment import CardSummary, Failure, Payment, RiskAssessment, RoutingRecord
from core.storage.payment_methods import method_details_json


def card_json(card: CardSummary | None) -> dict[str, Any] | None:
    """The card column's value."""
    if card is None:
        return None
    return {
        "brand": card.brand,
        "bin": card.bin,
        "last4": card.last4,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "fingerprint": card.fingerprint,
    }


def risk_json(risk: RiskAssessment | None) -> dict[str, Any] | None:
    """The risk column's value."""
    if risk is None:
        return None
    return {"score": risk.score, "decision": risk.decision.value, "reasons": list(risk.reasons)}


def failure_json(failure: Failure | None) -> dict[str, str] | None:
    """A failure column's value (payments and refunds)."""
    return None if failure is None else {"code": failure.code, "message": failure.message}


def routing_json(routing: RoutingRecord | None) -> dict[str, list[str]] | None:
    """The routing column's value."""
    if routing is None:
        return None
    return {"candidates": list(routing.candidates), "steps": list(routing.steps)}


# What a save may change, in the order of ``row_values`` ($3..$17 after merchant and id).
MUTABLE_COLUMNS = """
    state, amount, amount_captured, amount_refunded, card, description, metadata, risk,
    failure, channel, channel_reference, operation_in_flight, update_time, method_details, routing
"""


def row_values(payment: Payment) -> tuple[Any, ...]:
    """The merchant, the id, then the values of ``MUTABLE_COLUMNS``."""
    return (
        payment.merchant_id,
        payment.id,
        payment.state.value,
        payment.amount.amount,
        payment.amount_captured.amount,
        payment.amount_refunded.amount,
        card_json(payment.card),
        payment.description,
        dict(payment.metadata),
        risk_json(payment.risk),
        failure_json(payment.failure),
        payment.channel,
        payment.channel_reference,
        payment.operation_in_flight,
        payment.updated_at,
        method_details_json(payment),
        routing_json(payment.routing),
    )


_JSON_COLUMNS = frozenset({6, 8, 9, 10, 15, 16})
"""Positions in ``row_values`` of jsonb columns (card, metadata, risk, failure, bank, routing)."""


def row_texts(payment: Payment) -> list[Any]:
    """``row_values`` with the jsonb columns as JSON text: one row of a batch's ``unnest``.

    (Arrays of text cast ``::jsonb`` in SQL: asyncpg has no codec for ``jsonb[]``.)
    """
    return [
        (None if value is None else json.dumps(value)) if i in _JSON_COLUMNS else value
        for i, value in enumerate(row_values(payment))
    ]


def columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """``rows`` (each ``width`` values) as ``width`` columns: the arrays ``unnest`` takes."""
    return [[row[i] for row in rows] for i in range(width)]
