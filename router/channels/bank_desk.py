"""The simulated bank's books: what it holds by id, settling later and notifying paycore.

One piece serves both sides of the bank in test mode: incoming transfers
(``SimulatedBank``, router/channels/bank_transfer.py) and outgoing payouts
(``SimulatedPayoutDesk``, router/channels/bank_payouts.py). Each entry starts
with a pending answer, settles after ``settle_after_s`` into its final answer,
and that answer is posted to ``notify_url`` signed with the bank's RSA key
(``post_until_accepted`` retries until paycore's ingress accepts it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from router.channels.notify import post_until_accepted
from router.signing import sign_rsa

A = TypeVar("A")


class BankBook(Generic[A]):
    """Entries by id with the bank's current answer on each; idempotent by id."""

    def __init__(
        self, private_key: RSAPrivateKey, *, notify_url: str = "", settle_after_s: float = 0.0
    ) -> None:
        self._key = private_key
        self.notify_url = notify_url
        """Where to post notifications; '' posts none (status queries find the answers)."""
        self.settle_after_s = settle_after_s
        """How long an entry stays pending (tests raise it to keep the bank silent)."""
        self.entries: dict[str, A] = {}
        """Every entry by id, as the bank sees it now."""
        self._tasks: set[asyncio.Task[None]] = set()

    def open(
        self, entry_id: str, pending: A, settled: Callable[[], A], wire: Callable[[A], bytes]
    ) -> A:
        """Book ``entry_id`` as ``pending`` unless booked already; it becomes ``settled()`` later.

        A second booking of the same id changes nothing and answers what the
        bank holds now, as a real bank deduplicates by the sender's reference.
        """
        if entry_id not in self.entries:
            self.entries[entry_id] = pending
            task = asyncio.create_task(self._settle(entry_id, settled, wire), name=entry_id)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return self.entries[entry_id]

    async def _settle(
        self, entry_id: str, settled: Callable[[], A], wire: Callable[[A], bytes]
    ) -> None:
        await asyncio.sleep(self.settle_after_s)
        answer = settled()
        self.entries[entry_id] = answer
        if self.notify_url:
            await post_until_accepted(self.notify_url, wire(answer), self.sign)

    def sign(self, body: bytes, timestamp: int) -> str:
        """The bank's signature header value of a notification ``body`` sent at ``timestamp``."""
        return sign_rsa(self._key, body, timestamp)

    async def close(self) -> None:
        """Stop settling and notifying (unsent notifications are lost, as in a bank outage)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
