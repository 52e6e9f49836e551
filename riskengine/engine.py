"""The risk engine: compiled rules over one transaction's features -> score, decision, reasons.

Pure: no I/O. ``RiskEngine.assess`` runs every rule of the current RuleSet
over a feature dict (``riskengine.features``) and decides:

1. a live rule with action ``block`` fired -> DECLINE;
2. else a live ``allow`` rule fired (an allowlisted customer, card...) -> APPROVE;
3. else a live ``review`` rule fired -> REVIEW (or DECLINE if the score says so);
4. else by score (sum of live rules' scores, capped to 0-100): at or above
   the decline threshold DECLINE, at or above the review threshold REVIEW,
   at or above the step-up threshold (when the file sets one) STEP_UP: the
   customer authenticates (a 3-D Secure challenge, a verification code)
   instead of being held or declined — unless a live ``exempt`` rule fired
   (low value, merchant-initiated, trusted customer), then APPROVE, the
   exemption among the reasons (an exemption that spared nothing is no reason).

Shadow rules are evaluated exactly like live ones but only reported
(``Verdict.shadow``), never counted. The rule set is swapped atomically by
``replace`` (one attribute assignment), so a reload never mixes two files
within one assessment.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.domain.payment import Payment, RiskAssessment, RiskDecision
from riskengine.rules import Action, Features, RuleSet


@dataclass(frozen=True, slots=True)
class Verdict:
    """An assessment plus what shadow rules would have done."""

    assessment: RiskAssessment
    shadow: tuple[str, ...] = ()
    """Ids of shadow rules that fired (not part of the decision)."""


class RiskEngine:
    """Scores feature dicts against the current rule set."""

    def __init__(self, rules: RuleSet) -> None:
        self._rules = rules

    @property
    def rules(self) -> RuleSet:
        """The rule set in use."""
        return self._rules

    def replace(self, rules: RuleSet) -> None:
        """Use ``rules`` from the next assessment on (a reload)."""
        self._rules = rules

    def assess(self, features: Features) -> Verdict:
        """Run every rule and decide; see the module docstring for the order."""
        rules = self._rules  # one snapshot for the whole assessment
        score = 0
        reasons: list[str] = []
        shadow: list[str] = []
        exemptions: list[str] = []
        block = allow = review = False
        # Few rules fire: find them in one comprehension, then read only those.
        fired = [rule for rule in rules.rules if rule.applies(features)]
        for rule in fired:
            if rule.shadow:
                shadow.append(rule.id)
                continue
            action = rule.action
            if action is Action.EXEMPT and not rule.score:
                # A reason only when it spared a step-up (most small payments fire one).
                exemptions.append(rule.id)
                continue
            reasons.append(rule.id)
            score += rule.score
            if action is Action.BLOCK:
                block = True
            elif action is Action.ALLOW:
                allow = True
            elif action is Action.REVIEW:
                review = True
            elif action is Action.EXEMPT:
                exemptions.append(rule.id)
        score = max(0, min(score, 100))
        if block:
            decision = RiskDecision.DECLINE
        elif allow:
            decision = RiskDecision.APPROVE
        elif score >= rules.decline_threshold:
            decision = RiskDecision.DECLINE
        elif review or score >= rules.review_threshold:
            decision = RiskDecision.REVIEW
        elif 0 < rules.step_up_threshold <= score:
            decision = RiskDecision.APPROVE if exemptions else RiskDecision.STEP_UP
            reasons.extend(rule_id for rule_id in exemptions if rule_id not in reasons)
        else:
            decision = RiskDecision.APPROVE
        return Verdict(RiskAssessment(score, decision, tuple(reasons)), tuple(shadow))


def refund_needs_a_look(payment: Payment, review_threshold: int) -> bool:
    """Whether a refund on ``payment`` should wait for a person (refund review).

    Refunding a payment the risk engine doubted is how refund fraud cashes out
    (pay with a stolen card, ask for the money back elsewhere): a refund on a
    payment that was held for review, or scored at or above the review
    threshold, waits for an admin whatever its amount.
    """
    risk = payment.risk
    if risk is None:
        return False
    return risk.decision is RiskDecision.REVIEW or risk.score >= review_threshold
