"""The simulated redirect wallet's books: a session per payment, decided on the wallet's page.

A session opens when paycore's authorization reaches the wallet (idempotent by
attempt id) and waits for the customer: approved or declined on the page
(router/channels/wallet_page.py), or abandoned once ``expiry_s`` passed
undecided. Each decision is posted to ``notify_url`` HMAC-signed with the
wallet's secret (``post_until_accepted`` retries until paycore accepts it);
with ``notify`` off, or no URL, the wallet stays silent and status queries
find the answer. In process, so a restart forgets every session (a status
query about a forgotten one answers "not found").
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.domain.attempt import (
    CUSTOMER_ABANDONED,
    Attempt,
    AttemptOutcome,
    ChannelResult,
    CustomerRedirect,
)
from core.domain.money import Money
from core.domain.payment import Failure
from router.channels.acquirer_wire import notification_to_wire
from router.channels.notify import post_until_accepted
from router.signing import sign

DECLINED = Failure("wallet_declined", "The customer declined the payment in the wallet.")
ABANDONED = Failure(CUSTOMER_ABANDONED, "The customer did not decide in the wallet in time.")


@dataclass(slots=True)
class WalletSession:
    """One payment at the wallet, as the wallet sees it now."""

    reference: str
    """The wallet's id of the session (``ws_...``): its page and the payment's reference."""
    attempt_id: str
    amount: Money
    return_url: str
    expires_at: datetime
    answer: ChannelResult
    notices: int = 0
    """How many notifications the wallet sent about it (one per decision)."""

    @property
    def pending(self) -> bool:
        """Whether the customer may still decide."""
        return self.answer.outcome is AttemptOutcome.PENDING


class WalletBook:
    """The wallet's sessions by reference, the refunds it made, and its notifications."""

    def __init__(
        self,
        secret: bytes,
        *,
        expiry_s: float = 900.0,
        notify_url: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret
        """What the wallet signs its notifications with (paycore verifies with it)."""
        self.expiry_s = expiry_s
        """How long a customer has to decide on the page."""
        self.notify_url = notify_url
        """Where notifications go ('' sends none: status queries find the answers)."""
        self.notify = True
        """Tests turn it off to keep the wallet silent (a notification that never came)."""
        self.page_url = ""
        """Where the wallet's pages are served ('': nowhere, the wallet refuses payments)."""
        self.sessions: dict[str, WalletSession] = {}
        self.by_attempt: dict[str, str] = {}
        """Session references by paycore's attempt id (its idempotency key)."""
        self.refunds: dict[str, Money] = {}
        """Refunded amounts by paycore's refund attempt id."""
        self._clock = clock
        self._tasks: set[asyncio.Task[object]] = set()

    def open(self, attempt: Attempt) -> WalletSession:
        """The session of ``attempt``, opened now unless it exists (the same attempt again)."""
        existing = self.by_attempt.get(attempt.id)
        if existing is not None:
            return self.sessions[existing]
        reference = f"ws_{secrets.token_hex(8)}"
        expires_at = datetime.fromtimestamp(self._clock(), UTC) + timedelta(seconds=self.expiry_s)
        redirect = CustomerRedirect(f"{self.page_url}/{reference}", expires_at)
        session = WalletSession(
            reference,
            attempt.id,
            attempt.amount,
            attempt.return_url,
            expires_at,
            ChannelResult(AttemptOutcome.PENDING, reference=reference, redirect=redirect),
        )
        self.sessions[reference] = session
        self.by_attempt[attempt.id] = reference
        self._later(self._expire(session))
        return session

    def decide(self, reference: str, *, approve: bool) -> WalletSession | None:
        """The customer's decision on the page (None: no such session).

        Only the first decision counts; one after the expiry finds the session
        abandoned and changes nothing.
        """
        session = self.sessions.get(reference)
        if session is None:
            return None
        if session.pending and self._clock() >= session.expires_at.timestamp():
            # Past the expiry before the expiry task ran (a busy loop): too late all the same.
            self._end(session, ChannelResult(AttemptOutcome.FAILED, reference, ABANDONED))
        if session.pending:
            if approve:
                self._end(session, ChannelResult(AttemptOutcome.SUCCEEDED, reference=reference))
            else:
                self._end(session, ChannelResult(AttemptOutcome.DECLINED, reference, DECLINED))
        return session

    def notification(self, session: WalletSession) -> bytes:
        """The body of the notification about ``session``'s current answer."""
        event_id = f"wev_{session.reference}_{session.notices}"
        wire = notification_to_wire(event_id, session.attempt_id, session.answer)
        return json.dumps(wire).encode()

    def sign(self, body: bytes, timestamp: int) -> str:
        """The wallet's signature header value of ``body`` sent at ``timestamp``."""
        return sign(self.secret, body, timestamp)

    async def close(self) -> None:
        """Stop expiring and notifying (unsent notifications are lost, as in an outage)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _end(self, session: WalletSession, answer: ChannelResult) -> None:
        session.answer = answer
        session.notices += 1
        if self.notify and self.notify_url:
            self._later(post_until_accepted(self.notify_url, self.notification(session), self.sign))

    async def _expire(self, session: WalletSession) -> None:
        await asyncio.sleep(max(0.0, session.expires_at.timestamp() - self._clock()))
        if session.pending:
            self._end(session, ChannelResult(AttemptOutcome.FAILED, session.reference, ABANDONED))

    def _later(self, work: Coroutine[object, object, object]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
