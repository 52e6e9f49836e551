"""What paycore asks of a channel, and what a channel answers. Pure data."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from core.domain.money import Money
from core.domain.payment import BankAccount, Failure


class ChannelOperation(enum.Enum):
    """The money-moving calls a channel adapter serves."""

    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


class AttemptOutcome(enum.Enum):
    """How a channel call ended, from paycore's point of view."""

    SUCCEEDED = "succeeded"
    """The channel did it."""
    DECLINED = "declined"
    """The channel (issuer) refused; nothing moved."""
    FAILED = "failed"
    """The channel could not process it; certainly nothing moved."""
    UNKNOWN = "unknown"
    """Timeout or ambiguous answer: the operation may or may not have happened.

    Never retried blindly (that could charge twice): the payment stays PENDING,
    or keeps its in-flight marker, until a status query settles it.
    """
    PENDING = "pending"
    """The channel accepted the request and will answer later (asynchronous
    methods such as bank transfers): the payment stays PENDING, with the
    operation in flight, until the channel's notification settles it."""

    @property
    def is_final(self) -> bool:
        """Whether this answer settles the attempt (UNKNOWN and PENDING do not)."""
        return self not in (AttemptOutcome.UNKNOWN, AttemptOutcome.PENDING)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to one channel, recorded before it is made.

    ``id`` doubles as the idempotency key paycore gives the channel, so a
    channel that supports idempotency never executes the same attempt twice.
    """

    id: str
    merchant_id: str
    payment_id: str
    operation: ChannelOperation
    channel: str
    amount: Money
    refund_id: str = ""
    capture: bool = False
    """For AUTHORIZE: capture in the same call (a "sale")."""
    channel_reference: str = ""
    """For follow-up operations: the channel's reference of the payment."""
    merchant_initiated: bool = False
    """For AUTHORIZE: a charge the merchant makes without the customer present,
    under a mandate (core/domain/mandates.py); no CVC comes with it."""
    agreement_id: str = ""
    """With ``merchant_initiated``: the mandate's agreement (the channel's
    reference of the customer-present verification)."""
    eci: str = ""
    """For AUTHORIZE: the 3-D Secure result's Electronic Commerce Indicator ("": none)."""
    liability_shift: bool = False
    """For AUTHORIZE: 3-D Secure shifted fraud liability to the issuer."""
    return_url: str = ""
    """For AUTHORIZE of a redirect method: where the channel's page sends the customer
    back (not stored: only the authorization call needs it)."""


@dataclass(frozen=True, slots=True)
class CustomerRedirect:
    """A channel's page where the customer decides (a redirect wallet's approval page)."""

    url: str
    expires_at: datetime
    """After this the channel no longer takes the customer's decision: it ends the
    attempt as abandoned (failure code ``CUSTOMER_ABANDONED``)."""


CUSTOMER_ABANDONED = "customer_abandoned"
"""The failure code of an attempt the customer never decided on before its expiry."""


@dataclass(frozen=True, slots=True)
class ChannelResult:
    """A channel's answer to one attempt."""

    outcome: AttemptOutcome
    reference: str = ""
    failure: Failure | None = None
    not_processed: bool = False
    """FAILED because the channel certainly never processed it (connection
    refused, an explicit "not processed" answer): the only ending after which
    the router may try the next channel for the same payment."""
    pay_to: BankAccount | None = None
    """A bank-transfer channel's answer to an authorization: where the customer pays
    (quoting ``reference``)."""
    redirect: CustomerRedirect | None = None
    """A redirect wallet's PENDING answer to an authorization: the page the customer
    approves (or declines) the payment on."""
