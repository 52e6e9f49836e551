"""What a load run's payments came to, and whether a shop would call that normal. Pure.

A created payment falls in one outcome category (``OUTCOMES``); the load run
is judged by the share of each: a run fails when any request failed, or when
more payments were declined than a merchant sees on an ordinary day.
"""

from __future__ import annotations

from collections.abc import Mapping

from paycore.v1 import payment_pb2 as pb

RISK_OUTCOMES = ("risk_declined", "risk_held")
DECLINE_OUTCOMES = ("card_declined", *RISK_OUTCOMES)
OUTCOMES = ("captured", "authorized", *DECLINE_OUTCOMES, "failed", "pending")
"""How a CreatePayment ended, as the request name suffix locust counts."""


def outcome_of(payment: pb.Payment) -> str:
    """The outcome category of a created payment (one of ``OUTCOMES``)."""
    match payment.state:
        case pb.Payment.STATE_CAPTURED:
            return "captured"
        case pb.Payment.STATE_AUTHORIZED | pb.Payment.STATE_REQUIRES_CONFIRMATION:
            return "authorized"
        case pb.Payment.STATE_REQUIRES_REVIEW:
            return "risk_held"
        case pb.Payment.STATE_DECLINED:
            return "risk_declined" if payment.failure.code == "risk_declined" else "card_declined"
        case pb.Payment.STATE_FAILED:
            return "failed"
    return "pending"


def verdict(counts: Mapping[str, int], failures: int, max_risk: float, max_decline: float) -> str:
    """Why the run failed ("" when it did not): any failure, or too many declines.

    ``counts`` maps each outcome of ``OUTCOMES`` to its number of creates.
    """
    total = sum(counts.values())
    if failures:
        return f"{failures} requests failed"
    if not total:
        return "no payment was created"
    risk = sum(counts.get(name, 0) for name in RISK_OUTCOMES) / total
    declined = sum(counts.get(name, 0) for name in DECLINE_OUTCOMES) / total
    if risk > max_risk:
        return f"{risk:.1%} of payments risk declined or held (more than {max_risk:.1%})"
    if declined > max_decline:
        return f"{declined:.1%} of payments declined (more than {max_decline:.1%})"
    return ""
