"""What the authorization path needs from 3-D Secure: the directory server's answer for a card.

The sandbox implements it with its test cards (router/channels/sandbox.py) and
a simulated access control server page on paycore's HTTP port
(core/callbacks/acs.py).
"""

from __future__ import annotations

from typing import Protocol

from core.domain.authentication import Enrollment
from core.domain.commands import CardInput


class DirectoryServer(Protocol):
    """Whether a card's issuer authenticates a payment, and where it challenges the payer."""

    async def enrollment(self, card: CardInput) -> Enrollment:
        """The issuer's answer for ``card`` before any channel is asked."""
        ...

    def challenge_url(self, payment_id: str, enrollment: Enrollment) -> str:
        """The issuer's challenge page for the payer of ``payment_id`` ("": none can be shown)."""
        ...
