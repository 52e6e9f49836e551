"""The sandbox test cards: deterministic outcomes by card number, on every simulated acquirer.

The behaviour of a test card on later operations (a refund that will fail, a
capture that will be refused) travels inside the channel reference returned
at authorization, exactly as a real provider would look it up by reference.

Test cards (any future expiry, any CVC), on every simulated card channel:

==================  =========================================================
number              outcome
==================  =========================================================
4242424242424242    authorized (visa)
5555555555554444    authorized (mastercard)
378282246310005     authorized (amex)
4000000000000002    declined: card_declined
4000000000009995    declined: insufficient_funds
4000000000000069    declined: expired_card
4000000000000127    declined: incorrect_cvc
4000000000000119    failed: processing_error (no money moved)
4000000000005126    authorized; every refund fails (refund_failed)
4000000000000259    authorized; capture and void are refused (capture_refused)
4000000000002602    authorized; once captured, disputed as ``fraudulent`` (chargeback)
4000000000002685    authorized; once captured, disputed as ``product_not_received``
4000000000001976    authorized; once captured, an inquiry (``fraudulent``)
any other valid     authorized
==================  =========================================================

number              authentication
==================  =========================================================
4000000000003063    frictionless: authenticated (ECI 05), liability shifts
4000000000003220    challenge: the payment waits in REQUIRES_ACTION for the
                    customer to complete (or fail) the simulated ACS page
4000008400001629    challenge, which the ACS refuses whatever the customer
                    does: declined (authentication_failed)
4000000000003097    authentication unavailable: authorized without liability
                    shift (ECI 07)
any other           not enrolled: authorized as before, nothing recorded
==================  =========================================================
=======
The disputes are sent by the HTTP channel simulator (router/simulator/app.py) some
seconds after the capture, as a signed notification to paycore's dispute ingress;
evidence containing ``winning_evidence`` wins them, any other loses.

3-D Secure test cards (paycore's sandbox directory server, ``enrollment``;
asked before any channel, so the same on every channel; authorized afterwards):

==================  ==================================================
Acquirer-specific cards and the amount triggers are in router/channels/simulated.py.
"""

from __future__ import annotations

from core.domain.attempt import AttemptOutcome
from core.domain.authentication import Enrollment
from core.domain.payment import Failure
from router.routing import ChannelProfile

_DECLINES = {
    "4000000000000002": ("card_declined", "The card was declined."),
    "4000000000009995": ("insufficient_funds", "The card has insufficient funds."),
    "4000000000000069": ("expired_card", "The card has expired."),
    "4000000000000127": ("incorrect_cvc", "The card's security code is incorrect."),
}
_FAILS = {"4000000000000119": ("processing_error", "The card could not be processed.")}

# Behaviour flags carried in the channel reference, for later operations.
REFUND_FAILS = "rf"
CAPTURE_REFUSED = "cr"
_DISPUTES = {
    "df": ("chargeback", "fraudulent"),
    "dn": ("chargeback", "product_not_received"),
    "di": ("inquiry", "fraudulent"),
}
_FLAGS_BY_CARD = {
    "4000000000005126": REFUND_FAILS,
    "4000000000000259": CAPTURE_REFUSED,
    "4000000000002602": "df",
    "4000000000002685": "dn",
    "4000000000001976": "di",
}

SANDBOX_PROFILE = ChannelProfile(name="sandbox_card")
"""The sandbox takes every currency and brand, free of charge."""


def card_outcome(number: str) -> tuple[AttemptOutcome, Failure | None, str]:
    """The outcome of authorizing ``number``, its failure, and the flags for later operations."""
    if number in _DECLINES:
        code, message = _DECLINES[number]
        return AttemptOutcome.DECLINED, Failure(code, message), ""
    if number in _FAILS:
        code, message = _FAILS[number]
        return AttemptOutcome.FAILED, Failure(code, message), ""
    return AttemptOutcome.SUCCEEDED, None, _FLAGS_BY_CARD.get(number, "")


def reference_flags(reference: str) -> str:
    """The behaviour flags a reference carries (after its first dot)."""
    return reference.partition(".")[2]


def dispute_of(reference: str) -> tuple[str, str] | None:
    """(kind, reason) of the dispute a captured charge of this reference draws; None: none."""
    return _DISPUTES.get(reference_flags(reference))


_ENROLLMENTS = {
    "4000000000003063": Enrollment.FRICTIONLESS,
    "4000000000003220": Enrollment.CHALLENGE,
    "4000008400001629": Enrollment.CHALLENGE_FAILS,
    "4000000000003097": Enrollment.UNAVAILABLE,
}


def enrollment(number: str) -> Enrollment:
    """What the sandbox directory server says of card ``number`` (the table above)."""
    return _ENROLLMENTS.get(number, Enrollment.NOT_ENROLLED)
