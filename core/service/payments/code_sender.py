"""The sandbox's code sender: delivers nothing, keeps each payment's last code for tests.

paycore's sandbox has no mail or SMS gateway; a deployment with one implements
``core.ports.verification.CodeSender`` over it. This one is an in-process
object: only code holding the running services (the tests' in-process server)
can read a code back, and no RPC or HTTP endpoint exposes it. It never logs a
code.
"""

from __future__ import annotations


class SandboxCodeSender:
    """Keeps the last code sent for each payment, in memory."""

    def __init__(self) -> None:
        self._codes: dict[str, tuple[str, str]] = {}

    async def send(self, merchant_id: str, payment_id: str, destination: str, code: str) -> None:
        """Keep ``code`` as what the customer at ``destination`` would have received."""
        self._codes[payment_id] = (destination, code)

    def received(self, payment_id: str) -> tuple[str, str] | None:
        """(destination, code) last sent for ``payment_id``; None when none was (tests only)."""
        return self._codes.get(payment_id)
