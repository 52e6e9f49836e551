"""In-memory adapters for the application's ports, to test it without servers.

Each class implements one Protocol of the application (mypy checks it, see the end
of this module) with plain Python state a test can read and steer:

- ``MemoryRequestGate``: ``core.gate.RequestGate`` (no rate limit; request_id markers);
- ``MemoryChannel``: ``router.channel.Channel`` (answers a test chose, calls recorded);
- ``MemoryKeyDirectory``: ``core.auth.authenticator.KeyDirectory``;
- ``MemoryGuessThrottle``: ``core.auth.authenticator.GuessThrottle``;
- ``MemoryClaimBatches``: ``core.service.group_commit.ClaimBatches``.

The payment repository is in tests/support/memory_repository.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.auth.authenticator import GuessThrottle, KeyDirectory, LockoutPolicy
from core.auth.keys import KeyLookup
from core.domain.attempt import Attempt, AttemptOutcome, ChannelResult
from core.domain.commands import CardInput
from core.gate import Admission, GateClaim, RequestGate, Rider, RpcClass
from core.ports.repository import NewClaim
from core.service.group_commit import ClaimBatches
from router.channel import BadSignature, Channel, Notification
from router.routing import ChannelProfile


class MemoryRequestGate:
    """``RequestGate`` without Redis: every request is allowed; writes leave a marker.

    A write whose request_id carries a marker is SEEN (same fingerprint) or a
    CONFLICT (another); ``forget()`` drops every marker, as a flushed Redis does.
    ``admitted`` lists what each call answered, in order.
    """

    def __init__(self) -> None:
        self.markers: dict[tuple[str, str, str], bytes] = {}
        """Fingerprints by (merchant_id, operation, request_id)."""
        self.admitted: list[tuple[str, RpcClass, Admission]] = []

    async def admit(
        self,
        merchant_id: str,
        rpc_class: RpcClass,
        claim: GateClaim | None,
        rider: Rider | None = None,
    ) -> Admission:
        """UNCHECKED for reads; NEW, SEEN or CONFLICT for writes by their marker."""
        if claim is None:
            admission = Admission.UNCHECKED
        else:
            marker = (merchant_id, claim.operation, claim.request_id)
            seen = self.markers.get(marker)
            if seen is None:
                self.markers[marker] = claim.fingerprint
                admission = Admission.NEW
            else:
                admission = Admission.SEEN if seen == claim.fingerprint else Admission.CONFLICT
        self.admitted.append((merchant_id, rpc_class, admission))
        return admission

    async def release(self, merchant_id: str, claim: GateClaim) -> None:
        """Drop the marker of a request that did not commit."""
        self.markers.pop((merchant_id, claim.operation, claim.request_id), None)

    def forget(self) -> None:
        """Lose every marker (Redis flushed or failed over)."""
        self.markers.clear()


@dataclass
class MemoryChannel:
    """``Channel`` answering every call with ``answer`` (SUCCEEDED unless a test sets it).

    ``calls`` records each call as (operation, attempt), in order.
    """

    name: str = "memory"
    answer: ChannelResult = field(
        default_factory=lambda: ChannelResult(AttemptOutcome.SUCCEEDED, reference="ch_1")
    )
    calls: list[tuple[str, Attempt]] = field(default_factory=list)
    profile: ChannelProfile = field(init=False)

    def __post_init__(self) -> None:
        self.profile = ChannelProfile(self.name)

    def _answer(self, operation: str, attempt: Attempt) -> ChannelResult:
        self.calls.append((operation, attempt))
        return self.answer

    async def authorize(self, attempt: Attempt, card: CardInput | None) -> ChannelResult:
        """Record an authorization and answer it."""
        return self._answer("authorize", attempt)

    async def capture(self, attempt: Attempt) -> ChannelResult:
        """Record a capture and answer it."""
        return self._answer("capture", attempt)

    async def void(self, attempt: Attempt) -> ChannelResult:
        """Record a void and answer it."""
        return self._answer("void", attempt)

    async def refund(self, attempt: Attempt) -> ChannelResult:
        """Record a refund and answer it."""
        return self._answer("refund", attempt)

    async def query(self, attempt: Attempt) -> ChannelResult:
        """Record a status query and answer it."""
        return self._answer("query", attempt)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """A memory channel sends no notifications: every one is refused."""
        raise BadSignature("a memory channel signs no notifications")


class MemoryKeyDirectory:
    """``KeyDirectory``: keys by prefix; ``hold`` makes the next read wait until it is set."""

    def __init__(self) -> None:
        self.keys: dict[str, KeyLookup] = {}
        self.reads = 0
        self.hold: asyncio.Event | None = None
        self.reading = asyncio.Event()
        """Set once a read has begun (it may be held)."""

    async def find_key(self, prefix: str) -> KeyLookup | None:
        """The key with ``prefix`` as it is when the read begins."""
        self.reads += 1
        self.reading.set()
        found = self.keys.get(prefix)
        if self.hold is not None:
            await self.hold.wait()
        return found


class MemoryGuessThrottle:
    """``GuessThrottle``: counts failures; every subject is locked from ``locked_after`` on."""

    def __init__(self, locked_after: int = 1_000) -> None:
        self.failures: list[tuple[str, str | None]] = []
        self.locked_after = locked_after

    async def note_failure(self, source: str, prefix: str | None, policy: LockoutPolicy) -> int:
        """Count one failure; a minute's lock (in ms) once ``locked_after`` are counted."""
        self.failures.append((source, prefix))
        return 60_000 if len(self.failures) >= self.locked_after else 0


class MemoryClaimBatches:
    """``ClaimBatches``: claims request_ids in memory, one statement per call.

    ``statements`` lists the request_ids of each statement; ``fail`` makes
    statements fail (PostgreSQL went away); ``release``, when set, holds each
    statement until it is set.
    """

    def __init__(self) -> None:
        self.statements: list[list[str]] = []
        self.claimed: set[str] = set()
        self.fail = False
        self.release: asyncio.Event | None = None

    async def commit_new_claims(
        self, claims: Sequence[NewClaim], expired_before: datetime
    ) -> list[int | None] | None:
        """Each claim's row version (the statement's number), None where already claimed."""
        self.statements.append([c.key.request_id for c in claims])
        if self.release is not None:
            await self.release.wait()
        if self.fail:
            raise ConnectionResetError("PostgreSQL went away")
        version = len(self.statements)
        outcomes = [None if c.key.request_id in self.claimed else version for c in claims]
        self.claimed.update(c.key.request_id for c in claims)
        return outcomes


def _typed_as_the_ports(
    gate: MemoryRequestGate,
    channel: MemoryChannel,
    directory: MemoryKeyDirectory,
    throttle: MemoryGuessThrottle,
    claims: MemoryClaimBatches,
) -> tuple[RequestGate, Channel, KeyDirectory, GuessThrottle, ClaimBatches]:
    """Never called: mypy checks here that each adapter implements its Protocol."""
    return gate, channel, directory, throttle, claims
