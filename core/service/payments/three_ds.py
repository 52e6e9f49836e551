"""3-D Secure in the authorization path: ask the issuer before any channel is asked.

Risk has approved the payment; the card's issuer (through the directory
server, ``core.ports.three_ds``) then authenticates the payer without a
challenge (the result rides with the authorization), wants a challenge (the
payment waits in REQUIRES_ACTION, its card sealed in the vault, until the
customer completes it: core/service/payments/challenges.py), or takes no part.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.domain import lifecycle
from core.domain.authentication import Enrollment, NextAction, RedirectToUrl, frictionless
from core.domain.commands import CardInput
from core.domain.payment import Payment, PaymentState, RiskAssessment, RiskDecision
from core.ports.repository import PaymentTransaction
from core.ports.three_ds import DirectoryServer
from core.service.card_vault import CardVault

_CHALLENGES = frozenset({Enrollment.CHALLENGE, Enrollment.CHALLENGE_FAILS})


@dataclass(frozen=True, slots=True)
class ThreeDSSettings:
    """How long a customer has to complete a challenge."""

    challenge_expiry_s: float = 600.0


class ThreeDSecure:
    """The authentication step between risk and routing."""

    def __init__(
        self, *, directory: DirectoryServer, vault: CardVault, settings: ThreeDSSettings
    ) -> None:
        self._directory = directory
        self._vault = vault
        self._expiry = timedelta(seconds=settings.challenge_expiry_s)

    async def authenticate(
        self,
        payment: Payment,
        risk: RiskAssessment,
        card: CardInput | None,
        at: datetime,
        return_url: str,
    ) -> Payment:
        """The payment to go on with: REQUIRES_CONFIRMATION (to route, maybe authenticated)
        or, when it stops here, REQUIRES_ACTION (a challenge) or DECLINED (a challenge
        with no ``return_url`` to send the customer back to, or no page to show them).

        Risk's STEP_UP mandates a challenge: the issuer's frictionless answer is not
        enough, and a payment that cannot be challenged (no card, a card outside
        3-D Secure or an issuer unavailable) is declined ``authentication_required``.
        """
        step_up = risk.decision is RiskDecision.STEP_UP
        if card is None:
            return lifecycle.decline_unauthenticated(payment, risk, at) if step_up else payment
        enrollment = await self._directory.enrollment(card)
        if step_up:
            # Mandated: an issuer that would answer frictionless challenges instead;
            # one that cannot challenge (not enrolled, unavailable) leaves no way in.
            if enrollment is Enrollment.FRICTIONLESS:
                enrollment = Enrollment.CHALLENGE
            elif enrollment not in _CHALLENGES:
                return lifecycle.decline_unauthenticated(payment, risk, at)
        result = frictionless(enrollment)
        if result is not None:
            return lifecycle.authenticate_frictionless(payment, result, at)
        if enrollment is Enrollment.NOT_ENROLLED:
            return payment
        url = self._directory.challenge_url(payment.id, enrollment)
        if not return_url or not url:
            # Nowhere to send the customer, or no page to show them: declined as the
            # issuer declines an unauthenticated payment it wanted to challenge.
            return lifecycle.decline_unauthenticated(payment, risk, at)
        action = NextAction(RedirectToUrl(url, return_url), at + self._expiry)
        return lifecycle.require_action(payment, risk, action, at)

    async def record(
        self,
        tx: PaymentTransaction,
        payment: Payment,
        card: CardInput | None,
        card_token: str,
        at: datetime,
    ) -> None:
        """Store the payment's authentication, once its row is written (nothing without one).

        A challenged payment's card is sealed in the vault (unless it came as a
        token already) for the authorization after the challenge: the request
        that brought it is over by then.
        """
        if payment.authentication is None:
            return
        kept = ""
        if payment.state is PaymentState.REQUIRES_ACTION:
            kept = card_token
            if not kept and card is not None:
                kept = (await self._vault.keep(tx, payment.merchant_id, card, at)).id
        await tx.authentications.save(payment, kept)
