"""The risk engine: rules over one transaction -> score, decision, reasons."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.config import RiskSettings
from core.domain.money import Money
from core.domain.payment import CardSummary, RiskAssessment, RiskDecision

DECLINE_SCORE = 80
"""A score at or above this declines even without a hard rule."""


@dataclass(frozen=True, slots=True)
class Transaction:
    """What the risk engine sees of a payment."""

    merchant_id: str
    amount: Money
    card: CardSummary | None
    customer_id: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: when ``applies``, add ``score`` (and decline outright if ``hard``)."""

    id: str
    applies: Callable[[Transaction], bool]
    score: int
    hard: bool = False


def default_rules(settings: RiskSettings) -> tuple[Rule, ...]:
    """The foundation rule set: amount limits and blocklists."""
    blocked_cards = frozenset(settings.blocked_card_fingerprints)
    blocked_bins = tuple(settings.blocked_bins)
    blocked_customers = frozenset(settings.blocked_customer_ids)
    return (
        Rule("amount_over_limit", lambda t: t.amount.amount > settings.max_amount_minor, 100, True),
        Rule(
            "blocked_card",
            lambda t: t.card is not None and t.card.fingerprint in blocked_cards,
            100,
            True,
        ),
        Rule(
            "blocked_bin",
            lambda t: (
                t.card is not None and bool(blocked_bins) and t.card.bin.startswith(blocked_bins)
            ),
            100,
            True,
        ),
        Rule("blocked_customer", lambda t: t.customer_id in blocked_customers, 100, True),
        Rule("large_amount", lambda t: t.amount.amount > settings.review_amount_minor, 40),
        Rule("unknown_card_brand", lambda t: t.card is not None and t.card.brand == "unknown", 20),
    )


class RiskEngine:
    """Scores transactions against a fixed, precompiled rule set."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self._rules = rules

    @classmethod
    def from_settings(cls, settings: RiskSettings) -> RiskEngine:
        """The engine with the default rules configured by ``settings``."""
        return cls(default_rules(settings))

    def assess(self, transaction: Transaction) -> RiskAssessment:
        """Score 0-100 (capped), DECLINE on a hard rule or a score of 80+, else APPROVE."""
        score = 0
        hard = False
        reasons: list[str] = []
        for rule in self._rules:
            if rule.applies(transaction):
                reasons.append(rule.id)
                score += rule.score
                hard = hard or rule.hard
        score = min(score, 100)
        decision = RiskDecision.DECLINE if hard or score >= DECLINE_SCORE else RiskDecision.APPROVE
        return RiskAssessment(score=score, decision=decision, reasons=tuple(reasons))
