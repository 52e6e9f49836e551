"""Customer authentication of a card payment (3-D Secure): what the customer must do, its result.

A card's issuer may authenticate the payer without them noticing (the
*frictionless* flow), ask them to complete a challenge on its access control
server (ACS) first, or be unable to authenticate at all. The payment records
the result (``Authentication``: its ECI and whether liability for fraud
shifted to the issuer); while a challenge is open it waits in
REQUIRES_ACTION with a ``NextAction`` telling the merchant where to send the
customer. Pure values; the transitions are core/domain/lifecycle/_customer_action.py.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from core.domain.verification import VerifyCode


class Enrollment(enum.Enum):
    """What the directory server says of a card before any payment is sent."""

    NOT_ENROLLED = "not_enrolled"
    """The card takes no part in 3-D Secure: authorized as before, nothing recorded."""
    FRICTIONLESS = "frictionless"
    """The issuer authenticated the payer from the data alone: liability shifts."""
    CHALLENGE = "challenge"
    """The payer must complete a challenge on the issuer's ACS page."""
    CHALLENGE_FAILS = "challenge_fails"
    """A challenge is shown, and the ACS refuses it whatever the payer does (sandbox)."""
    UNAVAILABLE = "unavailable"
    """The issuer's ACS cannot authenticate now: authorized without liability shift."""


class AuthenticationStatus(enum.Enum):
    """Where a payment's authentication stands."""

    CHALLENGE_PENDING = "challenge_pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"
    ABANDONED = "abandoned"
    """The customer never completed the challenge before it expired."""


class AuthenticationFlow(enum.Enum):
    """How the issuer authenticated (or tried to)."""

    FRICTIONLESS = "frictionless"
    CHALLENGE = "challenge"


@dataclass(frozen=True, slots=True)
class Authentication:
    """A payment's 3-D Secure result, as the channel is told it and GetPayment shows it.

    ``eci``: the Electronic Commerce Indicator ("05": authenticated, "06":
    attempted, "07": not authenticated). ``liability_shift``: a fraud
    chargeback is the issuer's to bear, not the merchant's.
    """

    flow: AuthenticationFlow
    status: AuthenticationStatus
    eci: str = ""
    liability_shift: bool = False


@dataclass(frozen=True, slots=True)
class RedirectToUrl:
    """Send the customer's browser to ``url``; they come back to ``return_url``."""

    url: str
    return_url: str


@dataclass(frozen=True, slots=True)
class DisplayQrCode:
    """Show the customer a QR code of ``payload``; they scan it with their phone and pay there."""

    payload: str


@dataclass(frozen=True, slots=True)
class NextAction:
    """What the customer must do before the payment can go on (REQUIRES_ACTION only).

    Exactly one kind, the proto's oneof: ``redirect`` (a 3-D Secure challenge or
    a wallet's page), ``qr_code`` (a QR code the merchant shows) or
    ``verify_code`` (a one-time code sent to the customer:
    core/domain/verification.py).
    """

    redirect: RedirectToUrl | None
    expires_at: datetime
    """After this the payment is canceled (nothing was held, so nothing is released)."""
    qr_code: DisplayQrCode | None = None
    verify_code: VerifyCode | None = None

    def __post_init__(self) -> None:
        kinds = (self.redirect, self.qr_code, self.verify_code)
        if sum(kind is not None for kind in kinds) != 1:
            raise ValueError("a next action is a redirect, a QR code or a code, exactly one")

    @property
    def target(self) -> str:
        """Where the customer acts: the page they are sent to, or what the QR code encodes.

        A code to enter has no such place: "" (only wallets' pages are stored by it).
        """
        if self.redirect is not None:
            return self.redirect.url
        if self.qr_code is not None:
            return self.qr_code.payload
        return ""


AUTHENTICATED = "05"
NOT_AUTHENTICATED = "07"


def frictionless(enrollment: Enrollment) -> Authentication | None:
    """The result of an issuer that answers without a challenge (None: a challenge, or no 3DS)."""
    if enrollment is Enrollment.FRICTIONLESS:
        return Authentication(
            AuthenticationFlow.FRICTIONLESS, AuthenticationStatus.SUCCEEDED, AUTHENTICATED, True
        )
    if enrollment is Enrollment.UNAVAILABLE:
        return Authentication(
            AuthenticationFlow.FRICTIONLESS,
            AuthenticationStatus.UNAVAILABLE,
            NOT_AUTHENTICATED,
            False,
        )
    return None


def challenge_result(*, completed: bool) -> Authentication:
    """What the ACS reports of a challenge the payer completed (or failed)."""
    if completed:
        return Authentication(
            AuthenticationFlow.CHALLENGE, AuthenticationStatus.SUCCEEDED, AUTHENTICATED, True
        )
    return Authentication(
        AuthenticationFlow.CHALLENGE, AuthenticationStatus.FAILED, NOT_AUTHENTICATED, False
    )


PENDING_CHALLENGE = Authentication(
    AuthenticationFlow.CHALLENGE, AuthenticationStatus.CHALLENGE_PENDING
)
