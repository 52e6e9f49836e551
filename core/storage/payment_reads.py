"""A payment read back from PostgreSQL: the columns to select and the domain object they make.

Shared by every read of payments: the repository of core/storage/payments.py
and the review queue of core/storage/risk.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from core.domain.dispute_status import DisputeStatus
from core.domain.money import Money
from core.domain.payment import (
    AttemptRecord,
    CaptureMethod,
    CardSummary,
    ConfirmationMethod,
    Failure,
    Payment,
    PaymentDispute,
    PaymentState,
    Refund,
    RefundState,
    RiskAssessment,
    RiskDecision,
    RoutingRecord,
)
from core.storage.authentication_reads import authentication_from_json
from core.storage.payment_methods import method_details_from_json
from core.storage.verification_codes import VERIFICATION_JSON, verification_from_json

# One refund row as JSON (decoded by refund_from_json): inside a payment's
# refunds, and as each row of ListRefunds.
REFUND_JSON = """
    jsonb_build_object(
        'id', r.id, 'amount', r.amount, 'state', r.state, 'reason', r.reason,
        'channel_reference', r.channel_reference, 'rejection_reason', r.rejection_reason,
        'failure', r.failure, 'create_time', to_jsonb(r.create_time)
    )
"""

# One channel attempt as JSON (decoded by attempt_from_json), inside a payment.
ATTEMPT_JSON = """
    jsonb_build_object(
        'id', a.id, 'operation', a.operation, 'channel', a.channel, 'amount', a.amount,
        'outcome', a.outcome, 'failure_code', a.failure_code, 'refund_id', a.refund_id,
        'channel_reference', a.channel_reference, 'create_time', to_jsonb(a.create_time),
        'complete_time', to_jsonb(a.complete_time), 'needs_attention', a.needs_attention
    )
"""

PAYMENT_COLUMNS = f"""
    p.merchant_id, p.id, p.state, p.currency, p.amount, p.amount_captured, p.amount_refunded,
    p.capture_method, p.confirmation_method, p.card, p.customer_id, p.description, p.metadata,
    p.risk, p.failure, p.channel, p.channel_reference, p.operation_in_flight,
    p.create_time, p.update_time,
    COALESCE((
        SELECT jsonb_agg({REFUND_JSON} ORDER BY r.create_time, r.id)
        FROM refunds r WHERE r.merchant_id = p.merchant_id AND r.payment_id = p.id
    ), '[]'::jsonb) AS refunds,
    p.routing, p.method_details,
    COALESCE((
        SELECT jsonb_agg({ATTEMPT_JSON} ORDER BY a.create_time, a.id)
        FROM channel_attempts a WHERE a.merchant_id = p.merchant_id AND a.payment_id = p.id
    ), '[]'::jsonb) AS attempts,
    (
        SELECT jsonb_build_object(
            'flow', pa.flow, 'status', pa.status, 'eci', pa.eci,
            'liability_shift', pa.liability_shift, 'redirect_url', pa.redirect_url,
            'return_url', pa.return_url, 'expire_time', pa.expire_time
        ) FROM payment_authentications pa
        WHERE pa.merchant_id = p.merchant_id AND pa.payment_id = p.id
    ) AS authentication,
    COALESCE((
        SELECT jsonb_agg(
            jsonb_build_object('id', d.id, 'status', d.status, 'amount', d.amount)
            ORDER BY d.create_time, d.id
        )
        FROM disputes d WHERE d.merchant_id = p.merchant_id AND d.payment_id = p.id
    ), '[]'::jsonb) AS disputes,
    {VERIFICATION_JSON}
"""


# Enum members by stored value: a dict lookup, several times cheaper than calling
# the Enum (which every column of every payment read did).
_STATES = {state.value: state for state in PaymentState}
_CAPTURE = {method.value: method for method in CaptureMethod}
_CONFIRMATION = {method.value: method for method in ConfirmationMethod}
_REFUND_STATES = {state.value: state for state in RefundState}
_DECISIONS = {decision.value: decision for decision in RiskDecision}
_DISPUTE_STATES = {status.value: status for status in DisputeStatus}


def card_from_json(data: dict[str, Any] | None) -> CardSummary | None:
    return CardSummary(**data) if data else None


def refund_from_json(item: Mapping[str, Any], payment_id: str, currency: str) -> Refund:
    return Refund(
        id=item["id"],
        payment_id=payment_id,
        amount=Money(int(item["amount"]), currency),
        state=_REFUND_STATES[item["state"]],
        reason=item["reason"],
        channel_reference=item["channel_reference"],
        rejection_reason=item["rejection_reason"],
        failure=Failure(**item["failure"]) if item.get("failure") else None,
        created_at=datetime.fromisoformat(item["create_time"]),
    )


def attempt_from_json(item: Mapping[str, Any], currency: str) -> AttemptRecord:
    completed = item["complete_time"]
    return AttemptRecord(
        id=item["id"],
        operation=item["operation"],
        channel=item["channel"],
        amount=Money(int(item["amount"]), currency),
        outcome=item["outcome"],
        failure_code=item["failure_code"],
        channel_reference=item["channel_reference"],
        refund_id=item["refund_id"],
        created_at=datetime.fromisoformat(item["create_time"]),
        completed_at=datetime.fromisoformat(completed) if completed else None,
        needs_attention=item["needs_attention"],
    )


def routing_from_json(data: Mapping[str, Any] | None) -> RoutingRecord | None:
    if not data:
        return None
    return RoutingRecord(tuple(data["candidates"]), tuple(data["steps"]))


def _open_step(row: asyncpg.Record) -> dict[str, Any]:
    """The method's details and the payment's authentication, with the ``next_action`` of the
    one step the customer is in: a wallet's page, a 3-D Secure challenge or a code to enter.

    A payment is in at most one (a wallet payment takes no part in 3-D Secure, and codes
    are for paycore's own wallets); merged by hand, as ``**`` twice would raise on the key.
    """
    return {
        **method_details_from_json(row["method_details"]),
        **authentication_from_json(row["authentication"]),
        **verification_from_json(row["verification"]),
    }


def payment_from_row(row: asyncpg.Record) -> Payment:
    currency = row["currency"]
    risk = row["risk"]
    failure = row["failure"]
    refunds = tuple(refund_from_json(item, row["id"], currency) for item in row["refunds"])
    return Payment(
        id=row["id"],
        merchant_id=row["merchant_id"],
        state=_STATES[row["state"]],
        amount=Money(row["amount"], currency),
        amount_captured=Money(row["amount_captured"], currency),
        amount_refunded=Money(row["amount_refunded"], currency),
        capture_method=_CAPTURE[row["capture_method"]],
        confirmation_method=_CONFIRMATION[row["confirmation_method"]],
        card=card_from_json(row["card"]),
        customer_id=row["customer_id"],
        description=row["description"],
        metadata=row["metadata"],
        risk=RiskAssessment(
            score=risk["score"],
            decision=_DECISIONS[risk["decision"]],
            reasons=tuple(risk["reasons"]),
        )
        if risk
        else None,
        failure=Failure(**failure) if failure else None,
        channel=row["channel"],
        channel_reference=row["channel_reference"],
        operation_in_flight=row["operation_in_flight"],
        refunds=refunds,
        created_at=row["create_time"],
        updated_at=row["update_time"],
        routing=routing_from_json(row["routing"]),
        attempts=tuple(attempt_from_json(item, currency) for item in row["attempts"]),
        **_open_step(row),
        disputes=tuple(
            PaymentDispute(d["id"], _DISPUTE_STATES[d["status"]], Money(d["amount"], currency))
            for d in row["disputes"]
        ),
    )
