"""The sandbox's code sender: delivers nothing, keeps each payment's last code for tests.

paycore's sandbox has no mail or SMS gateway; a deployment with one implements
``core.ports.verification.CodeSender`` over it. This one is an in-process
object: only code holding the running services (the tests' in-process server)
can read a code back, and no RPC or HTTP endpoint exposes it. It never logs a
code.
"""

from __future__ import annotations

from collections import OrderedDict

KEPT = 10_000
"""Codes kept at most (the oldest forgotten first): a long-running sandbox stays bounded."""


class SandboxCodeSender:
    """Keeps the last code sent for each of the latest ``KEPT`` payments, in memory."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._codes: OrderedDict[str, tuple[str, str]] = OrderedDict()

    async def send(self, merchant_id: str, payment_id: str, destination: str, code: str) -> None:
        """Keep ``code`` as what the customer at ``destination`` would have received."""
        self._codes[payment_id] = (destination, code)
        self._codes.move_to_end(payment_id)
        while len(self._codes) > self._kept:
            self._codes.popitem(last=False)

    def received(self, payment_id: str) -> tuple[str, str] | None:
        """(destination, code) last sent for ``payment_id``; None when none was (tests only)."""
        return self._codes.get(payment_id)
