"""The channel adapter interface: how paycore talks to one payment provider."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from core.domain.attempt import Attempt, ChannelResult
from core.domain.commands import CardInput
from core.domain.disputes import DisputeNotice, Evidence
from router.routing import ChannelProfile


@dataclass(frozen=True, slots=True)
class Notification:
    """A channel's verified notification about one attempt (a bank callback)."""

    event_id: str
    """The channel's id of the notification: the same id twice is one notification."""
    attempt_id: str
    result: ChannelResult
    """What became of the attempt (UNKNOWN: the channel says it is still pending)."""


class Channel(Protocol):
    """A payment provider connection.

    Every method receives the recorded ``Attempt`` whose ``id`` is the
    idempotency key to give the provider. A method returns a ChannelResult for
    every answer the provider gave; it raises only when it cannot tell what
    happened (the dispatcher then records UNKNOWN) or raises
    ``ChannelNotProcessed`` when the provider certainly did nothing.
    """

    name: str
    profile: ChannelProfile
    """What the channel can carry and what it costs (read by routing)."""

    async def authorize(self, attempt: Attempt, card: CardInput | None) -> ChannelResult:
        """Authorize (and with ``attempt.capture`` also capture) ``attempt.amount``.

        ``card`` is the card for card channels, None for other methods.
        """
        ...

    async def capture(self, attempt: Attempt) -> ChannelResult:
        """Capture ``attempt.amount`` of the authorization ``attempt.channel_reference``."""
        ...

    async def void(self, attempt: Attempt) -> ChannelResult:
        """Release the authorization ``attempt.channel_reference``."""
        ...

    async def refund(self, attempt: Attempt) -> ChannelResult:
        """Refund ``attempt.amount`` of the capture ``attempt.channel_reference``."""
        ...

    async def query(self, attempt: Attempt) -> ChannelResult:
        """What became of ``attempt`` at the provider (status query by idempotency key).

        FAILED with ``not_processed`` when the provider has no trace of it;
        UNKNOWN when the provider cannot say yet.
        """
        ...

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """Verify a notification's signature and freshness and decode it.

        Raises ``BadSignature`` for a missing, wrong or stale signature.
        """
        ...


@runtime_checkable
class DisputeNotifying(Protocol):
    """A channel that notifies disputes (optional: the dispute ingress asks for it)."""

    def parse_dispute_notice(self, headers: Mapping[str, str], body: bytes) -> DisputeNotice:
        """Verify a dispute notification's signature and freshness and decode it.

        Raises ``BadSignature`` for a missing, wrong or stale signature, or a
        signed body that is not a dispute notification.
        """
        ...


@runtime_checkable
class DisputeAnswering(Protocol):
    """A channel that takes the merchant's evidence on its disputes (optional)."""

    async def send_dispute_evidence(self, reference: str, evidence: Evidence) -> None:
        """Hand the evidence of the channel's dispute ``reference`` over; raise if not taken.

        The channel answers later with a won or lost dispute notification.
        """
        ...


class ChannelNotProcessed(Exception):  # noqa: N818 - a fact, not a failure of ours
    """The provider certainly did not process the request (e.g. connection refused)."""


class AmbiguousAnswer(Exception):  # noqa: N818 - names what was received
    """An answer that does not say whether the provider acted (e.g. an HTTP 500).

    Expected in normal operation: the dispatcher records the attempt UNKNOWN
    and a status query settles it, never a second attempt.
    """


class BadSignature(Exception):  # noqa: N818 - names what was found
    """A channel notification whose signature is missing, wrong or stale."""
